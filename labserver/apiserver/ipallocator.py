"""ClusterIPs from --service-cluster-ip-range, one IPAddress object per address in etcd.

Upstream (pkg/registry/core/service/ipallocator, the MultiCIDRServiceAllocator
that is the default since 1.33) keeps no bitmap: an address is allocated by
creating a `networking.k8s.io/v1` IPAddress object named after it, whose
parentRef names the Service. etcd's create-if-absent makes that safe between
any number of API server processes and concurrent requests: two creates of
`/registry/ipaddresses/10.0.0.7` cannot both succeed. We go one step further
and write the Service and its IPAddress in ONE transaction, so a crash can
never leave one without the other; deleting a Service deletes both, again in
one transaction.

Choosing an address: the range's network and broadcast addresses are never
used; the first address belongs to the `kubernetes` Service; dynamic
allocation picks at random, preferring the upper part of the range and
leaving the lower "static band" to addresses users ask for by name
(KEP-3070: min(max(16, size/16), 256) addresses).
"""
from __future__ import annotations

import ipaddress
import random
import uuid

from .errors import APIError, internal, invalid
from .resources import lookup
from .storage import KeysTaken, Storage, dumps

IPADDRESSES = lookup("networking.k8s.io", "v1", "ipaddresses")
ATTEMPTS = 32      # addresses tried per round
ROUNDS = 4


class ServiceRange:
    """The usable addresses of one IPv4 service CIDR."""

    def __init__(self, cidr: str):
        self.cidr = cidr
        self.network = ipaddress.ip_network(cidr, strict=True)
        if self.network.version != 4 or self.network.num_addresses < 4:
            raise ValueError(f"{cidr}: the lab's service range must be an IPv4 CIDR of /30 or larger")
        self.first = int(self.network.network_address) + 1
        self.size = self.network.num_addresses - 2          # without network and broadcast
        self.static_band = min(max(16, self.size // 16), 256)

    def contains(self, ip: str) -> bool:
        address = ipaddress.IPv4Address(ip)
        return self.first <= int(address) < self.first + self.size

    def address(self, offset: int) -> str:
        return str(ipaddress.IPv4Address(self.first + offset))

    def kubernetes_service_ip(self) -> str:
        """The first usable address: the `kubernetes` Service's ClusterIP, as upstream."""
        return self.address(0)

    def candidates(self, taken: set[str]) -> list[str]:
        """Up to ATTEMPTS free addresses, in the order dynamic allocation tries them.

        From a random point of the upper band onwards (wrapping), then the same
        in the static band; never offset 0, the `kubernetes` Service's address.
        """
        out: list[str] = []
        for low, high in ((self.static_band, self.size), (1, min(self.static_band, self.size))):
            if high <= low:
                continue
            start = random.randrange(low, high)
            for i in range(high - low):
                ip = self.address(low + (start - low + i) % (high - low))
                if ip not in taken:
                    out.append(ip)
                    if len(out) == ATTEMPTS:
                        return out
        return out


def ip_address_object(ip: str, service: dict) -> dict:
    """The IPAddress that records `ip` as the Service's (upstream's labels and parentRef; the core group is "", omitted)."""
    from .strategies import now_rfc3339
    meta = service["metadata"]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IPAddress",
            "metadata": {"name": ip, "uid": str(uuid.uuid4()), "creationTimestamp": now_rfc3339(),
                         "labels": {"ipaddress.kubernetes.io/ip-family": "IPv4",
                                    "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"}},
            "spec": {"parentRef": {"resource": "services", "namespace": meta.get("namespace", ""),
                                   "name": meta["name"]}}}


def key(storage: Storage, ip: str) -> str:
    """The etcd key of the IPAddress object of `ip` (below the server's --etcd-prefix)."""
    return storage.key(IPADDRESSES, None, ip)


def taken_addresses(storage: Storage) -> set[str]:
    """The addresses that have an IPAddress object now (one range read)."""
    return {o["metadata"]["name"] for o in storage.list(IPADDRESSES, None).items}


def allocation_error(service: dict, ip: str, why: str) -> APIError:
    """Upstream's 422 for a requested clusterIP that cannot be had."""
    cause = {"reason": "FieldValueInvalid", "field": "spec.clusterIPs",
             "message": f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: {why}'}
    return invalid("Service", service["metadata"].get("name", ""), [cause])


def create_with_ip(storage: Storage, resource, namespace: str, name: str, service: dict, cidr: str,
                   requested: str | None, dry_run: bool = False, guard: tuple[str, int] | None = None) -> dict:
    """Store the Service and the IPAddress of its ClusterIP in one transaction.

    `requested`: the address the client asked for (422 when outside the range
    or taken), or None to pick a free one (500 "range is full" when none is left).
    `guard`: as for Storage.create (the namespace as admitted).
    """
    service_range = ServiceRange(cidr)
    spec = service["spec"]
    if requested is not None and not service_range.contains(requested):
        raise allocation_error(service, requested, f"the provided IP ({requested}) is not in the valid "
                               f"range. The range of valid IPs is {cidr}")
    for _ in range(ROUNDS):   # a round's candidates may all be taken meanwhile by concurrent creates
        taken = taken_addresses(storage)
        choices = [requested] if requested is not None else service_range.candidates(taken)
        if not choices:
            break
        for ip in choices:
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
            if dry_run and ip not in taken:
                return service
            if dry_run:
                continue
            try:
                record = {key(storage, ip): dumps(ip_address_object(ip, service))}
                return storage.create(resource, namespace, name, service, guard=guard, also=record)
            except KeysTaken:
                continue   # another request took this address first: try the next
        if requested is not None:
            raise allocation_error(service, requested, "provided IP is already allocated")
    raise internal("failed to allocate a serviceIP: range is full")


def owned_ip_key(storage: Storage, service: dict) -> tuple[str, ...]:
    """The IPAddress key a stored Service holds (none for headless and ExternalName services)."""
    ip = (service.get("spec") or {}).get("clusterIP")
    try:
        ipaddress.IPv4Address(ip)
    except (ValueError, TypeError):
        return ()
    return (key(storage, ip),)
