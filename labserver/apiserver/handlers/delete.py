"""DELETE: graceful deletion, finalizers, namespaces (endpoints/handlers/delete.go + registry Store.Delete).

DeleteOptions come from the body when there is one (kubectl, client-go, the
official client, the kubelet), else from the query (`?gracePeriodSeconds=0&dryRun=All`),
as upstream reads them; `dryRun: ["All"]` in either place writes nothing (upstream
would ignore a query's dryRun next to a body; we never delete on a dry run).
Then, per object (rest.BeforeDelete, Store.Delete):

- a pod bound to a node gets a grace period: deletionTimestamp = now + grace
  and deletionGracePeriodSeconds, and stays until its kubelet deletes it with
  grace 0 (a later, shorter grace shortens it; a longer one changes nothing);
- an object with metadata.finalizers is never removed by a DELETE: it is
  marked (deletionTimestamp, grace 0 when it has no grace of its own) and
  stays until an update removes its last finalizer (see update.py);
- propagationPolicy becomes a finalizer, as upstream's store does it: Orphan
  adds `orphan`, Foreground `foregroundDeletion` (the garbage collector acts
  on them and removes them); Background, the default, adds none;
- a namespace is first marked Terminating; the namespace controller empties
  it and removes its `kubernetes` finalizer through `namespaces/<name>/finalize`;
- anything else is deleted in a transaction on the revision read.

Pods and namespaces answer with the object, other resources with a Success
Status, as upstream's stores do. DELETE on a collection deletes what its
label and field selectors match, one by one, and answers with that list.
"""
from __future__ import annotations

import calendar
import copy
import time
from dataclasses import replace

from flask import Response, request

from .. import typecheck
from ...retry import retry_on_conflict
from ..limits import copy_json
from ..errors import APIError, conflict, forbidden, invalid_options, method_not_allowed, success
from ..strategies import now_rfc3339
from ..strategies import validation as v
from ..strategies.namespace import PROTECTED, TERMINATING
from .list import predicate_for
from .request import Scope, decode, dry_run, int_arg, read_body, respond, respond_object, storage

PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")
GC_ORPHAN, GC_FOREGROUND = "orphan", "foregroundDeletion"   # metav1.FinalizerOrphanDependents, ...DeleteDependents
NAMESPACE_BUSY = ("The system is ensuring all content is removed from this namespace.  Upon completion, this "
                  "namespace will automatically be purged by the system.")


class _Raced(Exception):
    """The object changed between our read and our write: read it again."""


# -- DeleteOptions ------------------------------------------------------------------------

def delete_options() -> dict:
    """DeleteOptions from the body if there is one, else from the query; validated; dryRun as a bool."""
    data = read_body()
    if data.strip():
        options = decode(data, request.headers.get("Content-Type"))
        kind = options.get("kind")
        if kind and kind != "DeleteOptions":
            raise APIError(400, "BadRequest", f"decoded object cannot be converted to DeleteOptions (kind {kind})")
    else:
        options = {"gracePeriodSeconds": int_arg("gracePeriodSeconds", minimum=None),
                   "dryRun": request.args.getlist("dryRun"),
                   "propagationPolicy": request.args.get("propagationPolicy")}
        orphan = request.args.get("orphanDependents")
        if orphan is not None:
            options["orphanDependents"] = orphan in ("true", "1", "True")
        options = {k: val for k, val in options.items() if val not in (None, [])}
    # Upstream ignores the query when there is a body; a dryRun=All in the query is honoured
    # anyway, so that no spelling of "dry run" ever deletes anything.
    query_dry = dry_run(request.args.getlist("dryRun"), "DeleteOptions") if data.strip() else False
    return checked_options(options, query_dry)


def checked_options(options: dict, query_dry: bool = False) -> dict:
    """DeleteOptions validated as upstream (400 for a wrong type, 422 on the options kind); dryRun a bool."""
    typecheck.check_options(options)
    for field, typ in (("gracePeriodSeconds", int), ("dryRun", list), ("preconditions", dict),
                       ("propagationPolicy", str), ("orphanDependents", bool)):
        v.expect(options.get(field), typ, "DeleteOptions", f"DeleteOptions.{field}")
    pre = options.get("preconditions") or {}
    for field in ("uid", "resourceVersion"):
        v.expect(pre.get(field), str, "DeleteOptions", f"Preconditions.preconditions.{field}")
    causes = []
    policy = options.get("propagationPolicy")
    if policy is not None and options.get("orphanDependents") is not None:
        causes.append(v.invalid("propagationPolicy", policy, "orphanDependents and deletionPropagation cannot "
                                "be both set"))
    if policy is not None and policy not in PROPAGATION_POLICIES:
        causes.append(v.not_supported("propagationPolicy", policy, PROPAGATION_POLICIES + ("nil",)))
    if causes:
        raise invalid_options("DeleteOptions", causes)
    options["dryRun"] = dry_run([str(x) for x in options.get("dryRun") or []], "DeleteOptions") or query_dry
    return options


