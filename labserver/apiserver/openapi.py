"""OpenAPI v3 documents, and the unknown-field check they stand for.

kubectl 1.37 `create -f` / `apply -f` validate by default. Before sending, they
read `/openapi/v3`, then the group-version document, and look for the PATCH
operation of the object's kind (x-kubernetes-group-version-kind) with a
`fieldValidation` query parameter (kubectl/pkg/resource/query_param_verifier_v3.go).
Found: kubectl sends `?fieldValidation=Strict` and leaves validation to the
server. Not found: it fails unless `--validate=false`. `kubectl apply` also
computes its strategic merge patch from these schemas
(x-kubernetes-patch-merge-key / -strategy), and `kubectl explain` reads them.

The schemas are data (openapi_schemas.yaml, field names of the Go types);
this module turns them into OpenAPI components and path operations, and
walks request bodies against them: check_fields() is what the handlers call
for fieldValidation=Strict (422) or Warn (warning strings).
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import yaml
from flask import Blueprint, Response, request

from labserver.apiserver.discovery import not_found, render_error
from labserver.apiserver.errors import APIError
from labserver.apiserver.patch import MERGE_KEYS, MERGED_PRIMITIVE_LISTS, PATCH_TYPES
from labserver.apiserver.resources import RESOURCES, ResourceInfo

bp = Blueprint("openapi", __name__)
bp.register_error_handler(APIError, render_error)

SCHEMA_FILE = Path(__file__).with_name("openapi_schemas.yaml")
CORE = "io.k8s.api.core.v1"
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
SCALARS = {
    "string": {"type": "string"},
    "integer": {"type": "integer", "format": "int64"},
    "boolean": {"type": "boolean"},
    "number": {"type": "number", "format": "double"},
}
SHARED_TYPES = {  # name in the notation -> (component name, component schema)
    "time": (f"{META}.Time", {"type": "string", "format": "date-time",
                              "description": "Time is a wrapper around time.Time (RFC 3339)."}),
    "microtime": (f"{META}.MicroTime", {"type": "string", "format": "date-time",
                                        "description": "MicroTime is version of Time with microsecond level precision."}),
    "quantity": ("io.k8s.apimachinery.pkg.api.resource.Quantity",
                 {"oneOf": [{"type": "string"}, {"type": "number"}],
                  "description": "Quantity is a fixed-point representation of a number (e.g. 100m, 1Gi)."}),
    "int-or-string": ("io.k8s.apimachinery.pkg.util.intstr.IntOrString",
                      {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}],
                       "description": "IntOrString holds an int32 or a string."}),
}
FREE_FORM = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
# patchStrategy of list fields that are not plain `merge` (Go struct tags).
PATCH_STRATEGY = {"volumes": "merge,retainKeys"}


@functools.cache
def schema_data() -> dict:
    """openapi_schemas.yaml, parsed once."""
    return yaml.safe_load(SCHEMA_FILE.read_text())


def component_name(type_name: str) -> str:
    for package, names in schema_data()["packages"].items():
        if type_name in names:
            return f"{package}.{type_name}"
    return f"{CORE}.{type_name}"


def _ref(type_name: str) -> dict:
    return {"$ref": f"#/components/schemas/{type_name}"}


def _field_schema(notation: str) -> tuple[dict, list[str]]:
    """The OpenAPI schema of one field and the schema names it refers to."""
    if notation.startswith("[") or notation.startswith("{"):
        inner, refs = _field_schema(notation[1:-1])
        if "allOf" in inner:
            inner = {"default": {}, **inner}
        if notation.startswith("["):
            return {"type": "array", "items": inner}, refs
        return {"type": "object", "additionalProperties": inner}, refs
    if notation in SCALARS:
        return dict(SCALARS[notation]), []
    if notation == "object":
        return dict(FREE_FORM), []
    if notation in SHARED_TYPES:
        return {"allOf": [_ref(SHARED_TYPES[notation][0])]}, []
    return {"allOf": [_ref(component_name(notation))]}, [notation]


def _object_schema(type_name: str) -> dict:
    data = schema_data()
    properties = {}
    for field, notation in data["schemas"][type_name].items():
        schema, _ = _field_schema(notation)
        item = notation[1:-1] if notation.startswith("[") else None
        if item and item in data["schemas"] and MERGE_KEYS.get(field) in data["schemas"][item]:
            schema["x-kubernetes-patch-merge-key"] = MERGE_KEYS[field]
            schema["x-kubernetes-patch-strategy"] = PATCH_STRATEGY.get(field, "merge")
        elif field in MERGED_PRIMITIVE_LISTS:
            schema["x-kubernetes-patch-strategy"] = "merge"
        properties[field] = schema
    result = {"type": "object", "properties": properties}
    kind = data["kinds"].get(type_name)
    if kind:
        result["x-kubernetes-group-version-kind"] = [{"group": kind["group"], "kind": type_name,
                                                      "version": kind["version"]}]
    return result


def _components(kinds: list[str]) -> dict:
    """Component schemas for `kinds` and every schema they reach."""
    schemas, todo = {}, list(kinds)
    while todo:
        name = todo.pop()
        if component_name(name) in schemas:
            continue
        schemas[component_name(name)] = _object_schema(name)
        for notation in schema_data()["schemas"][name].values():
            todo.extend(_field_schema(notation)[1])
    for component, schema in SHARED_TYPES.values():
        schemas[component] = schema
    schemas[f"{META}.Status"] = {"type": "object", "properties": {
        k: {"type": "string"} for k in ("kind", "apiVersion", "status", "message", "reason")}}
    return dict(sorted(schemas.items()))


# -- path operations ---------------------------------------------------------

def _param(name: str, where: str = "query", description: str = "", required: bool = False) -> dict:
    p = {"name": name, "in": where, "description": description, "schema": {"type": "string", "uniqueItems": True}}
    if required:
        p["required"] = True
    return p


FIELD_VALIDATION = _param(
    "fieldValidation", description="fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.")
FIELD_MANAGER = _param("fieldManager", description="fieldManager is a name associated with the actor or entity "
                                                    "that is making these changes.")
DRY_RUN = _param("dryRun", description="When present, indicates that modifications should not be persisted.")


def _operation(resource: ResourceInfo, action: str, verb: str, body_types=(), params=()) -> dict:
    kind_ref = _ref(component_name(resource.kind))
    op = {"operationId": f"{verb}{resource.kind}", "tags": [resource.group_version],
          "parameters": list(params),
          "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": kind_ref}}},
                        "401": {"description": "Unauthorized"}},
          "x-kubernetes-action": action,
          "x-kubernetes-group-version-kind": {"group": resource.group, "version": resource.version,
                                              "kind": resource.kind}}
    if body_types:
        op["requestBody"] = {"required": True, "content": {t: {"schema": kind_ref if t not in PATCH_TYPES
                                                               else {"type": "object"}} for t in body_types}}
    return op


def paths_for(resource: ResourceInfo) -> dict:
    """Collection and item paths of one resource (namespaced and cluster-wide lists for namespaced ones)."""
    base = "/api/v1" if not resource.group else f"/apis/{resource.group}/{resource.version}"
    scope = f"{base}/namespaces/{{namespace}}/{resource.name}" if resource.namespaced else f"{base}/{resource.name}"
    path_params = [_param("name", "path", f"name of the {resource.kind}", True)]
    if resource.namespaced:
        path_params.append(_param("namespace", "path", "object name and auth scope", True))
    write = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION]
    paths = {
        scope: {
            "get": _operation(resource, "list", "list", params=[_param("labelSelector"), _param("fieldSelector"),
                                                               _param("limit"), _param("continue")]),
            "post": _operation(resource, "post", "create", ("*/*",), write),
            "parameters": path_params[1:],
        },
        f"{scope}/{{name}}": {
            "get": _operation(resource, "get", "read"),
            "put": _operation(resource, "put", "replace", ("*/*",), write),
            "patch": _operation(resource, "patch", "patch", PATCH_TYPES, write + [_param("force")]),
            "delete": _operation(resource, "delete", "delete", params=[DRY_RUN, _param("gracePeriodSeconds")]),
            "parameters": path_params,
        },
    }
    if resource.namespaced:
        paths[f"{base}/{resource.name}"] = {"get": _operation(resource, "list", "list", params=[
            _param("labelSelector"), _param("fieldSelector")])}
    for sub in resource.subresources:
        if sub == "status":
            paths[f"{scope}/{{name}}/status"] = {
                "get": _operation(resource, "get", "read"),
                "put": _operation(resource, "put", "replace", ("*/*",), write),
                "patch": _operation(resource, "patch", "patch", PATCH_TYPES, write),
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


@functools.cache
def document(name: str) -> str:
    """The JSON text of one group-version document (cached: it never changes while we run)."""
    resources = group_versions().get(name)
    if resources is None:
        raise not_found()
    paths = {}
    for r in resources:
        paths.update(paths_for(r))
    kinds = [r.kind for r in resources if r.kind in schema_data()["schemas"]]
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.37.0-labserver"},
           "paths": paths, "components": {"schemas": _components(kinds)}}
    return json.dumps(doc, sort_keys=True)


def _hash(name: str) -> str:
    return hashlib.sha512(document(name).encode()).hexdigest().upper()[:128]


@bp.get("/openapi/v3")
@bp.get("/openapi/v3/")
def root():
    body = {"paths": {name: {"serverRelativeURL": f"/openapi/v3/{name}?hash={_hash(name)}"}
                      for name in group_versions()}}
    return Response(json.dumps(body), mimetype="application/json")


@bp.get("/openapi/v3/<path:name>")
def group_version_document(name):
    text = document(name)
    response = Response(text, mimetype="application/json")
    if request.args.get("hash") == _hash(name):
        response.headers["Cache-Control"] = "public, immutable"
        response.headers["Expires"] = "Thu, 01 Jan 2099 00:00:00 GMT"
    else:
        response.headers["Cache-Control"] = "no-cache, private"
    response.headers["Etag"] = f'"{_hash(name)}"'
    return response


# -- unknown fields ------------------------------------------------------------

def unknown_fields(type_name: str, value, path: str = "") -> list[str]:
    """Paths (`spec.containers[0].foo`) of fields in `value` the schema `type_name` does not know."""
    fields = schema_data()["schemas"].get(type_name)
    if fields is None or not isinstance(value, dict):
        return []
    found = []
    for key, item in value.items():
        notation = fields.get(key)
        if notation is None:
            found.append(f"{path}.{key}" if path else key)
        elif isinstance(item, (dict, list)):  # a scalar has no fields of its own
            found.extend(_unknown_in(notation, item, f"{path}.{key}" if path else key))
    return found


def _unknown_in(notation: str, value, path: str) -> list[str]:
    if notation.startswith("[") and isinstance(value, list):
        return [f for i, v in enumerate(value) if isinstance(v, (dict, list))
                for f in _unknown_in(notation[1:-1], v, f"{path}[{i}]")]
    if notation.startswith("{") and isinstance(value, dict):
        return [f for k, v in value.items() if isinstance(v, (dict, list))
                for f in _unknown_in(notation[1:-1], v, f"{path}.{k}")]
    return unknown_fields(notation, value, path)


def check_fields(kind: str, obj: dict, mode: str | None) -> list[str]:
    """Unknown fields of `obj` under fieldValidation `mode`: Strict -> 422, Warn -> warnings, else []."""
    if mode not in ("Strict", "Warn"):
        return []
    messages = [f'unknown field "{f}"' for f in unknown_fields(kind, obj)]
    if messages and mode == "Strict":
        name = ((obj.get("metadata") or {}).get("name")) or ""
        resource = next((r for r in RESOURCES if r.kind == kind), None)
        version = resource.group_version if resource else "v1"
        causes = [{"reason": "FieldValueInvalid", "message": "unknown field", "field": m.split('"')[1]}
                  for m in messages]
        details = {"name": name, "kind": kind, "causes": causes}
        if resource and resource.group:
            details["group"] = resource.group
        raise APIError(422, "Invalid", f'{kind} in version "{version}" cannot be handled as a {kind}: '
                                       f'strict decoding error: {", ".join(messages)}', details)
    return messages
