"""Where the kubelet's pods come from: list + watch of the pods bound to this node.

Like pkg/kubelet/config/apiserver.go (a reflector on
`/api/v1/pods?fieldSelector=spec.nodeName=<node>`): list once, hand the whole
set over, then watch from the list's resourceVersion and hand over each
ADDED / MODIFIED / DELETED. When a watch ends it resumes from the last
resourceVersion seen; a 410 Expired (etcd compacted past it) means relist;
when the API server goes away it reconnects with a growing back-off (all
of that is the shared labserver.client.Informer; this adds the node). The
pods themselves keep running all along: nothing here touches the runtime.
"""
from __future__ import annotations

from typing import Callable

from ..client import Informer
from .client import APIClient


_META_FIELDS = ("labels", "annotations", "ownerReferences", "deletionTimestamp", "deletionGracePeriodSeconds")


def needs_sync(old: dict | None, new: dict) -> bool:
    """Whether an update asks the kubelet to act (config.go podsDifferSemantically).

    Only spec and a few metadata fields count: a change of status alone (most
    often the kubelet's own status write coming back through the watch) is
    recorded but triggers no sync.
    """
    if old is None:
        return True
    if old.get("spec") != new.get("spec"):
        return True
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    return any(om.get(f) != nm.get(f) for f in _META_FIELDS)


class PodSource(Informer):
    """The shared informer on `spec.nodeName=<node>`: on_set(pods) after each list, on_event(type, pod) after."""

    def __init__(self, client: APIClient, node_name: str,
                 on_set: Callable[[list[dict]], None], on_event: Callable[[str, dict], None],
                 backoff: tuple = (0.1, 5.0), watch_timeout: int = 300):
        self.node_name = node_name
        super().__init__(client, "/api/v1/pods", on_list=lambda pods: on_set([p for p in pods if self._mine(p)]),
                         on_event=self._relay(on_event), params={"fieldSelector": self.selector},
                         backoff=backoff, watch_timeout=watch_timeout)

    @property
    def selector(self) -> str:
        return f"spec.nodeName={self.node_name}"

    def _mine(self, pod: dict) -> bool:
        return (pod.get("spec") or {}).get("nodeName") == self.node_name

    def _relay(self, on_event: Callable[[str, dict], None]) -> Callable[[str, dict], None]:
        def relay(kind: str, pod: dict) -> None:
            if kind in ("ADDED", "MODIFIED") and not self._mine(pod):
                kind = "DELETED"  # moved off this node (cannot happen upstream, harmless here)
            on_event(kind, pod)
        return relay
