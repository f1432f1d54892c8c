"""What one request may cost: body decoding with upstream's limits, so no input costs more than its size.

kube-apiserver reads at most 3 MiB of body (413 beyond), decodes JSON with
Go's encoding/json rules (no NaN or Infinity, integers must fit the Go type),
refuses YAML whose aliases expand far beyond the document (goyaml: "document
contains excessive aliasing"), and bounds JSON patches (10,000 operations,
and what `copy` operations may add). Python adds one limit of its own: its
recursion. Nesting deeper than MAX_DEPTH is refused here, before any
recursive code (deepcopy, json.dumps, our own walks) sees it.

Everything decoded goes through `loads(data, media)` and `check_shape`.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import math

import yaml

from .errors import bad_request

MAX_BODY = 3 * 1024 * 1024          # kube-apiserver's MaxRequestBodyBytes
MAX_DEPTH = 100                     # nesting levels of a body (objects and lists)
MAX_JSON_PATCH_OPERATIONS = 10000   # apiserver handlers/patch.go maxJSONPatchOperations
COPY_SIZE_LIMIT = MAX_BODY          # bytes JSON patch `copy` operations may add, in total
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_SCALARS = (str, int, float, bool, type(None))


class DecodeError(ValueError):
    """A body that cannot be decoded; the caller words the 400."""


def _refuse_constant(name: str):
    raise DecodeError(f"invalid character '{name[0]}' looking for beginning of value ({name} is not JSON)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise DecodeError(f"json: cannot unmarshal number {text} into a 64-bit float")
    return value


def loads_json(data: bytes | str):
    """JSON as Go's decoder reads it: NaN/Infinity and 1e999 refused, too deep refused (DecodeError)."""
    try:
        return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise DecodeError(f"exceeded max depth of {MAX_DEPTH}") from None


class _YAMLLoader(yaml.SafeLoader):
    """YAML 1.1 safe loading, except timestamps stay strings (as sigs.k8s.io/yaml leaves them)."""


_YAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def loads_yaml(data: bytes | str):
    """YAML to JSON-like values; a YAMLError or DecodeError when it cannot be."""
    try:
        return yaml.load(data, Loader=_YAMLLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise DecodeError(f"exceeded max depth of {MAX_DEPTH}") from None


def check_shape(value, size: int, what: str = "the request body") -> None:
    """400 unless `value` is plain JSON no deeper than MAX_DEPTH, with finite numbers, int64 integers,
    and no more nodes than a document of `size` bytes can hold (YAML aliases expand; cycles never end)."""
    budget = 2 * size + 10000
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise bad_request(f"error decoding {what}: yaml: document contains excessive aliasing")
        if isinstance(node, dict):
            if depth > MAX_DEPTH:
                raise bad_request(f"error decoding {what}: exceeded max depth of {MAX_DEPTH}")
            for key, item in node.items():
                if not isinstance(key, _SCALARS):
                    raise bad_request(f"error decoding {what}: a map key of type {type(key).__name__} "
                                      f"cannot be converted to JSON")
                stack.append((item, depth + 1))
        elif isinstance(node, (list, tuple)):
            if depth > MAX_DEPTH:
                raise bad_request(f"error decoding {what}: exceeded max depth of {MAX_DEPTH}")
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise bad_request(f"error decoding {what}: {node} is not a JSON number")
        elif isinstance(node, int) and not isinstance(node, bool):
            if not INT64_MIN <= node <= INT64_MAX:
                raise bad_request(f"error decoding {what}: json: cannot unmarshal number {node} "
                                  f"into a 64-bit integer")
        elif not isinstance(node, _SCALARS):
            raise bad_request(f"error decoding {what}: a value of type {type(node).__name__} "
                              f"cannot be converted to JSON")


def copy_json(value):
    """A deep copy of a JSON-like value (C speed, no Python recursion)."""
    return json.loads(json.dumps(value))


def query_int(name: str, raw: str) -> int:
    """A query parameter as Go's strconv.ParseInt(raw, 10, 64) reads it; 400 otherwise."""
    text = raw.strip()
    if not text or len(text) > 20 or not text.lstrip("+-").isdigit() or text.count("-") + text.count("+") > 1:
        raise bad_request(f"invalid value for {name}: {raw!r}: must be an integer")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise bad_request(f'invalid value for {name}: strconv.ParseInt: parsing "{raw}": value out of range')
    return value


@functools.cache
def _libc_function(name: str):
    """A function of the C library by name, or None (no glibc, or it lacks it)."""
    path = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(path), name) if path else None
    except (OSError, AttributeError):
        return None


def return_big_buffers_to_the_os() -> None:
    """Make glibc mmap every allocation of 128 KiB or more, and use at most 2 malloc arenas.

    A request may carry 3 MiB, and a refused JSON patch may build a few MiB
    before its limit stops it. By default glibc raises its mmap threshold
    after such a buffer is freed, so the next ones come from the heap and stay
    in the process; with one arena per thread, a burst of 200 concurrent bad
    requests left the server ~11% bigger for good (tests/bench/soak_malformed.py).
    Fixed here, freed big buffers go back to the OS at once. No-op without glibc.
    """
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        m_mmap_threshold, m_arena_max = -3, -8     # <malloc.h>
        mallopt(m_mmap_threshold, 128 * 1024)
        mallopt(m_arena_max, 2)


def trim_heap() -> None:
    """Give glibc's free heap pages back to the OS (malloc_trim), e.g. once a burst of requests is over:
    freed memory below the top of the heap otherwise stays in the process. No-op without glibc."""
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim(0)
