"""The namespace controller (pkg/controller/namespace/namespace_controller.go).

A reconcile loop over a list + watch of namespaces: every namespace with a
deletionTimestamp goes into a work queue, and one worker takes names from
it and lets the NamespaceDeleter empty and finalize it. A namespace that
still has content comes back after a short wait; a failed pass (API server
away, an error answer) comes back with a doubling back-off. The watch is
re-listed every `resync` seconds, so nothing is missed for long even if an
event is.
"""
from __future__ import annotations

import logging
import threading
import time

import requests

from ..apiclient import APIClient, APIStatusError, APIUnavailable
from .namespace_deleter import NamespaceDeleter

log = logging.getLogger("controllers.namespace")


class WorkQueue:
    """Names due at a time; a name queued twice is held once (the earlier time wins)."""

    def __init__(self):
        self._due: dict[str, float] = {}
        self._cond = threading.Condition()

    def add(self, name: str, after: float = 0.0) -> None:
        with self._cond:
            at = time.monotonic() + after
            if name not in self._due or at < self._due[name]:
                self._due[name] = at
            self._cond.notify()

    def get(self, stop: threading.Event) -> str | None:
        """The next due name, waiting for one; None once `stop` is set."""
        with self._cond:
            while not stop.is_set():
                now = time.monotonic()
                if self._due:
                    name, at = min(self._due.items(), key=lambda kv: kv[1])
                    if at <= now:
                        del self._due[name]
                        return name
                    self._cond.wait(min(at - now, 0.5))
                else:
                    self._cond.wait(0.5)
            return None


class NamespaceController:
    """List + watch namespaces; empty and finalize the Terminating ones."""

    def __init__(self, client: APIClient, resync: float = 30.0, backoff: tuple[float, float] = (0.5, 30.0)):
        self.client = client
        self.deleter = NamespaceDeleter(client)
        self.resync = resync
        self.backoff = backoff
        self.queue = WorkQueue()
        self.synced = threading.Event()   # the first list has been read
        self._failures: dict[str, int] = {}

    def run(self, stop: threading.Event) -> None:
        """Start the watcher and the worker; they end when `stop` is set."""
        for target, name in ((self._watch_loop, "namespace-watch"), (self._work_loop, "namespace-worker")):
            threading.Thread(target=target, args=(stop,), name=name, daemon=True).start()

    # -- list + watch ------------------------------------------------------------------------

    def _watch_loop(self, stop: threading.Event) -> None:
        delay = self.backoff[0]
        while not stop.is_set():
            try:
                rv = self._list()
                delay = self.backoff[0]
                self._watch(rv, stop)
                continue
            except APIStatusError as e:
                if e.code != 410:
                    log.warning("namespace list/watch refused: %s", e)
            except (APIUnavailable, requests.RequestException, OSError) as e:
                log.warning("namespace list/watch: API server away (%s); retrying in %.1fs", e, delay)
            if stop.wait(delay):
                return
            delay = min(delay * 2, self.backoff[1])

    def _list(self) -> str:
        listing = self.client.get("/api/v1/namespaces")
        for ns in listing.get("items") or []:
            self._observe(ns)
        self.synced.set()
        return (listing.get("metadata") or {}).get("resourceVersion") or "0"

    def _watch(self, rv: str, stop: threading.Event) -> None:
        params = {"resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": str(int(self.resync))}
        for event in self.client.watch("/api/v1/namespaces", params, read_timeout=self.resync + 30):
            if stop.is_set():
                return
            obj = event.get("object") or {}
            if event.get("type") == "ERROR":
                raise APIStatusError(obj.get("code") or 500, obj.get("reason", ""), obj.get("message", ""), obj)
            if event.get("type") in ("ADDED", "MODIFIED"):
                self._observe(obj)

    def _observe(self, ns: dict) -> None:
        if (ns.get("metadata") or {}).get("deletionTimestamp"):
            self.queue.add(ns["metadata"]["name"])

    # -- the worker --------------------------------------------------------------------------

    def _work_loop(self, stop: threading.Event) -> None:
        while True:
            name = self.queue.get(stop)
            if name is None:
                return
            try:
                again = self.deleter.sync(name)
            except (APIStatusError, APIUnavailable, requests.RequestException, OSError) as e:
                failures = self._failures[name] = self._failures.get(name, 0) + 1
                again = min(self.backoff[0] * 2 ** (failures - 1), self.backoff[1])
                log.warning("namespace %s: deletion pass failed (%s); again in %.1fs", name, e, again)
                self.queue.add(name, again)
                continue
            self._failures.pop(name, None)
            if again is not None:
                self.queue.add(name, again)
