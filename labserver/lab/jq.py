"""A tiny subset of jq, so the notebooks can filter JSON the way the post does.

The post pipes every curl through `jq` to cut noise (`jq '.items'`,
`jq 'del(.spec.containers, .spec.volumes)'`). The notebooks show those same
filters beside each request and apply them with this module, so a reader can
paste the printed `curl ... | jq '...'` line into a shell and get the same
answer, while the lab itself needs no jq binary.

Supported: paths (`.`, `.a.b`, `.items[0]`, `.items[]`), pipes (`|`),
`del(path, ...)` and object construction (`{name: .metadata.name, status: .status}`).
A filter yields a list of results, as jq prints one JSON value per result.
"""
from __future__ import annotations

import copy
import re

_STEP = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\.?\[(\d*)\]|\."([^"]+)"')


class JqError(ValueError):
    """The filter uses something outside the supported subset."""


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside brackets, braces and parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _path_steps(path: str) -> list:
    """'.a[0].b[]' -> ['a', 0, 'b', ITER]."""
    path = path.strip()
    if path == ".":
        return []
    steps, pos = [], 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            raise JqError(f"unsupported jq path {path!r}")
        name, index, quoted = m.groups()
        if name or quoted:
            steps.append(name or quoted)
        else:
            steps.append(int(index) if index else ITER)
        pos = m.end()
    return steps


ITER = object()


def _walk(value, steps: list) -> list:
    if not steps:
        return [value]
    step, rest = steps[0], steps[1:]
    if step is ITER:
        items = value.values() if isinstance(value, dict) else (value or [])
        return [out for item in items for out in _walk(item, rest)]
    if value is None:
        return _walk(None, rest)
    try:
        return _walk(value[step], rest)
    except (KeyError, IndexError):
        return _walk(None, rest)
    except TypeError:
        raise JqError(f"cannot index {type(value).__name__} with {step!r}") from None


def _delete(value, steps: list) -> None:
    *parents, last = steps
    targets = _walk(value, parents) if parents else [value]
    for target in targets:
        if isinstance(target, dict):
            target.pop(last, None)
        elif isinstance(target, list) and isinstance(last, int) and last < len(target):
            del target[last]


def _stage(value, stage: str) -> list:
    if stage.startswith("del(") and stage.endswith(")"):
        result = copy.deepcopy(value)
        for path in _split_top(stage[4:-1], ","):
            _delete(result, _path_steps(path))
        return [result]
    if stage.startswith("{") and stage.endswith("}"):
        obj = {}
        for field in _split_top(stage[1:-1], ","):
            key, _, expr = field.partition(":")
            outs = _walk(value, _path_steps(expr)) if expr else [value.get(key.strip())]
            obj[key.strip()] = outs[0] if outs else None
        return [obj]
    return _walk(value, _path_steps(stage))


def jq(value, program: str) -> list:
    """Apply a jq filter from the supported subset; return its results."""
    results = [value]
    for stage in _split_top(program, "|"):
        results = [out for item in results for out in _stage(item, stage)]
    return results
