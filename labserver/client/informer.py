"""List + watch of one resource, handed to callbacks (client-go's reflector and informer, kept small).

List once and hand over the whole set; then watch from the list's
resourceVersion and hand over each ADDED / MODIFIED / DELETED. A watch that
ends is resumed from the last resourceVersion seen (bookmarks included); a
410 Expired means relist; an API server that went away is retried with a
growing back-off. The informer also keeps the objects it has seen (its
store), so a controller can read "all ReplicaSets" without asking the server.
The scheduler, the kubelet's pod source and every controller run these.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import requests

from .rest import APIClient, APIStatusError, APIUnavailable

log = logging.getLogger("labserver.client.informer")


def object_key(obj: dict) -> str:
    """`namespace/name`, or `name` for a cluster-wide object (client-go's MetaNamespaceKeyFunc)."""
    meta = obj.get("metadata") or {}
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta.get("name", "")


def _ignore(*_args) -> None:
    return None


def _revision(obj: dict) -> int | None:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion"))
    except (TypeError, ValueError):
        return None


class Informer:
    """Calls on_list(items) after each list and on_event(type, obj) per watch event, in its own thread.

    `store` maps object_key -> the last object seen (DELETED removes it).
    """

    def __init__(self, client: APIClient, path: str, on_list: Callable[[list[dict]], None] = _ignore,
                 on_event: Callable[[str, dict], None] = _ignore, params: dict | None = None,
                 backoff: tuple[float, float] = (0.1, 5.0), watch_timeout: int = 300):
        self.client, self.path, self.params = client, path, dict(params or {})
        self.on_list, self.on_event = on_list, on_event
        self.backoff, self.watch_timeout = backoff, watch_timeout
        self.resource_version: str | None = None
        self.store: dict[str, dict] = {}
        self._lock = threading.Lock()        # the watch thread and remember()/forget() both write the store
        self.synced = threading.Event()      # the first list was delivered
        self.lists = 0                       # how many times we listed (tests check relists)
        self._away = False                   # the last attempt failed: say so when it works again
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"informer {path}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def items(self) -> list[dict]:
        return list(self.store.values())

    def remember(self, obj: dict) -> dict:
        """Put an object the controller just wrote (the API server's answer) into the store at once.

        The watch brings the same object a moment later; until then the
        controller must not act on what it saw before its own write (upstream's
        expectations). A late answer must not undo a newer watch event, though:
        an older resourceVersion than the stored one is not stored. (Our API
        server's resourceVersions are etcd revisions, so they compare as numbers.)
        """
        key, rev = object_key(obj), _revision(obj)
        with self._lock:
            held = _revision(self.store[key]) if key in self.store else None
            if held is None or rev is None or rev >= held:
                self.store[key] = obj
        return obj

    def forget(self, obj: dict) -> None:
        """Take out an object the controller just deleted (its DELETED event may come later)."""
        with self._lock:
            self.store.pop(object_key(obj), None)

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
                    log.info("watch of %s expired (%s): relisting", self.path, e.message)
                    self.resource_version = None
                    continue
                log.warning("list/watch of %s refused: %s", self.path, e)
            except (APIUnavailable, requests.RequestException, OSError, ValueError) as e:
                log.warning("list/watch of %s: API server away (%s); retrying in %.1fs", self.path, e, delay)
                self._away = True
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.backoff[1])

    def _list(self) -> None:
        body = self.client.get(self.path, params=self.params or None)
        items = body.get("items") or []
        with self._lock:
            self.store = {object_key(obj): obj for obj in items}
        self.resource_version = (body.get("metadata") or {}).get("resourceVersion") or "0"
        self.lists += 1
        self._back()
        self.on_list(items)
        self.synced.set()

    def _back(self) -> None:
        if self._away:
            log.info("API server answers again; %s from resourceVersion %s on", self.path, self.resource_version)
            self._away = False

    def _watch(self) -> bool:
        """One watch stream; True when it carried anything or lasted (so reconnecting at once is fine)."""
        params = dict(self.params, resourceVersion=self.resource_version, allowWatchBookmarks="true",
                      timeoutSeconds=str(self.watch_timeout))
        began, seen = time.monotonic(), False
        for event in self.client.watch(self.path, params, read_timeout=self.watch_timeout + 30):
            if self._stop.is_set():
                return True
            if not seen:
                self._back()
            seen = True
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                raise APIStatusError(obj.get("code") or 500, obj.get("reason", ""), obj.get("message", ""), obj)
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = rv
            with self._lock:
                if kind in ("ADDED", "MODIFIED"):
                    self.store[object_key(obj)] = obj
                elif kind == "DELETED":
                    self.store.pop(object_key(obj), None)
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self.on_event(kind, obj)
        # A stream the server closed cleanly after a while is normal (timeoutSeconds).
        return seen or time.monotonic() - began > 1.0
