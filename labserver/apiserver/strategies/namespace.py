"""Namespaces: DNS-1123 label names, a lifecycle of Active then Terminating (pkg/registry/core/namespace/).

Namespaces are created Active with the `kubernetes` finalizer in their spec,
as upstream. Only `namespaces/finalize` changes spec.finalizers; the main
endpoint keeps the old ones and the status. A Terminating namespace whose
last spec finalizer goes (and that has no metadata.finalizers) is removed by
that very update (upstream's ShouldDeleteNamespaceDuringUpdate). Deleting a
namespace, and which ones may never be deleted, is in handlers/delete.py.
"""
from __future__ import annotations

import copy

from . import Strategy
from . import validation as v

PROTECTED = ("default", "kube-system", "kube-public", "kube-node-lease")
FINALIZER = "kubernetes"     # the namespace controller's: "everything in it is deleted"
ACTIVE, TERMINATING = "Active", "Terminating"


def is_terminating(ns: dict) -> bool:
    return bool(ns["metadata"].get("deletionTimestamp")) or (ns.get("status") or {}).get("phase") == TERMINATING


class NamespaceStrategy(Strategy):
    label_names = True
    has_status = True
    return_deleted_object = True

    def default(self, ns: dict) -> None:
        spec = v.expect(ns.get("spec"), dict, "Namespace", "Namespace.spec")
        if spec is None:
            spec = ns["spec"] = {}
        if spec.get("finalizers") is None:
            spec["finalizers"] = [FINALIZER]

    def prepare_for_create(self, ns: dict) -> None:
        ns["status"] = {"phase": ACTIVE}
        labels = ns["metadata"].setdefault("labels", {})
        if isinstance(labels, dict) and ns["metadata"].get("name"):
            labels["kubernetes.io/metadata.name"] = ns["metadata"]["name"]

    def prepare_for_update(self, new: dict, old: dict) -> None:
        super().prepare_for_update(new, old)
        new.setdefault("spec", {})["finalizers"] = copy.deepcopy((old.get("spec") or {}).get("finalizers"))
        if new["spec"]["finalizers"] is None:
            new["spec"].pop("finalizers")

    def prepare_for_subresource_update(self, subresource: str, new: dict, old: dict) -> None:
        """namespaces/finalize: the spec (its finalizers) and metadata come from the body, the status stays."""
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
        spec = v.expect(new.get("spec"), dict, "Namespace", "Namespace.spec")
        if spec is None:
            new["spec"] = {}

    def validate(self, ns: dict) -> list[dict]:
        finalizers = v.expect((ns.get("spec") or {}).get("finalizers"), list, "Namespace",
                              "NamespaceSpec.spec.finalizers")
        return v.finalizer_causes(finalizers, "spec.finalizers")

    def should_delete_during_update(self, new: dict, old: dict) -> bool:
        return not (new.get("spec") or {}).get("finalizers") and super().should_delete_during_update(new, old)
