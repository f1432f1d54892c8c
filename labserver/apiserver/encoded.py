"""Each stored object's JSON answer, kept so a JSON LIST does not decode and re-encode what did not change.

A LIST answers every object as etcd holds it plus one field, its
metadata.resourceVersion (the key's mod_revision, never stored). Decoding
1,000 stored objects and encoding them again cost most of a LIST's time, and
Python's garbage collector, woken by every dict the decoder builds, more
than the decoding itself. Upstream avoids the same work with its watch cache
(objects decoded once) and its serialization cache (cachingObject: each
object encoded once per format).

Here, per etcd key: the stored value, and the JSON answer for it cut in two
around its resourceVersion. The answer is made by the general path itself
(Storage.decode, then dumps) with a marker string as the resourceVersion, so
joining the two halves around any revision gives exactly the bytes the
general path gives: same keys, same order, same escaping, and a stored
`resourceVersion` anywhere else (a label, an annotation, a nested map) is
left alone because only the marker is replaced. An entry is used only when
the value etcd returns now is byte for byte the value it was made from, so
an update, a write behind the server's back, or a new etcd with the same
revisions all make a fresh entry. A value the general path cannot decode
raises here as it does there.

Beside the answer, an entry keeps what selectors read of the object
(selectors.selectable: its labels and selectable fields, as upstream's watch
cache keeps them), so a LIST with a label or field selector is also answered
without decoding each object again.

The cache is per process (each --workers process has its own) and bounded:
past MAX_BYTES the entries made first are dropped first.
"""
from __future__ import annotations

import threading
from typing import Callable

MAX_BYTES = 16 << 20   # stored values and answers kept, in bytes (about 6,000 typical pods)

# A resourceVersion no object can have: it encodes as one JSON string we can find again.
_MARK = "\x00labserver:resourceVersion\x00"


class EncodedObjects:
    """key -> (stored value, mod_revision, the answer's pieces at that revision, its selectable view)."""

    def __init__(self, decode: Callable[[bytes, int], dict], dumps: Callable[[object], bytes],
                 max_bytes: int = MAX_BYTES):
        self._decode, self._dumps, self.max_bytes = decode, dumps, max_bytes
        self._mark = dumps(_MARK)
        self._entries: dict[bytes, tuple] = {}
        self._size = 0
        self._lock = threading.Lock()

    def parts(self, kv, view: Callable[[dict], object]) -> tuple[tuple[bytes, ...], object]:
        """(pieces, view) of an etcd KeyValue's object: the pieces join to its JSON answer with
        metadata.resourceVersion = its mod_revision, i.e. dumps(decode(kv.value, kv.mod_revision));
        the view is view(decoded object), made once per stored value (the same function for a key)."""
        key, value = kv.key, kv.value
        entry = self._entries.get(key)
        if entry is None or entry[0] != value:
            entry = self._make(key, value, kv.mod_revision, view)
        if entry[1] == kv.mod_revision:
            return entry[2], entry[3]
        head, _, tail = entry[2]   # the same value written again: only the revision differs
        return (head, b"%d" % kv.mod_revision, tail), entry[3]

    def _make(self, key: bytes, value: bytes, mod_revision: int, view: Callable[[dict], object]) -> tuple:
        obj = self._decode(value, mod_revision)
        seen = view(obj)
        obj["metadata"]["resourceVersion"] = _MARK
        head, sep, tail = self._dumps(obj).partition(self._mark)
        if not sep or self._mark in tail:   # the marker cannot be told apart here: the general path, not kept
            obj["metadata"]["resourceVersion"] = str(mod_revision)
            return value, mod_revision, (self._dumps(obj),), seen
        entry = (value, mod_revision, (head + b'"', b"%d" % mod_revision, b'"' + tail), seen)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= _cost(key, old)
            while self._entries and self._size + _cost(key, entry) > self.max_bytes:
                first = next(iter(self._entries))
                self._size -= _cost(first, self._entries.pop(first))
            if _cost(key, entry) <= self.max_bytes:
                self._entries[key] = entry
                self._size += _cost(key, entry)
        return entry

    def __len__(self) -> int:
        return len(self._entries)


def _cost(key: bytes, entry: tuple) -> int:
    """The bytes an entry holds (its small view is not counted)."""
    return len(key) + len(entry[0]) + sum(map(len, entry[2]))
