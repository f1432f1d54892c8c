"""Emptying a Terminating namespace (pkg/controller/namespace/deletion/namespaced_resources_deleter.go).

For a namespace with a deletionTimestamp and the `kubernetes` finalizer:
find every namespaced resource the server serves (discovery: /api/v1 and the
preferred version of each group in /apis), delete all of it in the namespace
(DELETE on the collection where the resource allows it, else item by item;
pods get their grace period, so their kubelet stops their containers first),
then list again. While anything is left, the namespace's status conditions
say what (NamespaceContentRemaining, NamespaceFinalizersRemaining,
NamespaceDeletionContentFailure, NamespaceDeletionDiscoveryFailure) and the
caller tries again later; once nothing is left the `kubernetes` finalizer is
removed through `namespaces/<name>/finalize`, and the API server removes
the namespace.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

from ..client import APIClient, APIStatusError

log = logging.getLogger("controllers.namespace")

FINALIZER = "kubernetes"
RETRY_SECONDS = 1.0   # while content remains (upstream waits for the longest remaining grace period)

# Condition type -> (reason, message) when all is well, and the reason when it is not
# (upstream: pkg/controller/namespace/deletion/status_condition_utils.go).
CONDITIONS = {
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered", "All resources successfully discovered",
                                          "DiscoveryFailed"),
    "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions", "All legacy kube types successfully "
                                                    "parsed", "GroupVersionParsingFailed"),
    "NamespaceDeletionContentFailure": ("ContentDeleted", "All content successfully deleted, may be waiting on "
                                        "finalization", "ContentDeletionFailed"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed", "SomeResourcesRemain"),
    "NamespaceFinalizersRemaining": ("ContentHasNoFinalizers", "All content-preserving finalizers finished",
                                     "SomeFinalizersRemain"),
}


@dataclass(frozen=True)
class Resource:
    """A namespaced resource discovery lists: enough to list and delete it in one namespace."""

    group_version: str   # "v1", "coordination.k8s.io/v1"
    name: str            # "pods"
    verbs: frozenset

    @property
    def group_resource(self) -> str:
        """As upstream prints a GroupResource: `pods`, `leases.coordination.k8s.io`."""
        group = self.group_version.rpartition("/")[0]
        return f"{self.name}.{group}" if group else self.name

    def path(self, namespace: str) -> str:
        root = "/api/" if "/" not in self.group_version else "/apis/"
        return f"{root}{self.group_version}/namespaces/{quote(namespace)}/{self.name}"


def discover(client: APIClient) -> tuple[list[Resource], list[str]]:
    """Every namespaced resource that can be listed and deleted; and the group versions that failed."""
    group_versions = list(client.get("/api").get("versions") or [])
    for group in client.get("/apis").get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        if preferred:
            group_versions.append(preferred)
    found, failed = [], []
    for gv in group_versions:
        root = "/api/" if "/" not in gv else "/apis/"
        try:
            listing = client.get(root + gv)
        except APIStatusError as e:
            failed.append(f"{gv}: {e.message}")
            continue
        for r in listing.get("resources") or []:
            verbs = frozenset(r.get("verbs") or ())
            if r.get("namespaced") and "/" not in r["name"] and "list" in verbs \
                    and verbs & {"delete", "deletecollection"}:
                found.append(Resource(gv, r["name"], verbs))
    return found, failed


class NamespaceDeleter:
    """One pass over one namespace: returns None when done, or seconds to wait before the next pass."""

    def __init__(self, client: APIClient):
        self.client = client

    def sync(self, name: str) -> float | None:
        try:
            ns = self.client.get(f"/api/v1/namespaces/{quote(name)}")
        except APIStatusError as e:
            if e.code == 404:
                return None
            raise
        if not ns["metadata"].get("deletionTimestamp") or FINALIZER not in (ns.get("spec") or {}).get(
                "finalizers", []):
            return None
        failures: dict[str, list[str]] = {}
        resources, failed = discover(self.client)
        if failed:
            failures["NamespaceDeletionDiscoveryFailure"] = failed
        remaining, finalizers, errors = {}, {}, []
        for resource in resources:
            try:
                self._delete_all(resource, name)
                items = self.client.get(resource.path(name)).get("items") or []
            except APIStatusError as e:
                errors.append(f"{resource.group_resource}: {e.message}")
                continue
            if items:
                remaining[resource.group_resource] = len(items)
                for item in items:
                    for f in item["metadata"].get("finalizers") or []:
                        finalizers[f] = finalizers.get(f, 0) + 1
        if errors:
            failures["NamespaceDeletionContentFailure"] = errors
        messages = self._messages(failures, remaining, finalizers)
        if self._set_conditions(name, messages) is None:
            return None   # the namespace went meanwhile
        if messages:
            log.info("namespace %s: %s", name, "; ".join(messages.values()))
            return RETRY_SECONDS
        self._finalize(name)
        return None

    def _delete_all(self, resource: Resource, namespace: str) -> None:
        path = resource.path(namespace)
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if "deletecollection" in resource.verbs:
            self.client.delete(path, options)
            return
        for item in self.client.get(path).get("items") or []:
            try:
                self.client.delete(f"{path}/{quote(item['metadata']['name'])}", options)
            except APIStatusError as e:
                if e.code != 404:
                    raise

    @staticmethod
    def _messages(failures: dict, remaining: dict, finalizers: dict) -> dict[str, str]:
        """Condition type -> message, for the conditions that are True (as upstream words them)."""
        out = {}
        if "NamespaceDeletionDiscoveryFailure" in failures:
            items = failures["NamespaceDeletionDiscoveryFailure"]
            out["NamespaceDeletionDiscoveryFailure"] = (f"Discovery failed for some groups, {len(items)} failing: "
                                                        + ", ".join(items))
        if "NamespaceDeletionContentFailure" in failures:
            items = failures["NamespaceDeletionContentFailure"]
            out["NamespaceDeletionContentFailure"] = (f"Failed to delete all resource types, {len(items)} "
                                                      f"remaining: " + ", ".join(items))
        if remaining:
            out["NamespaceContentRemaining"] = "Some resources are remaining: " + ", ".join(
                f"{gr} has {n} resource instances" for gr, n in sorted(remaining.items()))
        if finalizers:
            out["NamespaceFinalizersRemaining"] = "Some content in the namespace has finalizers remaining: " + \
                ", ".join(f"{f} in {n} resource instances" for f, n in sorted(finalizers.items()))
        return out

    def _set_conditions(self, name: str, messages: dict[str, str]) -> dict | None:
        """Write the five deletion conditions through namespaces/<name>/status when they change."""
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        def mutate(ns: dict) -> dict:
            old = {c.get("type"): c for c in (ns.get("status") or {}).get("conditions") or []}
            conditions = []
            for ctype, (ok_reason, ok_message, bad_reason) in CONDITIONS.items():
                bad = ctype in messages
                status = "True" if bad else "False"
                previous = old.get(ctype) or {}
                since = previous.get("lastTransitionTime") if previous.get("status") == status else None
                conditions.append({"type": ctype, "status": status, "lastTransitionTime": since or now,
                                   "reason": bad_reason if bad else ok_reason,
                                   "message": messages[ctype] if bad else ok_message})
            others = [c for t, c in old.items() if t not in CONDITIONS]
            ns.setdefault("status", {})["conditions"] = others + conditions
            return ns

        path = f"/api/v1/namespaces/{quote(name)}"
        try:
            current = self.client.get(path)
            wanted = mutate({**current, "status": dict(current.get("status") or {})})
            if wanted["status"] == current.get("status"):
                return current
            return self.client.update(path + "/status", mutate)
        except APIStatusError as e:
            if e.code == 404:
                return None
            raise

    def _finalize(self, name: str) -> None:
        """Take `kubernetes` off spec.finalizers (PUT namespaces/<name>/finalize); the server then removes it."""
        path = f"/api/v1/namespaces/{quote(name)}"

        def without_ours(ns: dict) -> dict:
            ns.setdefault("spec", {})["finalizers"] = [f for f in ns["spec"].get("finalizers") or [] if f != FINALIZER]
            return ns
        for attempt in range(5):
            try:
                ns = without_ours(self.client.get(path))
                self.client.put(path + "/finalize", ns)
                log.info("namespace %s: all content deleted; finalized", name)
                return
            except APIStatusError as e:
                if e.code == 404:
                    return
                if e.code != 409 or attempt == 4:
                    raise