# -- the verbs ----------------------------------------------------------------------------

def delete(scope: Scope) -> Response:
    """200 with the object (marked, or as it was when removed) or a Success Status."""
    return respond_object(scope, delete_one(scope, delete_options()))


def delete_collection(scope: Scope) -> Response:
    """DELETE on a collection: each object the selectors match, as if deleted one by one."""
    if scope.resource.namespaced and scope.namespace is None:
        raise method_not_allowed()
    options = delete_options()
    matching = storage().list(scope.resource, scope.namespace, predicate=predicate_for(scope))
    for obj in matching.items:
        item = replace(scope, namespace=obj["metadata"].get("namespace"), name=obj["metadata"]["name"])
        try:
            delete_one(item, copy.deepcopy(options))
        except APIError as e:
            if e.code != 404:   # gone meanwhile: fine
                raise
    return respond({"kind": scope.resource.list_kind, "apiVersion": scope.resource.group_version,
                    "metadata": {"resourceVersion": matching.resource_version}, "items": matching.items})


def delete_one(scope: Scope, options: dict) -> dict:
    """Delete, mark or leave one object; returns what the DELETE answers with."""
    if scope.resource.name == "namespaces" and scope.name in PROTECTED:
        raise forbidden("namespaces", scope.name, "this namespace may not be deleted")
    pre = options.get("preconditions") or {}

    def attempt() -> dict:
        current = storage().get(scope.resource, scope.namespace, scope.name)
        _check_preconditions(scope, pre, current)
        return _delete_current(scope, options, current)

    # A resourceVersion precondition names one revision: a race with it is a Conflict at once.
    try:
        return retry_on_conflict(attempt, lambda e: isinstance(e, _Raced) and not pre.get("resourceVersion"))
    except _Raced:
        raise conflict(scope.resource.name, scope.name, scope.resource.group) from None


def _check_preconditions(scope: Scope, pre: dict, current: dict) -> None:
    meta = current["metadata"]
    for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        wanted = pre.get(field)
        if wanted and wanted != meta.get(field):
            raise conflict(scope.resource.name, scope.name, scope.resource.group,
                           f"Precondition failed: {label} in precondition: {wanted}, "
                           f"{label} in object meta: {meta.get(field)}")


def _delete_current(scope: Scope, options: dict, current: dict) -> dict:
    """One attempt on the object as read (Store.Delete + updateForGracefulDeletionAndFinalizers)."""
    if scope.resource.name == "namespaces":
        marked = _begin_namespace_termination(scope, options, current)
        if marked is not None:
            return marked
    new = copy_json(current)
    graceful, pending = before_delete(scope, new, options)
    finalizers_changed = scope.resource.name != "namespaces" and set_gc_finalizers(new, options)
    if pending:   # a graceful deletion under way: at most its finalizers change
        return _store(scope, options, new, current) if finalizers_changed else _deleted_answer(scope, current)
    finalizers = new["metadata"].get("finalizers")
    if finalizers and not graceful:
        mark_as_deleting(new)
    if finalizers or (graceful and options["gracePeriodSeconds"] > 0):
        return _store(scope, options, new, current)
    if not options["dryRun"]:
        try:
            scope.strategy.delete(storage(), scope.namespace, scope.name, current,
                                  int(current["metadata"]["resourceVersion"]))
        except APIError as e:
            if e.reason == "Conflict":
                raise _Raced() from None
            raise
    return _deleted_answer(scope, new if graceful else current)


def _store(scope: Scope, options: dict, new: dict, current: dict) -> dict:
    """Write the marked object on the revision read (nothing when unchanged or a dry run)."""
    if new == current or options["dryRun"]:
        return new
    try:
        return storage().update(scope.resource, scope.namespace, scope.name, new,
                                int(current["metadata"]["resourceVersion"]))
    except APIError as e:
        if e.reason == "Conflict":
            raise _Raced() from None
        raise


