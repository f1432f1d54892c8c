"""GET, PUT and PATCH of `<deployments|replicasets>/<name>/scale` (registry/apps/deployment/storage ScaleREST).

The scale subresource shows a Deployment or ReplicaSet as an autoscaling/v1
Scale: spec.replicas as asked, status.replicas as observed, and the
selector as a string. Writing a Scale (`kubectl scale` PATCHes one) changes
only the object's spec.replicas, through the same strategy as a spec update,
so its generation moves and its controller notices.
"""
from __future__ import annotations


from flask import Response, request

from ..limits import copy_json
from ..errors import bad_request, conflict
from ..patch import apply_patch
from ..strategies.apps import apply_scale, scale_of
from .request import Scope, decode, dry_run, read_body, respond, storage


def _checked(scope: Scope, scale: dict) -> dict:
    if scale.get("kind") not in (None, "Scale") or scale.get("apiVersion") not in (None, "autoscaling/v1"):
        raise bad_request(f"the body is a {scale.get('apiVersion')} {scale.get('kind')}: "
                          f"expected an autoscaling/v1 Scale")
    name = (scale.get("metadata") or {}).get("name")
    if name and name != scope.name:
        raise bad_request(f"the name of the object ({name}) does not match the name on the URL ({scope.name})")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        from ..errors import invalid
        raise invalid("Scale", scope.name, [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                             "message": f"Invalid value: {replicas}: must be greater than or "
                                                        f"equal to 0"}], "autoscaling")
    return scale


def _write(scope: Scope, build_scale, options_kind: str) -> Response:
    res, ns, name = scope.resource, scope.namespace, scope.name

    def mutate(current: dict) -> dict:
        scale = _checked(scope, build_scale(scale_of(res, current)))
        wanted = (scale.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise conflict(res.name, name, res.group)
        return scope.strategy.before_update(apply_scale(current, scale), current)

    if dry_run(options_kind=options_kind):
        current = storage().get(res, ns, name)
        return respond(scale_of(res, mutate(copy_json(current))))
    return respond(scale_of(res, storage().guaranteed_update(res, ns, name, mutate)))


def get(scope: Scope) -> Response:
    return respond(scale_of(scope.resource, storage().get(scope.resource, scope.namespace, scope.name)))


def update(scope: Scope) -> Response:
    scale = decode(read_body(), request.headers.get("Content-Type"))
    return _write(scope, lambda current: scale, "UpdateOptions")


def patch(scope: Scope) -> Response:
    data, content_type = read_body(), request.headers.get("Content-Type") or ""
    return _write(scope, lambda current: apply_patch(current, data, content_type), "PatchOptions")
