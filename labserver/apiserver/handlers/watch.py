"""WATCH: etcd watch events turned into Kubernetes watch events (storage/etcd3/watcher.go).

A watch is newline-delimited JSON `{"type": ..., "object": ...}` on a
streamed 200 response. It starts at resourceVersion+1 from an etcd watch
on the collection's key prefix; with no resourceVersion (or "0") it first
sends a synthetic ADDED for every existing object, read at one revision,
and watches from the revision after it. `sendInitialEvents=true` adds the
bookmark carrying `k8s.io/initial-events-end` after those (kubectl delete
waits for it). With a selector, an update that moves an object into the
selection is ADDED and one that moves it out is DELETED. A compacted
revision gives one ERROR event (410 Expired) and the end of the stream.

The WSGI server chunks the streamed body itself; setting Transfer-Encoding
here as well would break Go clients. A watch ends when its client goes, at
its timeout, or when the server stops (the app's `labserver.shutdown` event).
"""
from __future__ import annotations

import queue
import random
import select
import socket
import time
from typing import Callable, Iterator

from flask import Response, current_app, request
from pyetcd.events import DeleteEvent
from pyetcd.exceptions import RevisionCompactedError

from .. import partial
from ..errors import APIError, bad_request, expired
from ..printers import to_table, wants_table
from ..storage import Storage, dumps
from .request import Scope, int_arg, storage

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def serve(scope: Scope, predicate: Callable[[dict], bool] | None) -> Response:
    """Open the etcd watch now (so errors are plain Status answers), then stream events."""
    args = request.args
    rv = args.get("resourceVersion") or ""
    send_initial = args.get("sendInitialEvents")
    if send_initial is not None:
        if args.get("resourceVersionMatch") != "NotOlderThan":
            raise bad_request("sendInitialEvents is forbidden for watch unless resourceVersionMatch is set "
                              "to NotOlderThan")
        send_initial = send_initial in ("true", "1")
    elif args.get("resourceVersionMatch"):
        raise bad_request("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
    timeout = int_arg("timeoutSeconds")
    if timeout is None:
        timeout = random.uniform(1800, 3600)   # upstream's min-request-timeout, jittered
    bookmarks = args.get("allowWatchBookmarks") in ("true", "1")
    accept = request.headers.get("Accept")
    metadata_only = partial.requested(accept, "PartialObjectMetadata")
    table = not metadata_only and wants_table(accept)
    include = args.get("includeObject") or "Metadata"
    store: Storage = storage()

    initial: list[dict] = []
    if rv in ("", "0") or send_initial:
        if send_initial is False:
            start = store.revision() + 1 if rv in ("", "0") else _parse_rv(rv) + 1
        else:
            result = store.list(scope.resource, scope.namespace, predicate=predicate)
            initial, start = result.items, int(result.resource_version) + 1
    else:
        start = _parse_rv(rv) + 1
    events: queue.Queue = queue.Queue()
    cancel = store.watch(store.prefix(scope.resource, scope.namespace), start, events.put)
    open_watches = current_app.extensions.setdefault("labserver.watches", set())
    open_watches.add(events)
    stream = _Stream(scope, predicate, table, include, start - 1, metadata_only)
    environ = request.environ
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    interval = current_app.config.get("BOOKMARK_INTERVAL", 10.0)
    stopping = current_app.extensions["labserver.shutdown"]

    def generate() -> Iterator[bytes]:
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + interval
        try:
            yield b""   # sends the status line and headers now: clients wait for them
            if initial:
                yield b"".join(stream.line("ADDED", obj) for obj in initial)
            if send_initial:
                yield stream.bookmark(initial_end=True)
            while True:
                now = time.monotonic()
                if now >= deadline or stopping.is_set():
                    return
                try:
                    item = events.get(timeout=min(1.0, deadline - now))
                except queue.Empty:
                    if _client_gone(sock):
                        return
                    if bookmarks and time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + interval
                        yield stream.bookmark()
                    continue
                if item is _END:
                    return
                if isinstance(item, Exception):
                    yield stream.error(item, start - 1)
                    return
                chunk = stream.translate(item)
                if chunk:
                    yield chunk
        finally:
            open_watches.discard(events)
            cancel()

    return Response(generate(), mimetype="application/json")


_END = object()   # put into a watch's queue to end its stream


def end_all(app) -> None:
    """End every open watch of `app` now (the server is stopping): their streams close cleanly."""
    app.extensions["labserver.shutdown"].set()
    for events in list(app.extensions.get("labserver.watches", ())):
        events.put(_END)


def _parse_rv(rv: str) -> int:
    try:
        value = int(rv)
        if not 0 <= value < 1 << 63:     # etcd revisions are int64
            raise ValueError
        return value
    except ValueError:
        raise bad_request(f'invalid resource version "{rv}"') from None


def _client_gone(sock) -> bool:
    """True when the client closed its connection (readable with EOF)."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _Stream:
    """Encodes events of one watch, remembering the last revision delivered."""

    def __init__(self, scope: Scope, predicate, table: bool, include: str, last_rev: int,
                 metadata_only: str | None = None):
        self.scope, self.predicate, self.table, self.include = scope, predicate, table, include
        self.last_rev = last_rev
        self.columns_sent = False
        self.metadata_only = metadata_only   # the meta.k8s.io version of PartialObjectMetadata events

    def line(self, kind: str, obj: dict) -> bytes:
        if self.metadata_only:
            obj = partial.of(obj, self.metadata_only)
        elif self.table:
            rv = obj["metadata"].get("resourceVersion", "")
            obj = to_table(self.scope.resource, [obj], rv, self.include, with_columns=not self.columns_sent)
            self.columns_sent = True
        return dumps({"type": kind, "object": obj}) + b"\n"

    def bookmark(self, initial_end: bool = False) -> bytes:
        res = self.scope.resource
        meta: dict = {"resourceVersion": str(self.last_rev)}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": res.kind, "apiVersion": res.group_version, "metadata": meta}
        if self.metadata_only:
            obj = partial.of(obj, self.metadata_only)
        return dumps({"type": "BOOKMARK", "object": obj}) + b"\n"

    def error(self, err: Exception, requested: int) -> bytes:
        if isinstance(err, RevisionCompactedError):
            status = expired(f"too old resource version: {requested} ({err.compacted_revision})").status()
        elif isinstance(err, APIError):
            status = err.status()
        else:
            status = APIError(503, "ServiceUnavailable", f"watch ended: etcd connection lost "
                              f"({type(err).__name__})").status()
        return dumps({"type": "ERROR", "object": status}) + b"\n"

    def previous(self, ev, rev: int) -> dict:
        """The object before this event (etcd's prev_kv), at the event's revision.

        Without a previous value (etcd may not have it) only what the key says is known.
        """
        if ev.prev_value:
            return Storage.decode(ev.prev_value, rev)
        res = self.scope.resource
        *_, namespace, name = ev.key.decode().split("/")
        meta = {"name": name, "resourceVersion": str(rev)}
        if res.namespaced:
            meta["namespace"] = namespace
        return {"kind": res.kind, "apiVersion": res.group_version, "metadata": meta}

    def translate(self, response) -> bytes:
        """All events of one etcd watch response, filtered and encoded."""
        out = []
        match = self.predicate
        for ev in response.events:
            rev = ev.mod_revision
            if isinstance(ev, DeleteEvent):
                old = self.previous(ev, rev)
                if match is None or match(old):
                    out.append(self.line("DELETED", old))
            else:
                obj = Storage.decode(ev.value, rev)
                new_ok = match is None or match(obj)
                if ev.version == 1:
                    if new_ok:
                        out.append(self.line("ADDED", obj))
                elif match is None:
                    out.append(self.line("MODIFIED", obj))
                else:
                    old = self.previous(ev, rev)
                    old_ok = match(old)
                    if new_ok:
                        out.append(self.line("MODIFIED" if old_ok else "ADDED", obj))
                    elif old_ok:
                        out.append(self.line("DELETED", old))
            self.last_rev = max(self.last_rev, rev)
        return b"".join(out)