def _deleted_answer(scope: Scope, obj: dict) -> dict:
    """The object for stores that return it (pods, namespaces), else a Success Status (finalizeDelete)."""
    if scope.strategy.return_deleted_object:
        return obj
    meta = obj["metadata"]
    return success(scope.resource.name, meta["name"], meta.get("uid"), scope.resource.group)


# -- the rules ----------------------------------------------------------------------------

def before_delete(scope: Scope, obj: dict, options: dict) -> tuple[bool, bool]:
    """rest.BeforeDelete: (graceful, pending). Marks `obj` and settles options["gracePeriodSeconds"].

    graceful: the object is marked with a grace period (possibly 0).
    pending: a graceful deletion is already under way and this request changes nothing.
    """
    meta = obj["metadata"]
    grace = options.get("gracePeriodSeconds")
    if grace is not None and grace < 0:
        grace = options["gracePeriodSeconds"] = 1
    if not scope.strategy.graceful_delete:
        return False, False
    if meta.get("deletionTimestamp"):
        current = meta.get("deletionGracePeriodSeconds")
        if not current:
            return False, False          # already at 0: remove (or keep marked while finalizers remain)
        if grace is None:
            options["gracePeriodSeconds"] = current
            return False, True
        if grace >= current:
            return False, True           # only a shorter grace may be asked for
        meta["deletionTimestamp"] = _shift(meta["deletionTimestamp"], grace - current)
        meta["deletionGracePeriodSeconds"] = grace
        return True, False
    grace = options["gracePeriodSeconds"] = scope.strategy.deletion_grace(obj, grace)
    meta["deletionTimestamp"] = now_rfc3339(grace)
    meta["deletionGracePeriodSeconds"] = grace
    if meta.get("generation"):
        meta["generation"] += 1
    return True, False


def set_gc_finalizers(obj: dict, options: dict) -> bool:
    """deletionFinalizersForGarbageCollection: propagationPolicy as finalizers; whether they changed.

    Orphan (or orphanDependents: true) adds `orphan`: the garbage collector
    takes the ownerReferences off the dependents, then the finalizer. Foreground
    adds `foregroundDeletion`: the dependents go first. Background (the
    default) adds nothing: the owner goes now and the collector deletes the
    dependents after. A request that names no policy keeps what is there.
    """
    meta = obj["metadata"]
    old = list(meta.get("finalizers") or [])
    policy, orphan_flag = options.get("propagationPolicy"), options.get("orphanDependents")
    if policy is not None:
        orphan, foreground = policy == "Orphan", policy == "Foreground"
    elif orphan_flag is not None:
        orphan, foreground = orphan_flag, False if orphan_flag else GC_FOREGROUND in old
    else:
        orphan, foreground = GC_ORPHAN in old, GC_FOREGROUND in old
    new = [f for f in old if f not in (GC_ORPHAN, GC_FOREGROUND)]
    new += [GC_ORPHAN] if orphan else []
    new += [GC_FOREGROUND] if foreground else []
    if set(new) == set(old):
        return False
    if new:
        meta["finalizers"] = new
    else:
        meta.pop("finalizers", None)
    return True


def mark_as_deleting(obj: dict) -> None:
    """markAsDeleting: an object waiting on finalizers, with no grace: deletionTimestamp now, grace 0."""
    meta = obj["metadata"]
    now = now_rfc3339()
    if not meta.get("deletionTimestamp"):
        if meta.get("generation"):
            meta["generation"] += 1
        meta["deletionTimestamp"] = now
    elif meta["deletionTimestamp"] > now:   # RFC 3339 UTC strings compare as times
        meta["deletionTimestamp"] = now
    meta["deletionGracePeriodSeconds"] = 0


def _begin_namespace_termination(scope: Scope, options: dict, current: dict) -> dict | None:
    """A namespace's first DELETE marks it Terminating; later ones wait for its spec.finalizers to go.

    Returns the marked namespace, or None when it may be deleted like any object.
    """
    if not current["metadata"].get("deletionTimestamp"):
        new = copy_json(current)
        new["metadata"]["deletionTimestamp"] = now_rfc3339()
        new.setdefault("status", {})["phase"] = TERMINATING
        return _store(scope, options, new, current)
    if (current.get("spec") or {}).get("finalizers"):
        raise conflict("namespaces", scope.name, why=NAMESPACE_BUSY)
    return None


def _shift(timestamp: str, seconds: int) -> str:
    then = calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")) + seconds
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(then))
