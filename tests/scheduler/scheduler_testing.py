"""Helpers for the scheduler's tests: nodes no kubelet runs, pods with requests, waits that say why."""
from __future__ import annotations

from labserver.lab.supervise.procs import wait_for

PODS = "/api/v1/namespaces/default/pods"


def node(name: str, cpu="4", memory="8Gi", pods="110", ready="True", labels=None, taints=None,
         unschedulable=False) -> dict:
    """A Node object as a kubelet would register it (no kubelet runs it)."""
    body = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"unschedulable": unschedulable, **({"taints": taints} if taints else {})},
            "status": {"capacity": {"cpu": cpu, "memory": memory, "pods": pods},
                       "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                       "conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady",
                                       "message": "kubelet is posting ready status"}]}}
    return body


def add_nodes(api, *nodes: dict) -> None:
    for body in nodes:
        r = api.post("/api/v1/nodes", json=body)
        assert r.status_code == 201, r.text


def pod(name: str, cpu=None, memory=None, labels=None, **spec) -> dict:
    requests_ = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **({"labels": labels} if labels else {})},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": requests_} if requests_ else {}}], **spec}}


def create(api, *pods: dict) -> None:
    for body in pods:
        r = api.post(PODS, json=body)
        assert r.status_code == 201, r.text


def wait_bound(api, name: str, timeout: float = 20) -> str:
    """The node the pod got bound to (fails with the scheduler's last word on the pod)."""
    def bound():
        return api.get(f"{PODS}/{name}").json()["spec"].get("nodeName")
    try:
        return wait_for(bound, timeout, f"pod {name} bound", progress=print)
    except TimeoutError as e:
        raise AssertionError(f"{e}; events: {events_of(api, name)}") from None


def events_of(api, name: str) -> list[dict]:
    items = api.get("/api/v1/namespaces/default/events").json()["items"]
    return [e for e in items if e["involvedObject"]["name"] == name]


def wait_event(api, name: str, reason: str, timeout: float = 20) -> dict:
    def found():
        return next((e for e in events_of(api, name) if e["reason"] == reason), None)
    return wait_for(found, timeout, f"{reason} event on {name}", progress=print)
