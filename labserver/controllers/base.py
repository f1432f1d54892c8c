"""What every controller is made of: informers feeding a work queue, and one worker calling sync(key).

upstream: client-go's workqueue plus the shape every pkg/controller/* has
(informer event handlers enqueue a key; a worker pops it and reconciles).
`sync(key)` reads the informers' stores, writes what is missing through the
API, and returns None, or a number of seconds after which to look again.
A sync that fails (API server away, an error answer) comes back with a
doubling back-off.
"""
from __future__ import annotations

import logging
import threading
import time

import requests

from ..client import APIClient, APIStatusError, APIUnavailable, Informer

log = logging.getLogger("controllers")


class WorkQueue:
    """Keys due at a time; a key queued twice is held once (the earlier time wins)."""

    def __init__(self):
        self._due: dict[str, float] = {}
        self._cond = threading.Condition()

    def add(self, key: str, after: float = 0.0) -> None:
        with self._cond:
            at = time.monotonic() + after
            if key not in self._due or at < self._due[key]:
                self._due[key] = at
            self._cond.notify()

    def get(self, stop: threading.Event) -> str | None:
        """The next due key, waiting for one; None once `stop` is set."""
        with self._cond:
            while not stop.is_set():
                now = time.monotonic()
                if self._due:
                    key, at = min(self._due.items(), key=lambda kv: kv[1])
                    if at <= now:
                        del self._due[key]
                        return key
                    self._cond.wait(min(at - now, 0.5))
                else:
                    self._cond.wait(0.5)
            return None


class Controller:
    """Informers + a queue + a worker; subclasses add informers in __init__ and write sync()."""

    name = "controller"
    backoff = (0.2, 10.0)

    def __init__(self, client: APIClient):
        self.client = client
        self.queue = WorkQueue()
        self.informers: list[Informer] = []
        self.synced = threading.Event()     # every informer has read its first list
        self._failures: dict[str, int] = {}

    def informer(self, path: str, on_event=None, params: dict | None = None) -> Informer:
        """A list + watch of `path` whose every object and event goes to `on_event(type, obj)`."""
        def on_list(items):
            for obj in items:
                on_event("ADDED", obj)
        inf = Informer(self.client, path, on_list if on_event else (lambda items: None),
                       on_event or (lambda kind, obj: None), params=params)
        self.informers.append(inf)
        return inf

    def run(self, stop: threading.Event) -> None:
        """Start the informers and the worker; they end when `stop` is set."""
        for inf in self.informers:
            inf.start()
        threading.Thread(target=self._work_loop, args=(stop,), name=f"{self.name}-worker", daemon=True).start()
        threading.Thread(target=self._stop_when, args=(stop,), name=f"{self.name}-stop", daemon=True).start()

    def _stop_when(self, stop: threading.Event) -> None:
        while not stop.wait(0.2):
            if not self.synced.is_set() and all(inf.synced.is_set() for inf in self.informers):
                self.synced.set()
                self.on_synced()
        for inf in self.informers:
            inf.stop()

    def delete(self, path: str) -> None:
        """DELETE an object; one already gone is fine."""
        try:
            self.client.delete(path)
        except APIStatusError as e:
            if e.code != 404:
                raise

    def on_synced(self) -> None:
        """Called once every informer has listed (a place to queue a full pass)."""

    def sync(self, key: str) -> float | None:
        raise NotImplementedError

    def _work_loop(self, stop: threading.Event) -> None:
        while True:
            key = self.queue.get(stop)
            if key is None:
                return
            if not self.synced.is_set():      # reconcile only against a full picture
                self.queue.add(key, 0.2)
                continue
            try:
                again = self.sync(key)
            except (APIStatusError, APIUnavailable, requests.RequestException, OSError) as e:
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                again = min(self.backoff[0] * 2 ** (failures - 1), self.backoff[1])
                log.warning("%s %s: sync failed (%s); again in %.1fs", self.name, key, e, again)
                self.queue.add(key, again)
                continue
            except Exception:   # a bug must not end the worker: log it and look again later
                log.exception("%s %s: sync crashed", self.name, key)
                self.queue.add(key, self.backoff[1])
                continue
            self._failures.pop(key, None)
            if again is not None:
                self.queue.add(key, again)


def controller_ref(obj: dict) -> dict | None:
    """The ownerReference with controller: true, if any (metav1.GetControllerOf)."""
    return next((r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if r.get("controller")), None)


def owner_reference(owner: dict) -> dict:
    """A controller ownerReference to `owner` (metav1.NewControllerRef)."""
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def split_key(key: str) -> tuple[str, str]:
    namespace, _, name = key.partition("/")
    return namespace, name


def is_pod_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def is_pod_active(pod: dict) -> bool:
    """controller.IsPodActive: not finished and not being deleted."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") \
        and not (pod.get("metadata") or {}).get("deletionTimestamp")
