"""The node lifecycle controller (pkg/controller/nodelifecycle/, and its taint-eviction part).

Every --node-monitor-period it looks at each node's heartbeat: the
kube-node-lease Lease the kubelet renews, and the Ready condition's
lastHeartbeatTime it posts. A node whose heartbeat has not moved for
--node-monitor-grace-period gets its conditions set to Unknown
("Kubelet stopped posting node status."), its pods marked not Ready, and
the taints that say so: `node.kubernetes.io/unreachable` (Ready Unknown) or
`node.kubernetes.io/not-ready` (Ready False), NoSchedule (the scheduler
stops placing pods there) and NoExecute. A pod on a NoExecute-tainted node
is evicted (deleted) once its matching toleration's tolerationSeconds have
passed since the taint was added (every pod gets 300s by default from the
API server's DefaultTolerationSeconds; no matching toleration: at once).
When the kubelet posts Ready again the taints are removed.
"""
from __future__ import annotations

import calendar
import logging
import time

from ..client import APIStatusError
from .base import Controller, is_pod_active

log = logging.getLogger("controllers.nodelifecycle")

UNREACHABLE, NOT_READY = "node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"
UNKNOWN_REASON, UNKNOWN_MESSAGE = "NodeStatusUnknown", "Kubelet stopped posting node status."
NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _epoch(stamp: str | None) -> float:
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) if stamp else 0.0


def tolerates(toleration: dict, taint: dict) -> bool:
    """v1.Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    if toleration.get("operator") == "Exists":
        return True
    return bool(toleration.get("key")) and (toleration.get("value") or "") == (taint.get("value") or "")


def eviction_delay(pod: dict, taints: list[dict]) -> float | None:
    """Seconds after the taints' timeAdded a pod may stay: 0 untolerated, None forever (taint_eviction.go)."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    delays = []
    for taint in taints:
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return 0.0
        seconds = [t["tolerationSeconds"] for t in matching if t.get("tolerationSeconds") is not None]
        if seconds:
            delays.append(_epoch(taint.get("timeAdded")) + max(min(seconds), 0))
    return min(delays) if delays else None


def ready_status(node: dict) -> str:
    return next((c.get("status", "Unknown") for c in (node.get("status") or {}).get("conditions") or []
                 if c.get("type") == "Ready"), "Unknown")


