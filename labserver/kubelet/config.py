"""Where the kubelet's pods come from: list + watch of the pods bound to this node.

Like pkg/kubelet/config/apiserver.go (a reflector on
`/api/v1/pods?fieldSelector=spec.nodeName=<node>`): list once, hand the whole
set over, then watch from the list's resourceVersion and hand over each
ADDED / MODIFIED / DELETED. When a watch ends it resumes from the last
resourceVersion seen; a 410 Expired (etcd compacted past it) means relist;
when the API server goes away it reconnects with a growing back-off. The
pods themselves keep running all along: nothing here touches the runtime.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import requests

from .client import APIClient, APIStatusError, APIUnavailable

log = logging.getLogger("kubelet.config")


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


class PodSource:
    """Runs the list/watch loop in a thread; calls on_set(pods) after each list and on_event(type, pod)."""

    def __init__(self, client: APIClient, node_name: str,
                 on_set: Callable[[list[dict]], None], on_event: Callable[[str, dict], None],
                 backoff: tuple = (0.1, 5.0), watch_timeout: int = 300):
        self.client, self.node_name = client, node_name
        self.on_set, self.on_event = on_set, on_event
        self.backoff, self.watch_timeout = backoff, watch_timeout
        self.resource_version: str | None = None
        self.synced = threading.Event()      # the first list was delivered
        self.lists = 0                       # how many times we listed (tests check relists)
        self._stop = threading.Event()
        self._away = False                   # the last attempt failed: say so when it works again
        self._thread = threading.Thread(target=self._loop, name="pod-source", daemon=True)

    @property
    def selector(self) -> str:
        return f"spec.nodeName={self.node_name}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                if self._watch():
                    delay = self.backoff[0]
                    continue
            except APIStatusError as e:
                if e.code == 410:
                    log.info("watch expired (%s); relisting", e.message)
                    self.resource_version = None
                    continue
                log.warning("pod list/watch refused: %s", e)
            except (APIUnavailable, requests.RequestException, OSError) as e:
                log.warning("pod list/watch: API server away (%s); retrying in %.1fs", e, delay)
                self._away = True
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.backoff[1])

    def _list(self) -> None:
        pods = self.client.get("/api/v1/pods", {"fieldSelector": self.selector})
        self.resource_version = (pods.get("metadata") or {}).get("resourceVersion") or "0"
        self.lists += 1
        self._back()
        self.on_set([p for p in pods.get("items") or [] if self._mine(p)])
        self.synced.set()

    def _back(self) -> None:
        if self._away:
            log.info("API server answers again; pods from resourceVersion %s on", self.resource_version)
            self._away = False

    def _mine(self, pod: dict) -> bool:
        return (pod.get("spec") or {}).get("nodeName") == self.node_name

    def _watch(self) -> bool:
        """One watch stream; True when it carried anything (so reconnecting at once is fine)."""
        params = {"fieldSelector": self.selector, "resourceVersion": self.resource_version,
                  "allowWatchBookmarks": "true", "timeoutSeconds": str(self.watch_timeout)}
        began = time.monotonic()
        seen = False
        for event in self.client.watch("/api/v1/pods", params, read_timeout=self.watch_timeout + 30):
            if self._stop.is_set():
                return True
            if not seen:
                self._back()
            seen = True
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise APIStatusError(410, obj.get("reason", "Expired"), obj.get("message", ""), obj)
                raise APIStatusError(obj.get("code") or 500, obj.get("reason", ""), obj.get("message", ""), obj)
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = rv
            if kind == "BOOKMARK":
                continue
            if kind in ("ADDED", "MODIFIED") and not self._mine(obj):
                kind = "DELETED"  # moved off this node (cannot happen upstream, harmless here)
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self.on_event(kind, obj)
        # A stream the server closed cleanly after a while is normal (timeoutSeconds).
        return seen or time.monotonic() - began > 1.0
