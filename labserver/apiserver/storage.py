"""Objects in etcd, the way kube-apiserver keeps them (storage/etcd3/store.go).

Every object is JSON under its Kubernetes key (`/registry/pods/<ns>/<name>`).
Its resourceVersion is not stored: it IS the key's etcd mod_revision, set on
every read, and a list's resourceVersion is the revision of the range read.
Writes are transactions, which is what makes optimistic concurrency real:

- create: `version(key) == 0` -> put, else AlreadyExists;
- update / delete: `mod_revision(key) == RV` -> put / delete, else Conflict
  (or NotFound when the key is gone).

Several etcd endpoints may be given; a failed one is skipped for a second and
the next is tried. When none answers, callers get 503 ServiceUnavailable with
a message naming the endpoints, and since gRPC reconnects on its own (with a
short backoff configured here), requests succeed again once etcd is back.
"""
from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlparse

import grpc
import orjson
from pyetcd import exceptions as etcd_errors
from pyetcd.client import Endpoint, MultiEndpointEtcd3Client
from pyetcd.utils import prefix_range_end

from ..retry import retry_on_conflict
from .encoded import EncodedObjects
from .limits import copy_json
from .errors import APIError, already_exists, bad_request, conflict, expired, not_found, too_large, unavailable
from .resources import ResourceInfo

# A name or namespace that may become part of a key: DNS-1123 subdomain
# characters only, so nothing like "../" or "/" ever reaches etcd.
_KEY_SEGMENT = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_GRPC_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
                 ("grpc.max_reconnect_backoff_ms", 1000), ("grpc.max_receive_message_length", 256 << 20)]
_DOWN = (etcd_errors.ConnectionFailedError, etcd_errors.ConnectionTimeoutError,
         etcd_errors.InternalServerError, etcd_errors.NoServerAvailableError)
# Of those, the ones that say the call (all but always) never reached etcd: connection
# refused or not ready, endpoint skipped. Another channel tries it; writes too, as every
# write is a guarded transaction (version == 0, mod_revision == RV): a repeat of one that
# did land cannot write twice, it answers AlreadyExists or Conflict.
_NOT_SENT = (etcd_errors.ConnectionFailedError, etcd_errors.NoServerAvailableError)


def parse_endpoints(servers: list[str] | str) -> list[tuple[str, int]]:
    """`http://127.0.0.1:2379,http://...` -> [(host, port), ...]; ValueError on a bad URL."""
    if isinstance(servers, str):
        servers = [s for s in servers.split(",") if s.strip()]
    out = []
    for url in servers:
        parsed = urlparse(url.strip())
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ValueError(f"bad etcd server URL {url!r}: expected http://HOST:PORT")
        out.append((parsed.hostname, parsed.port))
    if not out:
        raise ValueError("no etcd server given")
    return out


def dumps(obj) -> bytes:
    """Compact JSON. orjson: every stored object and every answer goes through here (json: its fallback,
    for what orjson refuses, such as integers beyond 64 bits)."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(obj, separators=(",", ":")).encode()


class GuardChanged(Exception):
    """A create's guard key moved between the read and the write: check again."""


@dataclass
class ListResult:
    items: list[dict]
    resource_version: str
    continue_token: str | None = None
    remaining: int | None = None


class KeysTaken(Exception):
    """A create with extra keys failed because one of those keys exists already."""


