"""OpenAPI v3 (per group-version) and v2 (Swagger 2.0) documents of the served kinds, with descriptions.

kubectl 1.37 `create -f` / `apply -f` read `/openapi/v3`, then the
group-version document, and look for the PATCH operation of the object's kind
(x-kubernetes-group-version-kind) with a `fieldValidation` query parameter
(kubectl/pkg/resource/query_param_verifier_v3.go): found, kubectl sends
`?fieldValidation=Strict` and leaves validation to the server (typecheck.py).
`kubectl apply` computes its strategic merge patch from the schemas
(x-kubernetes-patch-merge-key / -strategy); `kubectl explain pod.spec` prints
their descriptions. `/openapi/v2` is the same in Swagger 2.0, served as JSON
(client-go's OpenAPISchema() asks for protobuf only: 406, as upstream answers
an Accept it cannot serve).

Nothing per kind is written here: the schemas come from lightkube-models
(schemas.py) for every (group, version, kind) in resources.RESOURCES.
"""
from __future__ import annotations

import functools
import hashlib
import json

from flask import Blueprint, Response, request

from . import schemas
from .discovery import not_found, render_error
from .errors import APIError
from .patch import MERGE_KEYS, MERGED_PRIMITIVE_LISTS, PATCH_TYPES
from .resources import RESOURCES, ResourceInfo

bp = Blueprint("openapi", __name__)
bp.register_error_handler(APIError, render_error)

VERSION = "v1.37.0-labserver"
SCALARS = {"string": {"type": "string"}, "integer": {"type": "integer", "format": "int64"},
           "boolean": {"type": "boolean"}, "number": {"type": "number", "format": "double"}}
# patchStrategy of list fields that are not plain `merge` (Go struct tags).
PATCH_STRATEGY = {"volumes": "merge,retainKeys"}
STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"


class Dialect:
    """Where v3 and Swagger 2.0 differ: the $ref base, and how a described reference is written."""

    def __init__(self, v2: bool):
        self.v2 = v2
        self.base = "#/definitions/" if v2 else "#/components/schemas/"

    def ref(self, component: str) -> dict:
        return {"$ref": self.base + component}

    def described_ref(self, component: str, description: str) -> dict:
        if self.v2:   # Swagger 2.0: siblings of $ref are ignored by validators, kept for explain
            return {"$ref": self.base + component, "description": description}
        return {"allOf": [self.ref(component)], "description": description, "default": {}}


def _type_schema(t: schemas.TypeRef, d: Dialect) -> dict:
    if t.kind == "scalar":
        return dict(SCALARS[t.name])
    if t.kind == "list":
        return {"type": "array", "items": _type_schema(t.item, d)}
    if t.kind == "map":
        values = {"type": "string", "default": ""}
        if t.name == "quantity":   # map[string]Quantity: `kubectl explain` names the value type from the $ref
            values = d.ref(_leaf_component("quantity")) if d.v2 else {"allOf": [d.ref(_leaf_component("quantity"))],
                                                                          "default": {}}
        return {"type": "object", "additionalProperties": values}
    if t.kind in ("ref", "leaf"):
        return d.ref(t.item.name if t.kind == "leaf" else t.name)
    return {"type": "object"}          # free-form (FieldsV1, RawExtension)


def _leaf_component(leaf: str) -> str:
    module, name = next(k for k, v in schemas.LEAVES.items() if v == leaf)
    return f"{schemas.component_prefix(module)}.{name}"


def _field_schema(field: schemas.Field, d: Dialect) -> dict:
    t = field.type
    if t.kind in ("ref", "leaf"):
        return d.described_ref(t.item.name if t.kind == "leaf" else t.name, field.description)
    schema = _type_schema(t, d)
    schema["description"] = field.description
    item = t.item
    if t.kind == "list" and item.kind == "ref" and MERGE_KEYS.get(field.json_name) in \
            schemas.definition(item.name).fields:
        schema["x-kubernetes-patch-merge-key"] = MERGE_KEYS[field.json_name]
        schema["x-kubernetes-patch-strategy"] = PATCH_STRATEGY.get(field.json_name, "merge")
    elif t.kind == "list" and field.json_name in MERGED_PRIMITIVE_LISTS:
        schema["x-kubernetes-patch-strategy"] = "merge"
    return schema


