"""Namespaces: DNS-1123 label names, status.phase Active (pkg/registry/core/namespace/strategy.go).

Namespaces are created Active with the `kubernetes` finalizer in their spec,
as upstream; the system namespaces cannot be deleted.
"""
from __future__ import annotations

from . import Strategy

PROTECTED = ("default", "kube-system", "kube-public", "kube-node-lease")


class NamespaceStrategy(Strategy):
    label_names = True
    has_status = True

    def default(self, ns: dict) -> None:
        ns.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])

    def prepare_for_create(self, ns: dict) -> None:
        ns["status"] = {"phase": "Active"}
        labels = ns["metadata"].setdefault("labels", {})
        if isinstance(labels, dict) and ns["metadata"].get("name"):
            labels["kubernetes.io/metadata.name"] = ns["metadata"]["name"]
