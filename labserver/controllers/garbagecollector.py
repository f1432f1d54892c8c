"""The garbage collector (pkg/controller/garbagecollector/): dependents follow their owners.

An object's metadata.ownerReferences name its owners by kind, name and uid.
The collector watches every resource discovery lists (that can be listed,
watched and deleted), keeps a graph of owner uid -> dependents, and for each
object that changed (or whose owner went away) decides:

- all its owners are gone (not in the graph, and a GET says 404 or another
  uid): delete it, in the background (its own dependents follow the same way);
- some are gone: take just those references off;
- it is being deleted with the `orphan` finalizer (propagationPolicy
  Orphan): take its reference off every dependent, then remove the finalizer;
- it is being deleted with `foregroundDeletion` (propagationPolicy
  Foreground): delete its dependents (in the foreground too), and remove the
  finalizer once none is left, so the API server lets the owner go last.

`kubectl delete deployment web` is Background: the Deployment goes at once,
then its ReplicaSets, then their pods.
"""
from __future__ import annotations

import logging
import threading

from ..client import APIStatusError
from .base import Controller

log = logging.getLogger("controllers.garbagecollector")

ORPHAN, FOREGROUND = "orphan", "foregroundDeletion"
NEEDED_VERBS = {"list", "watch", "delete"}


class GarbageCollector(Controller):
    name = "garbagecollector"

    def __init__(self, client, **_options):
        super().__init__(client)
        self.kinds: dict[tuple[str, str], tuple[str, str, bool]] = {}   # (apiVersion, kind) -> (base, plural, ns)
        self.objects: dict[str, dict] = {}                              # uid -> object
        self.dependents: dict[str, set[str]] = {}                        # owner uid -> dependent uids
        self._lock = threading.Lock()
        for group_version, resource in self._discover():
            base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
            self.kinds[(group_version, resource["kind"])] = (base, resource["name"], resource["namespaced"])
            self.informer(f"{base}/{resource['name']}", self._event)

    def _discover(self) -> list[tuple[str, dict]]:
        """Every (groupVersion, resource) that can be listed, watched and deleted (preferred versions)."""
        versions = ["v1"] + [g["preferredVersion"]["groupVersion"]
                             for g in self.client.get("/apis").get("groups") or []]
        found = []
        for gv in versions:
            doc = self.client.get(f"/api/{gv}" if gv == "v1" else f"/apis/{gv}")
            for resource in doc.get("resources") or []:
                if "/" not in resource["name"] and NEEDED_VERBS <= set(resource.get("verbs") or []):
                    found.append((gv, resource))
        return found

    # -- the graph -----------------------------------------------------------------------------

    def _event(self, kind: str, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        if not uid:
            return
        with self._lock:
            old = self.objects.pop(uid, None)
            for ref in (old or {}).get("metadata", {}).get("ownerReferences") or []:
                self.dependents.get(ref.get("uid"), set()).discard(uid)
            if kind != "DELETED":
                self.objects[uid] = obj
                for ref in meta.get("ownerReferences") or []:
                    self.dependents.setdefault(ref.get("uid"), set()).add(uid)
            waiting = [ref.get("uid") for ref in meta.get("ownerReferences") or []]
            orphans = list(self.dependents.get(uid, ())) if kind == "DELETED" else []
        if kind != "DELETED":
            self.queue.add(uid)
        for other in orphans + waiting:    # dependents of a deleted owner; owners waiting on their dependents
            self.queue.add(other)

    def _path(self, api_version: str, kind: str, namespace: str | None, name: str) -> str | None:
        found = self.kinds.get((api_version, kind))
        if found is None:
            return None
        base, plural, namespaced = found
        return f"{base}/namespaces/{namespace}/{plural}/{name}" if namespaced else f"{base}/{plural}/{name}"

    def _path_of(self, obj: dict) -> str | None:
        meta = obj["metadata"]
        return self._path(obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace"), meta["name"])

    def _owner_exists(self, ref: dict, namespace: str | None) -> bool:
        """In the graph, or (not seen yet) on the server with the same uid; an unknown kind counts as there."""
        if ref.get("uid") in self.objects:
            return True
        path = self._path(ref.get("apiVersion", ""), ref.get("kind", ""), namespace, ref.get("name", ""))
        if path is None:
            return True
        try:
            return self.client.get(path)["metadata"].get("uid") == ref.get("uid")
        except APIStatusError as e:
            if e.code in (404, 410):
                return False
            raise

    # -- the decisions -------------------------------------------------------------------------

    def sync(self, uid: str) -> float | None:
        obj = self.objects.get(uid)
        if obj is None:
            return None
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and ORPHAN in finalizers:
            return self._orphan_dependents(obj)
        if meta.get("deletionTimestamp") and FOREGROUND in finalizers:
            return self._delete_dependents_first(obj)
        refs = meta.get("ownerReferences") or []
        if not refs:
            return None
        gone = [ref for ref in refs if not self._owner_exists(ref, meta.get("namespace"))]
        if gone and len(gone) == len(refs):
            self._delete(obj, "Background")
        elif gone:
            keep = [ref for ref in refs if ref not in gone]
            self._patch(obj, {"metadata": {"ownerReferences": keep}})
        else:
            owners = [self.objects.get(ref.get("uid")) for ref in refs]
            if all(o and o["metadata"].get("deletionTimestamp") and FOREGROUND in (o["metadata"].get("finalizers") or [])
                   for o in owners):
                self._delete(obj, "Foreground")
        return None

    def _orphan_dependents(self, owner: dict) -> float | None:
        uid = owner["metadata"]["uid"]
        for dep_uid in list(self.dependents.get(uid, ())):
            dep = self.objects.get(dep_uid)
            if dep is not None:
                keep = [r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
                self._patch(dep, {"metadata": {"ownerReferences": keep or None}})
        self._remove_finalizer(owner, ORPHAN)
        return None

    def _delete_dependents_first(self, owner: dict) -> float | None:
        uid = owner["metadata"]["uid"]
        left = [self.objects[d] for d in list(self.dependents.get(uid, ())) if d in self.objects]
        for dep in left:
            if not dep["metadata"].get("deletionTimestamp"):
                self._delete(dep, "Foreground")
        if left:
            return 1.0    # look again (also woken when a dependent goes)
        self._remove_finalizer(owner, FOREGROUND)
        return None

    # -- writes --------------------------------------------------------------------------------

    def _delete(self, obj: dict, policy: str) -> None:
        path = self._path_of(obj)
        log.info("deleting %s %s (%s)", obj.get("kind"), path, policy)
        try:
            self.client.delete(path, {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy,
                                      "preconditions": {"uid": obj["metadata"]["uid"]}})
        except APIStatusError as e:
            if e.code not in (404, 409):
                raise

    def _patch(self, obj: dict, body: dict) -> None:
        try:
            self.client.patch(self._path_of(obj), body, "merge")
        except APIStatusError as e:
            if e.code != 404:
                raise

    def _remove_finalizer(self, obj: dict, finalizer: str) -> None:
        def without(current: dict) -> None:
            current["metadata"]["finalizers"] = [f for f in current["metadata"].get("finalizers") or []
                                                 if f != finalizer]
        try:
            self.client.update(self._path_of(obj), without)
        except APIStatusError as e:
            if e.code != 404:
                raise