def _definition_schema(component: str, d: Dialect, kinds: dict) -> dict:
    definition = schemas.definition(component)
    result = {"type": "object", "description": definition.description,
              "properties": {name: _field_schema(f, d) for name, f in definition.fields.items()}}
    required = sorted(name for name, f in definition.fields.items() if f.required)
    if required:
        result["required"] = required
    if component in kinds:
        result["x-kubernetes-group-version-kind"] = [kinds[component]]
    return result


def definitions(resources, d: Dialect) -> dict:
    """The component schemas of `resources`' kinds and of every type they reach."""
    kinds = {schemas.kind_component(r.group, r.version, r.kind):
             {"group": r.group, "kind": r.kind, "version": r.version} for r in resources}
    out = {c: _definition_schema(c, d, kinds) for c in schemas.reachable(kinds)}
    for (module, name), leaf in schemas.LEAVES.items():
        out[f"{schemas.component_prefix(module)}.{name}"] = dict(schemas.LEAF_SCHEMAS[leaf])
    out[STATUS] = {"type": "object", "description": "Status is a return value for calls that don't return "
                   "other objects.", "properties": {k: {"type": "string"} for k in
                                                    ("kind", "apiVersion", "status", "message", "reason")}}
    return dict(sorted(out.items()))


# -- path operations -------------------------------------------------------------------------

def _param(name: str, where: str = "query", description: str = "", required: bool = False,
           d: Dialect | None = None) -> dict:
    p = {"name": name, "in": where, "description": description}
    if d is not None and d.v2:
        p.update({"type": "string", "uniqueItems": True})
    else:
        p["schema"] = {"type": "string", "uniqueItems": True}
    if required:
        p["required"] = True
    return p


def _query(d: Dialect) -> dict:
    return {
        "fieldValidation": _param("fieldValidation", description="fieldValidation instructs the server on how to "
                                  "handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate "
                                  "fields. Valid values are: Ignore, Warn, Strict.", d=d),
        "fieldManager": _param("fieldManager", description="fieldManager is a name associated with the actor or "
                               "entity that is making these changes.", d=d),
        "dryRun": _param("dryRun", description="When present, indicates that modifications should not be "
                         "persisted.", d=d),
    }


def _operation(resource: ResourceInfo, action: str, verb: str, d: Dialect, body_types=(), params=()) -> dict:
    kind_ref = d.ref(schemas.kind_component(resource.group, resource.version, resource.kind))
    op = {"operationId": f"{verb}{resource.kind}", "tags": [resource.group_version], "parameters": list(params),
          "x-kubernetes-action": action,
          "x-kubernetes-group-version-kind": {"group": resource.group, "version": resource.version,
                                              "kind": resource.kind}}
    if d.v2:
        op["produces"] = ["application/json", "application/yaml"]
        op["responses"] = {"200": {"description": "OK", "schema": kind_ref}, "401": {"description": "Unauthorized"}}
        if body_types:
            op["consumes"] = list(body_types)
            op["parameters"].append({"name": "body", "in": "body", "required": True,
                                     "schema": kind_ref if "*/*" in body_types else {"type": "object"}})
    else:
        op["responses"] = {"200": {"description": "OK", "content": {"application/json": {"schema": kind_ref}}},
                           "401": {"description": "Unauthorized"}}
        if body_types:
            op["requestBody"] = {"required": True, "content": {
                t: {"schema": kind_ref if t not in PATCH_TYPES else {"type": "object"}} for t in body_types}}
    return op