class Storage:
    """The API server's only way to etcd: typed reads and transactional writes."""

    # Called as on_request(operation, resource, seconds) after each etcd call of a
    # verb (metrics.py sets it: etcd_request_duration_seconds).
    on_request: Callable[[str, ResourceInfo, float], None] | None = None

    @contextmanager
    def timed(self, operation: str, resource: ResourceInfo):
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.on_request is not None:
                self.on_request(operation, resource, time.perf_counter() - start)

    def __init__(self, servers: list[str] | str, timeout: float = 5.0, channels: int = 4,
                 root: str = "/registry"):
        self.endpoints = parse_endpoints(servers)
        self.root = root.rstrip("/")   # --etcd-prefix: every key starts with it
        self.timeout = timeout
        self.urls = ", ".join(f"http://{h}:{p}" for h, p in self.endpoints)
        # A few gRPC channels, each request thread sticking to one: calls from
        # concurrent requests do not queue on a single connection. The first
        # also carries the watches.
        self._clients = [self._new_client() for _ in range(max(1, channels))]
        self.client = self._clients[0]
        self._local = threading.local()
        self._next = itertools.count()
        self.encoded = EncodedObjects(self.decode, dumps)   # each object's JSON answer, for JSON LISTs

    def _new_client(self) -> MultiEndpointEtcd3Client:
        eps = [Endpoint(h, p, secure=False, time_retry=1.0, opts=_GRPC_OPTIONS) for h, p in self.endpoints]
        return MultiEndpointEtcd3Client(endpoints=eps, timeout=self.timeout, failover=True)

    def _pick(self) -> MultiEndpointEtcd3Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._clients[next(self._next) % len(self._clients)]
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()

    # -- raw calls with failover ------------------------------------------------------------
    # Only pyetcd's public API: get_response (a Range), transaction (a Txn) and the
    # watch calls. Each marks a failed endpoint itself, so the next try uses another.

    def _call(self, method: str, *args, client: MultiEndpointEtcd3Client | None = None, **kwargs):
        """Run one etcd call (a pyetcd client method), trying each endpoint once; 503 when none answers.

        It runs on this thread's channel (or `client`'s). When that fails in a way
        that means the call never left (its connection is still coming back, or its
        endpoint is marked failed for a second), the other channels try it too:
        right after etcd returns, the channels reconnect one by one, and a request
        must not get 503 from one while another already serves.
        """
        first = client or self._pick()
        order = [first] if client else [first] + [c for c in self._clients if c is not first]
        last = None
        for etcd in order:
            for _ in range(len(self.endpoints)):
                try:
                    return getattr(etcd, method)(*args, **kwargs)
                except grpc.RpcError as e:   # a status pyetcd does not map: no connection problem
                    if e.code() == grpc.StatusCode.OUT_OF_RANGE:
                        raise expired("The provided resourceVersion is too old: the etcd revision "
                                      "has been compacted") from None
                    if "request is too large" in (e.details() or ""):   # etcd's --max-request-bytes
                        raise too_large() from None
                    raise APIError(500, "InternalError", f"Internal error occurred: etcd: {e.details()}") from None
                except etcd_errors.PreconditionFailedError as e:
                    raise APIError(500, "InternalError", f"Internal error occurred: etcd: {e}") from None
                except _DOWN as e:
                    last = e
                    if isinstance(e, etcd_errors.NoServerAvailableError):
                        break
            if not isinstance(last, _NOT_SENT):   # a timeout: it may have reached etcd; no second try
                break
        raise unavailable(f"storage is unavailable: etcd at {self.urls} is unreachable "
                          f"({type(last).__name__}); the API server retries by itself") from None

    def _range(self, key: bytes, range_end: bytes | None = None, limit: int | None = None,
               revision: int | None = None, count_only: bool = False):
        return self._call("get_response", key, range_end=range_end, limit=limit,
                          revision=revision, count_only=count_only)

    def _txn(self, compare: list, success: list, failure: list | None = None) -> tuple[bool, list]:
        """(succeeded, responses): pyetcd's transaction, on this thread's channel."""
        return self._call("transaction", compare, success, failure or [])

    def revision(self) -> int:
        """The current etcd revision (one cheap range read)."""
        return self._range(f"{self.root}/health".encode(), count_only=True).header.revision

    def healthy(self) -> bool:
        try:
            self.revision()
            return True
        except APIError:
            return False

    # -- keys and decoding -------------------------------------------------------------------

    def key(self, resource: ResourceInfo, namespace: str | None, name: str) -> str:
        """The etcd key; refuses any name or namespace that is not a safe key segment."""
        for part in ((namespace, name) if resource.namespaced else (name,)):
            if not part or len(part) > 253 or not _KEY_SEGMENT.match(part):
                raise bad_request(f"invalid name for an etcd key: {part!r}")
        return self.root + resource.key(namespace, name)

    def prefix(self, resource: ResourceInfo, namespace: str | None = None) -> str:
        """The etcd key prefix of a collection (every namespace when namespace is None)."""
        return self.root + resource.prefix(namespace)

    @staticmethod
    def decode(value: bytes, mod_revision: int) -> dict:
        obj = orjson.loads(value)
        if not isinstance(obj.get("metadata"), dict):   # malformed in etcd: still listable and deletable
            obj["metadata"] = {}
        obj["metadata"]["resourceVersion"] = str(mod_revision)
        return obj

    @staticmethod
    def encode(obj: dict) -> bytes:
        meta = obj.get("metadata") or {}
        rv = meta.pop("resourceVersion", None)
        try:
            return dumps(obj)
        finally:
            if rv is not None:
                meta["resourceVersion"] = rv

    # -- reads ---------------------------------------------------------------------------------

    def get(self, resource: ResourceInfo, namespace: str | None, name: str) -> dict:
        """The object with its resourceVersion; 404 when absent."""
        with self.timed("get", resource):
            resp = self._range(self.key(resource, namespace, name).encode())
        if not resp.kvs:
            raise not_found(resource.name, name, resource.group)
        kv = resp.kvs[0]
        return self.decode(kv.value, kv.mod_revision)

    def list(self, resource: ResourceInfo, namespace: str | None, limit: int | None = None,
             continue_token: str | None = None, predicate: Callable[[dict], bool] | None = None,
             resource_version: int | None = None) -> ListResult:
        """A consistent list (one etcd revision for all pages), paged like upstream."""
        decode = self.decode

        def item(kv) -> dict | None:
            obj = decode(kv.value, kv.mod_revision)
            return obj if predicate is None or predicate(obj) else None
        return self._list(resource, namespace, limit, continue_token, resource_version, item, predicate is not None)

    def list_encoded(self, resource: ResourceInfo, namespace: str | None, view: Callable[[dict], dict],
                     limit: int | None = None, continue_token: str | None = None,
                     predicate: Callable[[dict], bool] | None = None,
                     resource_version: int | None = None) -> ListResult:
        """list(), each item already its JSON answer as a tuple of bytes to join: the same bytes as
        dumps(item) of list(), made from the stored value without decoding it when it has not changed
        since it was last listed (encoded.py). `predicate` is called on view(object), kept beside the
        answer, which must hold all the predicate reads (selectors.selectable: always that one for a
        resource, since the cache keeps the view made first)."""
        parts = self.encoded.parts
        if predicate is None:
            item = lambda kv: parts(kv, view)[0]   # noqa: E731
        else:
            def item(kv):
                pieces, seen = parts(kv, view)
                return pieces if predicate(seen) else None
        return self._list(resource, namespace, limit, continue_token, resource_version, item, predicate is not None)

    def _list(self, resource: ResourceInfo, namespace: str | None, limit: int | None,
              continue_token: str | None, revision: int | None, item: Callable, filtered: bool) -> ListResult:
        """Range reads from the prefix (or the continue token's key) at one revision until `limit` items
        are found; `item(kv)` makes each one, or None to skip it (`filtered`: then remaining is unknown)."""
        prefix = self.prefix(resource, namespace).encode()
        end = prefix_range_end(prefix)
        start = prefix
        if continue_token:
            start_suffix, revision = decode_continue(continue_token)
            start = prefix + start_suffix
        items: list = []
        next_key, remaining = None, None
        while True:
            with self.timed("list", resource):
                resp = self._range(start, end, limit=limit, revision=revision)
            revision = revision or resp.header.revision
            kvs = resp.kvs
            full = False
            if not limit and not filtered:   # every item is kept: no per-item bookkeeping
                items.extend(map(item, kvs))
            else:
                for i, kv in enumerate(kvs):
                    obj = item(kv)
                    if obj is None:
                        continue
                    items.append(obj)
                    if limit and len(items) == limit:
                        full = True
                        if i < len(kvs) - 1 or resp.more:
                            next_key = kv.key + b"\x00"
                            if not filtered:
                                remaining = resp.count - (i + 1)
                        break
            if full or not (resp.more and kvs):
                break
            start = kvs[-1].key + b"\x00"
        token = encode_continue(next_key[len(prefix):], revision) if next_key is not None else None
        return ListResult(items, str(revision), token, remaining)

    # -- writes ------------------------------------------------------------------------------

    def create(self, resource: ResourceInfo, namespace: str | None, name: str, obj: dict,
               guard: tuple[str, int] | None = None, also: dict[str, bytes] | None = None) -> dict:
        """Put the object if the key does not exist; returns it with its resourceVersion.

        `guard` = (key, revision): also require that key to be still at that
        revision (the namespace as read when it was checked), else GuardChanged.
        `also` are more keys (e.g. a Service's IPAddress) created in the same
        transaction, only if none of them exists either: KeysTaken when one does.
        """
        key = self.key(resource, namespace, name)
        t = self.client.transactions
        also = also or {}
        compare = [t.version(key) == 0] + [t.version(k) == 0 for k in also]
        if guard is not None:
            compare.append(t.mod(guard[0]) == guard[1])
        failure = [t.get(key)] + ([t.get(guard[0])] if guard is not None else [])
        with self.timed("create", resource):
            ok, responses = self._txn(compare, [t.put(key, self.encode(obj))] + [t.put(k, v) for k, v in also.items()],
                                      failure if (guard is not None or also) else None)
        if not ok:
            if guard is not None:   # the namespace first, as admission comes before the write upstream
                found = responses[1]
                if not found or found[0][1].mod_revision != guard[1]:
                    raise GuardChanged(guard[0])
            if also and not responses[0]:
                raise KeysTaken(list(also))
            raise already_exists(resource.name, name, resource.group)
        obj.setdefault("metadata", {})["resourceVersion"] = str(responses[0].response_put.header.revision)
        return obj

    def update(self, resource: ResourceInfo, namespace: str | None, name: str, obj: dict,
               expected_rv: int) -> dict:
        """Put the object if the key is still at `expected_rv`; 409 Conflict / 404 otherwise."""
        key = self.key(resource, namespace, name)
        t = self.client.transactions
        with self.timed("update", resource):
            ok, responses = self._txn([t.mod(key) == expected_rv], [t.put(key, self.encode(obj))], [t.get(key)])
        if not ok:
            self._raise_failed(resource, name, responses)
        obj.setdefault("metadata", {})["resourceVersion"] = str(responses[0].response_put.header.revision)
        return obj

    def delete(self, resource: ResourceInfo, namespace: str | None, name: str, expected_rv: int,
               also: tuple[str, ...] = ()) -> int:
        """Delete the key (and the keys `also`) if it is still at `expected_rv`; returns the revision."""
        key = self.key(resource, namespace, name)
        t = self.client.transactions
        with self.timed("delete", resource):
            ok, responses = self._txn([t.mod(key) == expected_rv], [t.delete(key)] + [t.delete(k) for k in also],
                                      [t.get(key)])
        if not ok:
            self._raise_failed(resource, name, responses)
        return responses[0].response_delete_range.header.revision

    def guaranteed_update(self, resource: ResourceInfo, namespace: str | None, name: str,
                          mutate: Callable[[dict], dict],
                          delete_when: Callable[[dict, dict], bool] | None = None) -> dict:
        """Read, mutate, write on the read revision; on a race re-read and try again.

        `mutate` gets the current object and returns the new one; it may raise
        APIError (e.g. a Conflict for a stale precondition), which ends the loop.
        When `delete_when(new, current)` holds, the key is deleted instead (on the
        same revision) and the object as last stored is returned.
        """
        def attempt() -> dict:
            current = self.get(resource, namespace, name)
            rv = int(current["metadata"]["resourceVersion"])
            new = mutate(copy_json(current))
            if delete_when is not None and delete_when(new, current):
                self.delete(resource, namespace, name, rv)
                return current
            return self.update(resource, namespace, name, new, rv)
        return retry_on_conflict(attempt, is_conflict)

    @staticmethod
    def _raise_failed(resource: ResourceInfo, name: str, responses: list) -> None:
        """After a failed compare: 404 when the failure branch's get found nothing, else 409."""
        if not (responses and responses[0]):
            raise not_found(resource.name, name, resource.group)
        err = conflict(resource.name, name, resource.group)
        raise RevisionConflict(err.code, err.reason, err.message, err.details)

    # -- watch -------------------------------------------------------------------------------

    def watch(self, prefix: str, start_revision: int, callback: Callable) -> Callable[[], None]:
        """Start an etcd watch on `prefix` from `start_revision`; returns a cancel function.

        `callback` receives pyetcd WatchResponses (events carry prev_kv) or an
        exception (RevisionCompactedError, a gRPC error) when the watch ends.
        """
        try:
            watch_id = self._call("add_watch_prefix_callback", prefix, callback, client=self.client,
                                  start_revision=start_revision, prev_kv=True)
        except etcd_errors.RevisionCompactedError as e:
            callback(e)
            return lambda: None
        except etcd_errors.WatchTimedOut:
            raise unavailable(f"storage is unavailable: cannot start a watch on etcd at {self.urls}") from None

        def cancel():
            try:
                self.client.cancel_watch(watch_id)
            except Exception:  # etcd gone: the watch is gone with it
                pass
        return cancel


