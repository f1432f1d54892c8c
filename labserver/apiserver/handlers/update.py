"""PUT and PATCH: read-modify-write on the read revision (endpoints/handlers/update.go, patch.go).

Also `pods/status`, `namespaces/status` and `namespaces/finalize`: the strategy
decides what each endpoint may change.

Both go through Storage.guaranteed_update: read the current object, build the
new one, write it only if etcd still holds the revision read. A PUT carrying
metadata.resourceVersion must match it (409 Conflict otherwise); a PUT
without one, and every PATCH that does not name one, is retried on races,
as upstream does, so concurrent patches never lose each other's changes.
A body naming another uid than the stored object's is 409 Conflict: the
object was deleted and re-created meanwhile (the kubelet's status patches
carry the pod's uid for this).
"""
from __future__ import annotations

import copy
import json

from flask import Response, request

from ..errors import APIError, conflict
from ..limits import copy_json, loads_json
from ..patch import STRATEGIC_MERGE_PATCH, apply_patch
from ..typecheck import go_print
from .create import create
from .request import Scope, check_fields, check_object, dry_run, object_body, read_body, respond_object, storage

APPLY_PATCH = "application/apply-patch+yaml"


def _precondition(scope: Scope, wanted: str | None, current: dict, uid: str | None = None) -> None:
    """409 Conflict when the body names another resourceVersion, or another uid (a re-created object)."""
    if wanted and wanted != current["metadata"]["resourceVersion"]:
        raise conflict(scope.resource.name, scope.name, scope.resource.group)
    existing = current["metadata"].get("uid")
    if uid and uid != existing:
        raise conflict(scope.resource.name, scope.name, scope.resource.group,
                       f"Precondition failed: UID in precondition: {uid}, UID in object meta: {existing}")


def _write(scope: Scope, build, options_kind: str) -> Response:
    """Run `build(current) -> new` under optimistic concurrency; honour dryRun.

    An update that takes the last finalizer off an object whose deletion is due
    removes it (Store.Update's shouldDeleteDuringUpdate) and answers with the
    object as it was last stored.
    """
    res, ns, name = scope.resource, scope.namespace, scope.name

    def mutate(current: dict) -> dict:
        new = build(current)
        return scope.strategy.before_update(new, current, subresource=scope.subresource)

    if dry_run(options_kind=options_kind):
        current = storage().get(res, ns, name)
        new = mutate(copy_json(current))
        return respond_object(scope, current if scope.strategy.should_delete_during_update(new, current) else new)
    return respond_object(scope, storage().guaranteed_update(
        res, ns, name, mutate, delete_when=scope.strategy.should_delete_during_update))


def update(scope: Scope) -> Response:
    """PUT: replace the object (or its status); may create where the strategy allows it."""
    new = object_body(scope)
    check_fields(scope, new)
    wanted = new["metadata"].get("resourceVersion")
    if not wanted and not scope.strategy.allow_unconditional_update:
        raise APIError(422, "Invalid", f'{scope.resource.kind} "{scope.name}" is invalid: '
                       f'metadata.resourceVersion: Invalid value: 0: must be specified for an update')

    def build(current: dict) -> dict:
        _precondition(scope, wanted, current, new["metadata"].get("uid"))
        return copy.deepcopy(new)

    try:
        return _write(scope, build, "UpdateOptions")
    except APIError as e:
        if e.code != 404 or scope.subresource or not scope.strategy.allow_create_on_update \
                or (e.details or {}).get("name") != scope.name:
            raise
    new["metadata"].pop("resourceVersion", None)
    return create(scope, new)


def _shown_in_errors(data: bytes, content_type: str, patched: dict) -> str | None:
    """What upstream shows as the invalid value when a patched object does not decode (patch.go): the
    patched object's JSON, or the strategic merge patch as Go prints a map; None for server-side apply,
    whose decode errors are a 400 like a create's."""
    media = content_type.split(";")[0].strip().lower()
    if media == APPLY_PATCH:
        return None
    if media == STRATEGIC_MERGE_PATCH:
        return go_print(loads_json(data))
    return json.dumps(patched, separators=(",", ":"), sort_keys=True)


def patch(scope: Scope) -> Response:
    """PATCH: merge, strategic-merge, JSON or apply patch applied to the current object."""
    data = read_body()
    content_type = request.headers.get("Content-Type") or ""

    def build(current: dict) -> dict:
        patched = apply_patch(copy_json(current), data, content_type)
        check_object(scope, patched)
        _precondition(scope, patched["metadata"].get("resourceVersion"), current, patched["metadata"].get("uid"))
        patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        check_fields(scope, patched, _shown_in_errors(data, content_type, patched))
        return patched

    try:
        return _write(scope, build, "PatchOptions")
    except APIError as e:
        if e.code != 404 or scope.subresource or not content_type.startswith(APPLY_PATCH) \
                or (e.details or {}).get("name") != scope.name:
            raise
    obj = apply_patch({}, data, content_type)   # server-side apply of a new object creates it
    check_object(scope, obj)
    check_fields(scope, obj)
    return create(scope, obj)