def paths_for(resource: ResourceInfo, d: Dialect) -> dict:
    """The collection, item and subresource paths of one resource, with only the verbs it serves."""
    base = "/api/v1" if not resource.group else f"/apis/{resource.group}/{resource.version}"
    scope = f"{base}/namespaces/{{namespace}}/{resource.name}" if resource.namespaced else f"{base}/{resource.name}"
    path_params = [_param("name", "path", f"name of the {resource.kind}", True, d)]
    if resource.namespaced:
        path_params.append(_param("namespace", "path", "object name and auth scope", True, d))
    q = _query(d)
    write = [q["dryRun"], q["fieldManager"], q["fieldValidation"]]
    verbs = set(resource.verbs)
    collection, item = {}, {}
    if "list" in verbs:
        collection["get"] = _operation(resource, "list", "list", d, params=[
            _param(n, d=d) for n in ("labelSelector", "fieldSelector", "limit", "continue", "resourceVersion",
                                     "watch", "timeoutSeconds")])
    if "create" in verbs:
        collection["post"] = _operation(resource, "post", "create", d, ("*/*",), write)
    if "deletecollection" in verbs:
        collection["delete"] = _operation(resource, "deletecollection", "deletecollection", d, params=[
            q["dryRun"], _param("labelSelector", d=d), _param("fieldSelector", d=d)])
    if "get" in verbs:
        item["get"] = _operation(resource, "get", "read", d)
    if "update" in verbs:
        item["put"] = _operation(resource, "put", "replace", d, ("*/*",), write)
    if "patch" in verbs:
        item["patch"] = _operation(resource, "patch", "patch", d, PATCH_TYPES, write + [_param("force", d=d)])
    if "delete" in verbs:
        item["delete"] = _operation(resource, "delete", "delete", d, params=[q["dryRun"],
                                                                            _param("gracePeriodSeconds", d=d)])
    paths = {}
    if collection:
        paths[scope] = {**collection, "parameters": path_params[1:]}
    if item:
        paths[f"{scope}/{{name}}"] = {**item, "parameters": path_params}
    if resource.namespaced and "list" in verbs:
        paths[f"{base}/{resource.name}"] = {"get": _operation(resource, "list", "list", d, params=[
            _param("labelSelector", d=d), _param("fieldSelector", d=d)])}
    if "status" in resource.subresources:
        paths[f"{scope}/{{name}}/status"] = {
            "get": _operation(resource, "get", "read", d),
            "put": _operation(resource, "put", "replace", d, ("*/*",), write),
            "patch": _operation(resource, "patch", "patch", d, PATCH_TYPES, write),
            "parameters": path_params,
        }
    return paths


def group_versions() -> dict[str, list[ResourceInfo]]:
    """OpenAPI v3 document names (`api/v1`, `apis/coordination.k8s.io/v1`) and their resources."""
    docs: dict[str, list[ResourceInfo]] = {}
    for r in RESOURCES:
        name = "api/v1" if not r.group else f"apis/{r.group}/{r.version}"
        docs.setdefault(name, []).append(r)
    return docs


def _document(resources, v2: bool) -> dict:
    d = Dialect(v2)
    paths = {}
    for r in resources:
        paths.update(paths_for(r, d))
    info = {"title": "Kubernetes", "version": VERSION}
    if v2:
        return {"swagger": "2.0", "info": info, "paths": paths, "definitions": definitions(resources, d)}
    return {"openapi": "3.0.0", "info": info, "paths": paths,
            "components": {"schemas": definitions(resources, d)}}


@functools.cache
def document(name: str) -> str:
    """The JSON text of one v3 group-version document (cached: it never changes while we run)."""
    resources = group_versions().get(name)
    if resources is None:
        raise not_found()
    return json.dumps(_document(resources, v2=False), sort_keys=True)


@functools.cache
def swagger() -> str:
    """The JSON text of the Swagger 2.0 document of every served resource."""
    return json.dumps(_document(RESOURCES, v2=True), sort_keys=True)


@functools.cache
def _hash(text: str) -> str:
    return hashlib.sha512(text.encode()).hexdigest().upper()[:128]


def _cached_json(text: str) -> Response:
    response = Response(text, mimetype="application/json")
    etag = _hash(text)
    if request.args.get("hash") == etag:
        response.headers["Cache-Control"] = "public, immutable"
        response.headers["Expires"] = "Thu, 01 Jan 2099 00:00:00 GMT"
    else:
        response.headers["Cache-Control"] = "no-cache, private"
    response.headers["Etag"] = f'"{etag}"'
    return response


@bp.get("/openapi/v3")
@bp.get("/openapi/v3/")
def root():
    body = {"paths": {name: {"serverRelativeURL": f"/openapi/v3/{name}?hash={_hash(document(name))}"}
                      for name in group_versions()}}
    return Response(json.dumps(body), mimetype="application/json")


@bp.get("/openapi/v3/<path:name>")
def group_version_document(name):
    return _cached_json(document(name))


def accepts_json(accept: str | None) -> bool:
    """True when an Accept header allows JSON (no header, */*, application/*, application/json)."""
    if not accept or not accept.strip():
        return True
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in ("*/*", "application/*", "application/json"):
            return True
    return False


@bp.get("/openapi/v2")
def swagger_document():
    if not accepts_json(request.headers.get("Accept")):
        raise APIError(406, "NotAcceptable", "only the following media types are accepted: application/json", {})
    return _cached_json(swagger())
