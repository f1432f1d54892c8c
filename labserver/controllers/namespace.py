"""The namespace controller (pkg/controller/namespace/namespace_controller.go).

A reconcile loop over a list + watch of namespaces: every namespace with a
deletionTimestamp goes into the work queue, and the worker lets the
NamespaceDeleter empty and finalize it. A namespace that still has content
comes back after a short wait; a failed pass (API server away, an error
answer) comes back with a doubling back-off (controllers/base.py).
"""
from __future__ import annotations

from ..client import APIClient
from .base import Controller
from .namespace_deleter import NamespaceDeleter


class NamespaceController(Controller):
    """List + watch namespaces; empty and finalize the Terminating ones."""

    name = "namespace"
    backoff = (0.5, 30.0)

    def __init__(self, client: APIClient, **_options):
        super().__init__(client)
        self.deleter = NamespaceDeleter(client)
        self.namespaces = self.informer("/api/v1/namespaces", self._observe)

    def _observe(self, kind: str, ns: dict) -> None:
        if kind != "DELETED" and (ns.get("metadata") or {}).get("deletionTimestamp"):
            self.queue.add(ns["metadata"]["name"])

    def sync(self, name: str) -> float | None:
        return self.deleter.sync(name)