class NodeLifecycleController(Controller):
    name = "nodelifecycle"

    def __init__(self, client, node_monitor_grace_period: float = 40.0, node_monitor_period: float = 5.0,
                 **_options):
        super().__init__(client)
        self.grace, self.period = node_monitor_grace_period, node_monitor_period
        self.nodes = self.informer("/api/v1/nodes", lambda kind, node: self.queue.add("monitor"))
        self.leases = self.informer("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")
        self.pods = self.informer("/api/v1/pods")
        self._heartbeats: dict[str, tuple[tuple, float]] = {}   # node -> (last heartbeat seen, when we saw it move)

    def on_synced(self) -> None:
        self.queue.add("monitor")

    def sync(self, key: str) -> float:
        """One monitor pass over every node; the next one after --node-monitor-period (or sooner)."""
        wake = self.period
        for node in self.nodes.items():
            due = self._monitor(node)
            if due is not None:
                wake = min(wake, max(due, 0.1))
        return wake

    def _heartbeat(self, node: dict) -> tuple:
        """What moves while the kubelet lives: its Lease's renewTime and its Ready condition's heartbeat."""
        name = node["metadata"]["name"]
        lease = self.leases.store.get(f"kube-node-lease/{name}") or {}
        ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {})
        return ((lease.get("spec") or {}).get("renewTime"), (lease.get("metadata") or {}).get("resourceVersion"),
                ready.get("lastHeartbeatTime"), ready.get("status") if ready.get("status") != "Unknown" else None)

    def _monitor(self, node: dict) -> float | None:
        name, now = node["metadata"]["name"], time.monotonic()
        beat = self._heartbeat(node)
        seen = self._heartbeats.get(name)
        if seen is None or seen[0] != beat:
            seen = self._heartbeats[name] = (beat, now)
        if now - seen[1] > self.grace and ready_status(node) != "Unknown":
            log.info("node %s: no heartbeat for %.0fs: marking its status Unknown", name, now - seen[1])
            node = self._mark_unknown(name)
        self._set_taints(node)
        node = self.nodes.store.get(name, node)
        return self._evict(node)

    def _mark_unknown(self, name: str) -> dict:
        def unknown(node: dict) -> None:
            stamp = _now()
            conditions = {c.get("type"): c for c in node.setdefault("status", {}).get("conditions") or []}
            for kind in NODE_CONDITIONS:
                cond = conditions.setdefault(kind, {"type": kind, "lastHeartbeatTime": None})
                if cond.get("status") != "Unknown":
                    cond.update(status="Unknown", reason=UNKNOWN_REASON, message=UNKNOWN_MESSAGE,
                                lastTransitionTime=stamp)
            node["status"]["conditions"] = list(conditions.values())
        node = self.client.update(f"/api/v1/nodes/{name}/status", unknown)
        self.nodes.remember(node)
        for pod in self.pods.items():   # MarkPodsNotReady
            if (pod.get("spec") or {}).get("nodeName") == name and is_pod_active(pod):
                self._pod_not_ready(pod)
        return node

    def _pod_not_ready(self, pod: dict) -> None:
        meta = pod["metadata"]
        conditions = [dict(c, status="False", lastTransitionTime=_now()) if c.get("type") == "Ready" and
                      c.get("status") == "True" else c for c in (pod.get("status") or {}).get("conditions") or []]
        try:
            self.client.patch(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                              {"status": {"conditions": conditions}}, "merge")
        except APIStatusError as e:
            if e.code != 404:
                raise

    def _set_taints(self, node: dict) -> None:
        """unreachable for Ready Unknown, not-ready for Ready False (NoSchedule and NoExecute); none when Ready."""
        status = ready_status(node)
        key = {"Unknown": UNREACHABLE, "False": NOT_READY}.get(status)
        current = (node.get("spec") or {}).get("taints") or []
        ours = [t for t in current if t.get("key") in (UNREACHABLE, NOT_READY)]
        if key is None and not ours:
            return
        wanted = [{"key": key, "effect": "NoSchedule"}, {"key": key, "effect": "NoExecute"}] if key else []
        if sorted((t["key"], t["effect"]) for t in ours) == sorted((t["key"], t["effect"]) for t in wanted):
            return

        def retaint(fresh: dict) -> None:
            stamp = _now()
            others = [t for t in (fresh.get("spec") or {}).get("taints") or []
                      if t.get("key") not in (UNREACHABLE, NOT_READY)]
            added = [dict(t, timeAdded=stamp) if t["effect"] == "NoExecute" else t for t in wanted]
            fresh.setdefault("spec", {})["taints"] = others + added
            if not fresh["spec"]["taints"]:
                del fresh["spec"]["taints"]

        name = node["metadata"]["name"]
        log.info("node %s: Ready=%s: taints %s", name, status, key or "removed")
        self.nodes.remember(self.client.update(f"/api/v1/nodes/{name}", retaint))

    def _evict(self, node: dict) -> float | None:
        """Delete the pods whose tolerations of the node's NoExecute taints have run out; seconds to the next."""
        taints = [t for t in (node.get("spec") or {}).get("taints") or []
                  if t.get("effect") == "NoExecute" and t.get("key") in (UNREACHABLE, NOT_READY)]
        if not taints:
            return None
        name, now, soonest = node["metadata"]["name"], time.time(), None
        for pod in self.pods.items():
            if (pod.get("spec") or {}).get("nodeName") != name or not is_pod_active(pod):
                continue
            at = eviction_delay(pod, taints)
            if at is None:
                continue
            if at > now:
                soonest = at - now if soonest is None else min(soonest, at - now)
                continue
            meta = pod["metadata"]
            log.info("node %s: evicting pod %s/%s", name, meta["namespace"], meta["name"])
            self.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}")
        return soonest
