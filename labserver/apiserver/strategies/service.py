"""Services: defaulting, validation and a ClusterIP for each (pkg/registry/core/service/).

The API object only: nothing here routes traffic (that is kube-proxy's job,
and the lab has none). A Service gets the defaults of the v1 scheme (type
ClusterIP, protocol TCP, targetPort = port, sessionAffinity None,
internalTrafficPolicy Cluster), a ClusterIP from --service-cluster-ip-range
(ipallocator.py: stored with the Service in one etcd transaction), and keeps
that address for its whole life: updates that leave it out keep it, updates
that change it are refused, a delete releases it. Headless (`clusterIP: None`)
and ExternalName services get no address.

Not served (refused with a clear 422): types NodePort and LoadBalancer (they
need node ports and a load balancer the lab does not have), IPv6 and dual stack.
"""
from __future__ import annotations

import ipaddress

from flask import current_app

from .. import ipallocator
from ..errors import APIError
from . import Strategy
from . import validation as v

TYPES = ("ClusterIP", "ExternalName")
PROTOCOLS = ("TCP", "UDP", "SCTP")
AFFINITIES = ("None", "ClientIP")
IP_EXAMPLE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def needs_cluster_ip(spec: dict) -> bool:
    """Whether the Service gets an address from the range (not headless, not ExternalName)."""
    return spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None"


class ServiceStrategy(Strategy):
    has_status = True
    return_deleted_object = True   # service/storage/storage.go

    def default(self, svc: dict) -> None:
        spec = svc.get("spec")
        if not isinstance(spec, dict):
            return
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["sessionAffinity"] == "ClientIP":
            spec.setdefault("sessionAffinityConfig", {"clientIP": {"timeoutSeconds": 10800}})
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if port.get("targetPort") in (None, 0, ""):
                    port["targetPort"] = port.get("port")
        if spec["type"] != "ExternalName":
            spec.setdefault("internalTrafficPolicy", "Cluster")
            if not spec.get("clusterIP") and spec.get("clusterIPs"):
                spec["clusterIP"] = spec["clusterIPs"][0]
            if spec.get("clusterIP"):
                spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")

    def prepare_for_create(self, svc: dict) -> None:
        svc["status"] = {"loadBalancer": {}}

    def prepare_for_update(self, new: dict, old: dict) -> None:
        """Keep the status; an update that leaves the ClusterIP out keeps the allocated one."""
        super().prepare_for_update(new, old)
        spec, old_spec = new.get("spec"), old.get("spec") or {}
        if isinstance(spec, dict) and not spec.get("clusterIP") and needs_cluster_ip(spec) \
                and needs_cluster_ip(old_spec):
            for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if field in old_spec:
                    spec[field] = old_spec[field]

    def validate(self, svc: dict) -> list[dict]:
        spec = v.expect(svc.get("spec"), dict, "Service", "Service.spec")
        if spec is None:
            return [v.required("spec.ports")]
        causes = []
        kind = spec.get("type")
        if kind not in TYPES:
            causes.append(v.not_supported("spec.type", kind, TYPES))
        if spec.get("sessionAffinity") not in AFFINITIES:
            causes.append(v.not_supported("spec.sessionAffinity", spec.get("sessionAffinity"), AFFINITIES))
        ports = v.expect(spec.get("ports"), list, "Service", "Service.spec.ports") or []
        if not ports and kind != "ExternalName":
            causes.append(v.required("spec.ports"))
        causes += _port_causes(ports)
        causes += v.label_causes(v.expect(spec.get("selector"), dict, "Service", "Service.spec.selector"),
                                 "spec.selector")
        ip = spec.get("clusterIP")
        if kind == "ExternalName":
            if not spec.get("externalName"):
                causes.append(v.required("spec.externalName"))
            if spec.get("clusterIP") or spec.get("clusterIPs"):
                causes.append(v.forbidden("spec.clusterIP", "may not be set for ExternalName services"))
        elif ip not in (None, "", "None"):
            try:
                ipaddress.IPv4Address(ip)
            except (ValueError, TypeError):
                causes.append(v.invalid("spec.clusterIPs[0]", ip, IP_EXAMPLE))
        for i, family in enumerate(spec.get("ipFamilies") or []):
            if family != "IPv4":
                causes.append(v.invalid(f"spec.ipFamilies[{i}]", family, "not configured on this cluster"))
        return causes

    def validate_update(self, new: dict, old: dict) -> list[dict]:
        causes = self.validate(new)
        spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
        if needs_cluster_ip(spec) != needs_cluster_ip(old_spec):
            causes.append(v.forbidden("spec.type", "labserver does not allocate or release a ClusterIP on "
                                      "update (to or from ExternalName or headless): delete the Service and "
                                      "create it again"))
        elif needs_cluster_ip(spec) and spec.get("clusterIP") != old_spec.get("clusterIP"):
            causes.append(v.invalid("spec.clusterIPs[0]", spec.get("clusterIP"), "may not change once set"))
        return causes

    def create(self, storage, namespace, name, obj, dry_run=False, guard=None) -> dict:
        """Store the Service with its ClusterIP's IPAddress, in one transaction."""
        spec = obj["spec"]
        if not needs_cluster_ip(spec):
            return super().create(storage, namespace, name, obj, dry_run, guard)
        return ipallocator.create_with_ip(storage, self.resource, namespace, name, obj,
                                          current_app.config["SERVICE_CLUSTER_IP_RANGE"],
                                          spec.get("clusterIP") or None, dry_run, guard)

    def delete(self, storage, namespace, name, obj, rv) -> None:
        """Remove the Service and release its ClusterIP, in one transaction."""
        storage.delete(self.resource, namespace, name, rv, also=ipallocator.owned_ip_key(storage, obj))


