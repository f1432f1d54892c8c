"""Events the kubelet records on pods, so `kubectl describe pod` tells the story.

Like client-go's EventRecorder as the kubelet uses it: Pulling, Pulled,
Created, Started, Killing, BackOff, Failed, each a core/v1 Event naming the
pod (and the container, by fieldPath `spec.containers{nginx}`). A repeat of
the same event bumps its count and lastTimestamp instead of adding another
(client-go's correlator does the same). Events are posted from a background
thread through a bounded queue: recording never blocks a pod's sync, and a
failed post is logged and dropped. Like client-go's spam filter, one object's
events of one type and reason come in a burst of at most 25, then one per
5 minutes (a probe failing every second does not flood the API server).
"""
from __future__ import annotations

import logging
import queue
import secrets
import threading
import time

from . import timefmt
from .client import APIClient, APIStatusError

log = logging.getLogger("kubelet.events")

NORMAL, WARNING = "Normal", "Warning"
SPAM_BURST, SPAM_REFILL = 25, 300.0   # client-go EventSourceObjectSpamFilter: burst, seconds per token


def container_field_path(container: str | None) -> str | None:
    return f"spec.containers{{{container}}}" if container else None


def involved_object(pod: dict, container: str | None = None) -> dict:
    meta = pod.get("metadata") or {}
    ref = {"kind": "Pod", "apiVersion": "v1", "namespace": meta.get("namespace", "default"),
           "name": meta.get("name"), "uid": meta.get("uid"),
           "resourceVersion": meta.get("resourceVersion", "")}
    if container:
        ref["fieldPath"] = container_field_path(container)
    return ref


class EventRecorder:
    """Records events asynchronously; `event()` returns at once."""

    def __init__(self, client: APIClient, node_name: str, max_queue: int = 1000):
        self.client, self.node_name = client, node_name
        self._queue: queue.Queue = queue.Queue(max_queue)
        self._seen: dict[tuple, tuple[str, str, int]] = {}  # key -> (namespace, event name, count)
        self._tokens: dict[tuple, tuple[float, float]] = {}  # spam key -> (tokens, monotonic time)
        self._spam_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="event-recorder", daemon=True)
        self._thread.start()

    def event(self, pod: dict, type_: str, reason: str, message: str, container: str | None = None) -> None:
        """Queue an event on `pod` (optionally on one of its containers)."""
        self.record(involved_object(pod, container), type_, reason, message)

    def node_event(self, type_: str, reason: str, message: str) -> None:
        """Queue an event on this node (kept in `default`; uid = node name, as the kubelet and kubectl do)."""
        self.record({"kind": "Node", "apiVersion": "v1", "name": self.node_name, "uid": self.node_name,
                     "namespace": ""}, type_, reason, message)

    def record(self, ref: dict, type_: str, reason: str, message: str) -> None:
        """Queue an event on the object `ref` (an ObjectReference)."""
        log.info("event %s %s %s/%s %s: %s", type_, ref.get("kind"), ref.get("namespace"), ref.get("name"),
                 reason, message)
        if not self._allowed((ref.get("kind"), ref.get("namespace"), ref.get("name"), ref.get("uid"), type_, reason)):
            log.debug("event %s on %s dropped by the spam filter", reason, ref.get("name"))
            return
        try:
            self._queue.put_nowait((ref, type_, reason, message))
        except queue.Full:
            log.warning("event queue full; dropping %s %s", reason, message)

    def _allowed(self, key: tuple) -> bool:
        """A token-bucket per object, type and reason (burst SPAM_BURST, one token per SPAM_REFILL s)."""
        now = time.monotonic()
        with self._spam_lock:
            tokens, at = self._tokens.get(key, (float(SPAM_BURST), now))
            tokens = min(float(SPAM_BURST), tokens + (now - at) / SPAM_REFILL)
            if len(self._tokens) > 10000:
                self._tokens.clear()
            self._tokens[key] = (tokens - 1 if tokens >= 1 else tokens, now)
            return tokens >= 1

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until queued events are posted (for tests and clean shutdown)."""
        done = threading.Event()
        try:
            self._queue.put((None, None, None, done), timeout=timeout)
        except queue.Full:
            return
        done.wait(timeout)

    def stop(self) -> None:
        self.flush(2.0)

    def _loop(self) -> None:
        while True:
            ref, type_, reason, message = self._queue.get()
            if ref is None:
                message.set()  # a flush marker
                continue
            try:
                self._post(ref, type_, reason, message)
            except Exception as e:  # never let an event break anything
                log.warning("event %s on %s not recorded: %s", reason, ref.get("name"), e)

    def _post(self, ref: dict, type_: str, reason: str, message: str) -> None:
        namespace = ref.get("namespace") or "default"
        now = timefmt.rfc3339()
        key = (ref["uid"], ref.get("fieldPath"), type_, reason, message)
        seen = self._seen.get(key)
        if seen is not None:
            _, name, count = seen
            try:
                self.client.patch(f"/api/v1/namespaces/{namespace}/events/{name}",
                                  {"count": count + 1, "lastTimestamp": now})
                self._seen[key] = (namespace, name, count + 1)
                return
            except APIStatusError as e:
                if e.code != 404:
                    raise
        name = f"{ref['name']}.{secrets.token_hex(8)}"
        if not ref.get("namespace"):
            ref = {k: v for k, v in ref.items() if k != "namespace"}
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref,
            "reason": reason, "message": message, "type": type_,
            "source": {"component": "kubelet", "host": self.node_name},
            "reportingComponent": "kubelet", "reportingInstance": self.node_name,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "eventTime": None,
        }
        self.client.post(f"/api/v1/namespaces/{namespace}/events", body)
        if len(self._seen) > 5000:
            self._seen.clear()
        self._seen[key] = (namespace, name, 1)
