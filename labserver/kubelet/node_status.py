"""Register this machine as a Node and keep telling the API server it is alive.

Like pkg/kubelet/kubelet_node_status.go and nodelease: the kubelet POSTs its
Node (labels, addresses, capacity, nodeInfo, conditions) with a backoff of
100 ms doubling to 7 s until the API server answers; when the Node exists
already (a kubelet restart) it updates it instead, so registering again is
harmless. Afterwards two heartbeats run:

  - a coordination.k8s.io/v1 Lease `kube-node-lease/<node>` renewed every
    10 s (cheap: the node controller reads liveness from it);
  - the Node's status, written when it changed and at least every 5 minutes.
"""
from __future__ import annotations

import logging
import os
import platform
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from . import timefmt
from .client import APIClient, APIStatusError, APIUnavailable

log = logging.getLogger("kubelet.node")

KUBELET_VERSION = "v1.37.0-labserver"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
MAX_PODS = 110


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def os_image() -> str:
    """PRETTY_NAME from /etc/os-release, e.g. 'Debian GNU/Linux 12 (bookworm)'."""
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return f"{platform.system()} {platform.release()}"


def memory_kib() -> int:
    """MemTotal from /proc/meminfo, in KiB."""
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1024


def go_arch() -> str:
    """The machine as GOARCH names it (amd64, arm64, ...)."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x"}.get(machine, machine)


def node_info(runtime_version: str) -> dict:
    """All ten NodeSystemInfo fields (the Python client refuses a node missing one)."""
    machine_id = _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id")
    return {
        "machineID": machine_id,
        "systemUUID": _read("/sys/class/dmi/id/product_uuid").lower() or machine_id,
        "bootID": _read("/proc/sys/kernel/random/boot_id"),
        "kernelVersion": platform.release(),
        "osImage": os_image(),
        "containerRuntimeVersion": runtime_version,
        "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": KUBELET_VERSION,
        "operatingSystem": platform.system().lower(),
        "architecture": go_arch(),
    }


def capacity(root_dir: str) -> dict:
    """cpu, memory, pods (and ephemeral-storage of the root dir's disk), as quantities."""
    result = {"cpu": str(os.cpu_count() or 1), "memory": f"{memory_kib()}Ki", "pods": str(MAX_PODS)}
    try:
        result["ephemeral-storage"] = f"{shutil.disk_usage(root_dir).total // 1024}Ki"
    except OSError:
        pass
    return result


@dataclass
class NodeConfig:
    name: str
    node_ip: str = "127.0.0.1"
    port: int = 10250
    root_dir: str = "/tmp"
    pod_cidr: str | None = None
    lease_interval: float = 10.0          # renew the Lease this often
    status_interval: float = 10.0         # look for status changes this often
    status_max_age: float = 300.0         # write status at least this often
    register_backoff: tuple = (0.1, 7.0)  # first delay, cap


def default_node_name() -> str:
    return socket.gethostname().lower()


def node_labels(cfg: NodeConfig) -> dict:
    return {"kubernetes.io/hostname": cfg.name, "kubernetes.io/os": platform.system().lower(),
            "kubernetes.io/arch": go_arch()}


CONDITIONS = (
    # type, status, reason, message
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def desired_status(cfg: NodeConfig, runtime_version: str, runtime_error: str | None = None) -> dict:
    """The node status without heartbeat times (what 'changed' is judged on).

    `runtime_error` (the container runtime does not answer) makes the node NotReady.
    """
    cap = capacity(cfg.root_dir)
    conditions = [{"type": t, "status": s, "reason": r, "message": m} for t, s, r, m in CONDITIONS]
    if runtime_error:
        conditions[-1].update(status="False", reason="KubeletNotReady",
                              message=f"container runtime is down: {runtime_error}")
    return {
        "addresses": [{"type": "InternalIP", "address": cfg.node_ip},
                      {"type": "Hostname", "address": cfg.name}],
        "capacity": cap,
        "allocatable": dict(cap),
        "daemonEndpoints": {"kubeletEndpoint": {"Port": cfg.port}},
        "nodeInfo": node_info(runtime_version),
        "conditions": conditions,
    }


def stamp_conditions(status: dict, previous: list | None) -> dict:
    """Add lastHeartbeatTime (now) and lastTransitionTime (kept unless the status flipped)."""
    now = timefmt.rfc3339()
    before = {c.get("type"): c for c in previous or []}
    for cond in status["conditions"]:
        old = before.get(cond["type"])
        cond["lastHeartbeatTime"] = now
        same = old and old.get("status") == cond["status"] and old.get("lastTransitionTime")
        cond["lastTransitionTime"] = old["lastTransitionTime"] if same else now
    return status


def _comparable(status: dict) -> dict:
    """A status minus heartbeat times and volatile figures, for change detection."""
    conds = [{k: v for k, v in c.items() if k not in ("lastHeartbeatTime", "lastTransitionTime")}
             for c in status.get("conditions", [])]
    return {"addresses": status.get("addresses"), "nodeInfo": status.get("nodeInfo"),
            "daemonEndpoints": status.get("daemonEndpoints"), "conditions": conds,
            "capacity": {k: v for k, v in (status.get("capacity") or {}).items() if k != "ephemeral-storage"}}


class NodeStatusManager:
    """Registers the Node, then renews its Lease and status from a background thread."""

    def __init__(self, client: APIClient, cfg: NodeConfig, runtime_version: str,
                 runtime_check: Callable[[], str] | None = None,
                 on_event: Callable[[str, str, str], None] | None = None):
        """runtime_check() returns the runtime's version, raising when the runtime does not answer;
        on_event(type, reason, message) records an event on the node."""
        self.client, self.cfg, self.runtime_version = client, cfg, runtime_version
        self.runtime_check, self.on_event = runtime_check, on_event
        self.runtime_error: str | None = None
        self.node_uid: str | None = None
        self._last_status: dict | None = None
        self._last_status_write = 0.0
        self._lease: dict | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.registered = threading.Event()

    @property
    def node_path(self) -> str:
        return f"/api/v1/nodes/{self.cfg.name}"

    @property
    def lease_path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{self.cfg.name}"

    # -- registration -------------------------------------------------------
    def register(self) -> dict:
        """Register (or re-register) the node, retrying with backoff until it works or stop()."""
        delay, cap = self.cfg.register_backoff
        while True:
            try:
                node = self._register_once()
                self.registered.set()
                return node
            except (APIUnavailable, APIStatusError) as e:
                log.warning("registering node %s failed: %s; retrying in %.1fs", self.cfg.name, e, delay)
            if self._stop.wait(delay):
                raise InterruptedError("stopped before the node was registered")
            delay = min(delay * 2, cap)

    def _register_once(self) -> dict:
        status = stamp_conditions(desired_status(self.cfg, self.runtime_version), None)
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.cfg.name, "labels": node_labels(self.cfg),
                             "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
                "spec": {"podCIDR": self.cfg.pod_cidr, "podCIDRs": [self.cfg.pod_cidr]} if self.cfg.pod_cidr else {},
                "status": status}
        try:
            created = self.client.post("/api/v1/nodes", node)
            log.info("registered node %s", self.cfg.name)
            self._report_transitions({}, status["conditions"])
        except APIStatusError as e:
            if e.code != 409:
                raise
            log.info("node %s exists already; updating it", self.cfg.name)

            def merge_labels(existing: dict) -> None:
                existing.setdefault("metadata", {}).setdefault("labels", {}).update(node_labels(self.cfg))
            created = self.client.update(self.node_path, merge_labels)
        self.node_uid = created.get("metadata", {}).get("uid")
        # The Lease first: whoever sees the node Ready finds its heartbeat already there.
        self.renew_lease()
        # The main endpoint ignores status (as upstream): write it through nodes/status.
        self.write_status(force=True)
        return created

    # -- heartbeats ---------------------------------------------------------
    def write_status(self, force: bool = False) -> bool:
        """Write the node status if it changed or is older than status_max_age; True if written."""
        if self.runtime_check is not None:
            try:
                self.runtime_version, self.runtime_error = self.runtime_check(), None
            except Exception as e:
                self.runtime_error = str(e) or type(e).__name__
        wanted = desired_status(self.cfg, self.runtime_version, self.runtime_error)
        stale = time.monotonic() - self._last_status_write >= self.cfg.status_max_age
        if not force and not stale and self._last_status == _comparable(wanted):
            return False

        before: dict[str, str] = {}

        def apply(node: dict) -> None:
            old = node.get("status") or {}
            before.clear()
            before.update({c.get("type"): c.get("status") for c in old.get("conditions") or []})
            node["status"] = {**old, **stamp_conditions(dict(wanted), old.get("conditions"))}
        self.client.update(self.node_path + "/status", apply)
        self._report_transitions(before, wanted["conditions"])
        self._last_status = _comparable(wanted)
        self._last_status_write = time.monotonic()
        return True

    def _report_transitions(self, before: dict[str, str], conditions: list[dict]) -> None:
        """Node events as the kubelet records them: `Node <name> status is now: NodeReady`, ..."""
        if self.on_event is None:
            return
        for cond in conditions:
            if before.get(cond["type"]) == cond["status"]:
                continue
            if cond["type"] == "Ready":
                reason = "NodeReady" if cond["status"] == "True" else "NodeNotReady"
            else:
                reason = f"Node{cond['reason'].removeprefix('Kubelet')}"  # NodeHasSufficientMemory, ...
            self.on_event("Normal", reason, f"Node {self.cfg.name} status is now: {reason}")

    def renew_lease(self) -> dict:
        """Create or renew the node's Lease (renewTime = now, MicroTime format)."""
        now = timefmt.micro()
        if self._lease is not None:
            lease = dict(self._lease)
            lease["spec"] = dict(lease.get("spec") or {}, renewTime=now, holderIdentity=self.cfg.name,
                                 leaseDurationSeconds=LEASE_DURATION_SECONDS)
            try:
                self._lease = self.client.put(self.lease_path, lease)
                return self._lease
            except APIStatusError as e:
                if e.code not in (404, 409):
                    raise
                self._lease = None  # re-read below
        try:
            lease = self.client.get(self.lease_path)
            lease.setdefault("spec", {}).update(renewTime=now, holderIdentity=self.cfg.name,
                                                leaseDurationSeconds=LEASE_DURATION_SECONDS)
            self._lease = self.client.put(self.lease_path, lease)
        except APIStatusError as e:
            if e.code != 404:
                raise
            meta = {"name": self.cfg.name, "namespace": LEASE_NAMESPACE}
            if self.node_uid:
                meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.cfg.name,
                                            "uid": self.node_uid}]
            self._lease = self.client.post(
                f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases",
                {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                 "spec": {"holderIdentity": self.cfg.name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                          "renewTime": now, "acquireTime": now}})
        return self._lease

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="node-heartbeat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_lease = time.monotonic() + self.cfg.lease_interval
        next_status = time.monotonic() + self.cfg.status_interval
        while not self._stop.wait(max(0.0, min(next_lease, next_status) - time.monotonic())):
            now = time.monotonic()
            try:
                if now >= next_lease:
                    next_lease = now + self.cfg.lease_interval
                    self.renew_lease()
                if now >= next_status:
                    next_status = now + self.cfg.status_interval
                    self.write_status()
            except APIStatusError as e:
                if e.code == 404:  # the Node was deleted under us: register it again
                    log.warning("node %s is gone from the API server; registering again", self.cfg.name)
                    self._lease = None
                    self._safe(self._register_once)
                else:
                    log.warning("node heartbeat failed: %s", e)
            except Exception as e:  # API server away: keep trying, pods keep running
                log.warning("node heartbeat failed: %s", e)

    @staticmethod
    def _safe(fn) -> None:
        try:
            fn()
        except Exception as e:
            log.warning("%s", e)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
