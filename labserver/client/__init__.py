"""The one API client every component imports: REST calls, informers, label selectors (client-go, small).

The kubelet, the scheduler and the controllers never import each other; they
all talk to the API server through this package, which imports none of them.

The names below are loaded on first use (PEP 562): the API server needs only
the label selectors, and importing them must not load `requests` and its
dependencies (about 5 MB of resident memory) into it.
"""
from __future__ import annotations

import importlib

_WHERE = {
    "Informer": "informer", "object_key": "informer",
    "selector_matches": "labels", "selector_string": "labels",
    "APIClient": "rest", "APIStatusError": "rest", "APIUnavailable": "rest", "parse_servers": "rest",
    "server_from_kubeconfig": "rest",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