def _port_causes(ports: list) -> list[dict]:
    causes, names, seen = [], set(), set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            causes.append(v.invalid(path, port, "must be an object"))
            continue
        name = port.get("name")
        if len(ports) > 1 and not name:
            causes.append(v.required(f"{path}.name"))
        elif name:
            if not v.is_dns1123_label(name):
                causes.append(v.invalid(f"{path}.name", name, v.LABEL_MSG))
            elif name in names:
                causes.append(v.duplicate(f"{path}.name", name))
            names.add(name)
        number = port.get("port")
        if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 65536:
            causes.append(v.invalid(f"{path}.port", number, "must be between 1 and 65535, inclusive"))
        if port.get("protocol") not in PROTOCOLS:
            causes.append(v.not_supported(f"{path}.protocol", port.get("protocol"), PROTOCOLS))
        target = port.get("targetPort")
        if isinstance(target, int) and not isinstance(target, bool):
            if not 0 < target < 65536:
                causes.append(v.invalid(f"{path}.targetPort", target, "must be between 1 and 65535, inclusive"))
        elif not (isinstance(target, str) and v.is_dns1123_label(target) and len(target) <= 15):
            causes.append(v.invalid(f"{path}.targetPort", target, "must contain only alpha-numeric characters "
                                    "(a-z, 0-9), and hyphens (-)"))
        if (number, port.get("protocol")) in seen:
            causes.append(v.duplicate(path, f"{number}/{port.get('protocol')}"))
        seen.add((number, port.get("protocol")))
    return causes


def kubernetes_service(cidr: str, target_port: int) -> dict:
    """The `kubernetes` Service in `default`: the API server itself, at the range's first address, port 443."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": ipallocator.ServiceRange(cidr).kubernetes_service_ip(),
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": target_port}],
                     "sessionAffinity": "None"}}


def bootstrap_kubernetes_service(storage, cidr: str, target_port: int) -> str | None:
    """Create the `kubernetes` Service if it is missing (idempotent, safe from several servers).

    Returns a message when it cannot be created because its address is taken, None otherwise.
    """
    from ..resources import lookup
    from . import strategy_for
    resource = lookup("", "v1", "services")
    svc = kubernetes_service(cidr, target_port)
    strategy_for(resource).before_create(svc)
    try:
        ipallocator.create_with_ip(storage, resource, "default", "kubernetes", svc, cidr, svc["spec"]["clusterIP"])
    except APIError as e:
        if e.reason == "AlreadyExists":
            return None
        if e.reason == "Invalid":
            return f"the kubernetes service was not created: {e.message}"
        raise
    return None
