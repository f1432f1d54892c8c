"""The scheduler's events on pods: `Scheduled` and `FailedScheduling`, from `default-scheduler`.

Posted as core/v1 Events (what this API server serves) with the fields the
events.k8s.io recorder fills upstream: action, reportingComponent,
reportingInstance, plus `source.component` so `kubectl describe` shows
"From default-scheduler". The same event again (a pod that keeps not fitting)
bumps its count instead of adding one. Posting happens in a background thread:
a slow API server never holds up a scheduling cycle; a failed post is logged
and dropped.
"""
from __future__ import annotations

import logging
import queue
import secrets
import socket
import threading
import time

from ..client import APIClient, APIStatusError

log = logging.getLogger("scheduler.events")
COMPONENT = "default-scheduler"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class EventRecorder:
    def __init__(self, client: APIClient, max_queue: int = 10000):
        self.client = client
        self.instance = f"{COMPONENT}-{socket.gethostname()}"
        self._queue: queue.Queue = queue.Queue(max_queue)
        self._posted: dict[tuple, tuple[str, int]] = {}      # (uid, reason, message) -> (name, count)
        threading.Thread(target=self._loop, name="events", daemon=True).start()

    def event(self, pod: dict, type_: str, reason: str, action: str, message: str) -> None:
        log.info("%s %s/%s: %s", reason, pod["metadata"].get("namespace"), pod["metadata"]["name"], message)
        try:
            self._queue.put_nowait((pod, type_, reason, action, message))
        except queue.Full:
            log.warning("event queue full; dropped %s: %s", reason, message)

    def flush(self, timeout: float = 5.0) -> None:
        done = threading.Event()
        self._queue.put((None, done, None, None, None))
        done.wait(timeout)

    def _loop(self) -> None:
        while True:
            pod, type_, reason, action, message = self._queue.get()
            if pod is None:
                type_.set()
                continue
            try:
                self._post(pod, type_, reason, action, message)
            except Exception as e:
                log.warning("event %s on %s not recorded: %s", reason, pod["metadata"]["name"], e)

    def _post(self, pod: dict, type_: str, reason: str, action: str, message: str) -> None:
        meta = pod["metadata"]
        namespace = meta.get("namespace", "default")
        key = (meta["uid"], reason, message)
        if key in self._posted:
            name, count = self._posted[key]
            try:
                self.client.patch(f"/api/v1/namespaces/{namespace}/events/{name}",
                                  {"count": count + 1, "lastTimestamp": _now()}, "merge")
                self._posted[key] = (name, count + 1)
                return
            except APIStatusError as e:
                if e.code != 404:
                    raise
        name = f"{meta['name']}.{secrets.token_hex(8)}"
        self.client.post(f"/api/v1/namespaces/{namespace}/events", {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": namespace, "name": meta["name"],
                               "uid": meta["uid"], "resourceVersion": meta.get("resourceVersion", "")},
            "type": type_, "reason": reason, "action": action, "message": message,
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
            "reportingInstance": self.instance, "firstTimestamp": _now(), "lastTimestamp": _now(),
            "count": 1, "eventTime": None})
        if len(self._posted) > 10000:
            self._posted.clear()
        self._posted[key] = (name, 1)
