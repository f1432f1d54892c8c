"""What the scheduler knows: each node, and the pods bound (or about to be bound) to it.

Filled from the node and pod informers. For every node a NodeInfo keeps the
sum of its pods' requests and a count of its pods by "spread key" (their
controller, or their labels), so a scheduling cycle reads them without
walking every pod. When the scheduler picks a node it *assumes* the pod there
at once (upstream's Reserve/assume), before the Binding is even sent: the
next cycle already sees the node a little fuller. The watch event of the bound
pod confirms the assumption; a failed Binding forgets it.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

from .resources import Resources, node_allocatable, pod_requests

log = logging.getLogger("scheduler.cache")


def pod_key(pod: dict) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name')}"


def spread_key(pod: dict) -> tuple | None:
    """Pods that should spread apart: the same controller, else the same labels in a namespace."""
    meta = pod.get("metadata") or {}
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner:
        return ("owner", owner.get("uid"))
    if meta.get("labels"):
        return ("labels", meta.get("namespace"), tuple(sorted(meta["labels"].items())))
    return None


def is_terminal(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


@dataclass
class NodeInfo:
    """One node and the pods on it, with their requests summed."""

    name: str
    node: dict | None = None
    pods: dict = field(default_factory=dict)           # uid -> pod
    requested: Resources = field(default_factory=Resources)
    non_zero_requested: Resources = field(default_factory=Resources)
    spread: Counter = field(default_factory=Counter)
    allocatable: Resources = field(default_factory=Resources)
    max_pods: int = 0

    def set_node(self, node: dict | None) -> None:
        """The node's latest object, its allocatable resources parsed once."""
        self.node = node
        if node is not None:
            try:
                self.allocatable, self.max_pods = node_allocatable(node)
            except ValueError as e:       # nothing fits a node whose capacity cannot be read
                log.warning("node %s: allocatable unreadable (%s): no pod fits it", self.name, e)
                self.allocatable, self.max_pods = Resources(), 0

    def add_pod(self, pod: dict) -> None:
        self.pods[pod["metadata"]["uid"]] = pod
        self.requested = self.requested + _requests(pod)
        self.non_zero_requested = self.non_zero_requested + _requests(pod, non_zero=True)
        self.spread[spread_key(pod)] += 1

    def remove_pod(self, uid: str) -> None:
        pod = self.pods.pop(uid, None)
        if pod is not None:
            self.requested = self.requested - _requests(pod)
            self.non_zero_requested = self.non_zero_requested - _requests(pod, non_zero=True)
            self.spread[spread_key(pod)] -= 1


def _requests(pod: dict, non_zero: bool = False) -> Resources:
    """A bound pod's requests; one with an unreadable quantity counts as requesting nothing."""
    try:
        return pod_requests(pod, non_zero)
    except ValueError:
        return Resources()


class Cache:
    """Nodes and bound pods, safe to use from the informer threads and the scheduling loop."""

    def __init__(self):
        self.lock = threading.RLock()
        self._nodes: dict[str, NodeInfo] = {}
        self._pod_node: dict[str, str] = {}     # uid -> node name
        self._assumed: set[str] = set()

    # -- nodes --------------------------------------------------------------------------------
    def set_nodes(self, nodes: list[dict]) -> None:
        with self.lock:
            names = {n["metadata"]["name"] for n in nodes}
            for name in list(self._nodes):
                if name not in names:
                    self._nodes[name].set_node(None)
            for node in nodes:
                self.update_node(node)

    def update_node(self, node: dict) -> None:
        with self.lock:
            name = node["metadata"]["name"]
            self._nodes.setdefault(name, NodeInfo(name)).set_node(node)

    def remove_node(self, node: dict) -> None:
        with self.lock:
            info = self._nodes.get(node["metadata"]["name"])
            if info is not None:
                info.set_node(None)

    def node_infos(self) -> list[NodeInfo]:
        """The nodes a cycle considers: every node the API server has (call with the lock held)."""
        return [info for info in self._nodes.values() if info.node is not None]

    # -- pods ---------------------------------------------------------------------------------
    def set_pods(self, pods: list[dict]) -> None:
        """After a (re)list: exactly these pods are bound; assumed ones stay until confirmed."""
        with self.lock:
            listed = {p["metadata"]["uid"] for p in pods if (p.get("spec") or {}).get("nodeName")}
            for uid in list(self._pod_node):
                if uid not in listed and uid not in self._assumed:
                    self._remove(uid)
            for pod in pods:
                self.update_pod(pod)

    def update_pod(self, pod: dict) -> None:
        """A pod's latest state: counted on its node while it is bound and not finished."""
        with self.lock:
            uid, node = pod["metadata"]["uid"], (pod.get("spec") or {}).get("nodeName")
            if not node:
                return
            self._assumed.discard(uid)       # the API server confirms the binding
            self._remove(uid)
            if not is_terminal(pod):
                self._place(pod, node)

    def remove_pod(self, pod: dict) -> None:
        with self.lock:
            uid = pod["metadata"]["uid"]
            self._assumed.discard(uid)
            self._remove(uid)

    def assume(self, pod: dict, node: str) -> None:
        """Count the pod on `node` now, before its Binding is written (Reserve)."""
        with self.lock:
            assumed = {**pod, "spec": {**pod["spec"], "nodeName": node}}
            self._assumed.add(pod["metadata"]["uid"])
            self._place(assumed, node)

    def forget(self, pod: dict) -> None:
        """The Binding failed: the pod is not on that node after all."""
        with self.lock:
            uid = pod["metadata"]["uid"]
            if uid in self._assumed:
                self._assumed.discard(uid)
                self._remove(uid)

    def _place(self, pod: dict, node: str) -> None:
        self._nodes.setdefault(node, NodeInfo(node)).add_pod(pod)
        self._pod_node[pod["metadata"]["uid"]] = node

    def _remove(self, uid: str) -> None:
        node = self._pod_node.pop(uid, None)
        if node is not None and node in self._nodes:
            self._nodes[node].remove_pod(uid)
