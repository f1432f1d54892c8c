"""DELETE, graceful for pods on a node (endpoints/handlers/delete.go + registry BeforeDelete).

DeleteOptions come as a JSON body (kubectl, the kubelet) or query parameters
(`?gracePeriodSeconds=0`). Preconditions on uid / resourceVersion that do not
hold are 409 Conflict. When the strategy grants a grace period the object is
only marked (deletionTimestamp = now + grace) and returned; its kubelet
finishes the job with gracePeriodSeconds=0. Otherwise the key is deleted in a
transaction on the revision read. DELETE on a collection does the same for
every object its label and field selectors match (deletecollection).
"""
from __future__ import annotations

from dataclasses import replace

from flask import Response, request

from .. import typecheck
from ..errors import APIError, conflict, method_not_allowed
from ..strategies import now_rfc3339
from ..strategies.namespace import PROTECTED
from .create import forget_namespace
from .list import predicate_for
from .request import Scope, decode, dry_run, int_arg, read_body, respond, respond_object, storage


def delete_options() -> dict:
    """DeleteOptions from the body (if any) overlaid by query parameters."""
    data = read_body()
    options = decode(data, request.headers.get("Content-Type")) if data.strip() else {}
    typecheck.check_options(options)
    grace = int_arg("gracePeriodSeconds", minimum=None)
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    value = options.get("gracePeriodSeconds")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise APIError(400, "BadRequest", f"gracePeriodSeconds must be an integer, not {value!r}")
    return options


def _check_preconditions(scope: Scope, pre: dict, current: dict) -> None:
    meta = current["metadata"]
    for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        wanted = pre.get(field)
        if wanted and wanted != meta.get(field):
            raise conflict(scope.resource.name, scope.name, scope.resource.group,
                           f"Precondition failed: {label} in precondition: {wanted}, "
                           f"{label} in object meta: {meta.get(field)}")


def delete(scope: Scope) -> Response:
    """200 with the object: marked for graceful deletion, or removed."""
    return respond_object(scope, delete_one(scope, delete_options()))


def delete_collection(scope: Scope) -> Response:
    """DELETE on a collection: each object the selectors match, as if deleted one by one."""
    if scope.resource.namespaced and scope.namespace is None:
        raise method_not_allowed()
    options = delete_options()
    matching = storage().list(scope.resource, scope.namespace, predicate=predicate_for(scope))
    items = []
    for obj in matching.items:
        item = replace(scope, namespace=obj["metadata"].get("namespace"), name=obj["metadata"]["name"])
        try:
            items.append(delete_one(item, options))
        except APIError as e:
            if e.code != 404:   # gone meanwhile: fine
                raise
    return respond({"kind": scope.resource.list_kind, "apiVersion": scope.resource.group_version,
                    "metadata": {"resourceVersion": matching.resource_version}, "items": items})


def delete_one(scope: Scope, options: dict) -> dict:
    """Delete (or mark) one object; returns it as it was last stored."""
    pre = options.get("preconditions") or {}
    res = scope.resource
    if res.name == "namespaces" and scope.name in PROTECTED:
        raise APIError(403, "Forbidden", f'namespaces "{scope.name}" is forbidden: this namespace may not be '
                       f"deleted", {"name": scope.name, "kind": "namespaces"})
    dry = dry_run()
    for attempt in range(16):
        current = storage().get(res, scope.namespace, scope.name)
        _check_preconditions(scope, pre, current)
        rv = int(current["metadata"]["resourceVersion"])
        grace = scope.strategy.deletion_grace(current, options.get("gracePeriodSeconds"))
        meta = current["metadata"]
        try:
            if grace > 0:
                if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds", grace) <= grace:
                    return current   # already terminating, no sooner
                meta["deletionTimestamp"] = now_rfc3339(grace)
                meta["deletionGracePeriodSeconds"] = grace
                return current if dry else storage().update(res, scope.namespace, scope.name, current, rv)
            if not dry:
                storage().delete(res, scope.namespace, scope.name, rv)
                if res.name == "namespaces":
                    forget_namespace(scope.name)
            return current
        except APIError as e:
            if e.reason != "Conflict" or pre.get("resourceVersion") or attempt == 15:
                raise
    raise AssertionError("not reached")