class RevisionConflict(APIError):
    """409 Conflict from etcd itself: the key moved past the revision the write was based on.

    Only this is retried by guaranteed_update; a Conflict raised by the caller's
    own checks (a stale resourceVersion or uid in the request) is final.
    """


def is_conflict(err: Exception) -> bool:
    return isinstance(err, RevisionConflict)


def encode_continue(start: bytes, revision: int) -> str:
    """The continue token: the next key (relative to the list's prefix) and the list revision."""
    doc = {"v": "meta.k8s.io/v1", "rv": revision, "start": start.decode("utf-8", "surrogateescape")}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[bytes, int]:
    """(start key suffix, revision) from a continue token; 400 when it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
        rev, start = int(doc["rv"]), doc["start"]
        if doc.get("v") != "meta.k8s.io/v1" or not 0 < rev < 1 << 63 or not isinstance(start, str):
            raise ValueError
        return start.encode("utf-8", "surrogateescape"), rev
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        raise bad_request(f"continue key is not valid: {token!r}") from None


def bootstrap_namespaces(storage: Storage, names=("default", "kube-system", "kube-node-lease")) -> None:
    """Create the namespaces every cluster starts with (idempotent)."""
    from .resources import lookup
    from .strategies import strategy_for
    ns = lookup("", "v1", "namespaces")
    strategy = strategy_for(ns)
    for name in names:
        obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        strategy.before_create(obj)
        try:
            storage.create(ns, None, name, obj)
        except APIError as e:
            if e.reason != "AlreadyExists":
                raise
