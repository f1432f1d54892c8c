"""List + watch of one resource, handed to a callback (client-go's reflector, kept small).

List once and hand over the whole set; then watch from the list's
resourceVersion and hand over each ADDED / MODIFIED / DELETED. A watch that
ends is resumed from the last resourceVersion seen (bookmarks included); a
410 Expired means relist; an API server that went away is retried with a
growing back-off. The scheduler runs two: nodes and pods.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import requests

from .client import APIError, Client, Unreachable

log = logging.getLogger("scheduler.informer")


class Informer:
    """Calls on_list(items) after each list and on_event(type, obj) for each watch event, in one thread."""

    def __init__(self, client: Client, path: str, on_list: Callable[[list[dict]], None],
                 on_event: Callable[[str, dict], None], backoff=(0.1, 5.0), watch_timeout: int = 300):
        self.client, self.path = client, path
        self.on_list, self.on_event = on_list, on_event
        self.backoff, self.watch_timeout = backoff, watch_timeout
        self.resource_version: str | None = None
        self.synced = threading.Event()
        self.lists = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"informer {path}", daemon=True)

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
                self._watch()
                delay = self.backoff[0]
                continue
            except APIError as e:
                if e.code == 410:
                    log.info("watch of %s expired (%s): relisting", self.path, e.message)
                    self.resource_version = None
                    continue
                log.warning("list/watch of %s refused: %s", self.path, e)
            except (Unreachable, requests.RequestException, OSError, ValueError) as e:
                log.warning("list/watch of %s: %s; retrying in %.1fs", self.path, e, delay)
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.backoff[1])

    def _list(self) -> None:
        body = self.client.get(self.path)
        self.resource_version = (body.get("metadata") or {}).get("resourceVersion") or "0"
        self.lists += 1
        self.on_list(body.get("items") or [])
        self.synced.set()

    def _watch(self) -> None:
        params = {"resourceVersion": self.resource_version, "allowWatchBookmarks": "true",
                  "timeoutSeconds": str(self.watch_timeout)}
        for event in self.client.watch(self.path, params, read_timeout=self.watch_timeout + 30):
            if self._stop.is_set():
                return
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                raise APIError(obj.get("code") or 500, obj.get("reason", ""), obj.get("message", ""))
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = rv
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self.on_event(kind, obj)
