"""One pod watch read on its own thread, for the benches that time what a watch shows (not a bench itself).

http.client rather than requests: close() can shut the socket down under the
reading thread, so a bench never waits for the server to end its watch.
Subclasses say what each event means to them in on_event(), which runs with
`cond` held; waiters use `cond` to wait for what they need.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from urllib.parse import urlencode, urlparse

import requests


class PodEvents:
    """A watch on `path` (a pod list URL path) from its current resourceVersion; `params` add to the query."""

    def __init__(self, api: str, path: str, **params):
        self.cond = threading.Condition()
        rv = requests.get(api + path, params={"limit": 1}, timeout=10).json()["metadata"]["resourceVersion"]
        url = urlparse(api)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        self.conn.request("GET", f"{path}?{urlencode({'watch': '1', 'resourceVersion': rv, **params})}")
        self.sock = self.conn.sock          # the response may take it over (Connection: close)
        self.resp = self.conn.getresponse()
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def on_event(self, event: dict, now: float) -> None:
        """One watch event, seen at `now` (time.monotonic()); called with `cond` held."""
        raise NotImplementedError

    def _loop(self) -> None:
        try:
            while line := self.resp.readline():
                if not line.strip():
                    continue
                now = time.monotonic()
                event = json.loads(line)
                with self.cond:
                    self.on_event(event, now)
                    self.cond.notify_all()
        except (OSError, ValueError, http.client.HTTPException):
            pass

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)
        self.conn.close()
