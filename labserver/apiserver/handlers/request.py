"""What every handler needs from a request: its scope, its body, and how to answer.

Scope is the URL resolved against the RESOURCES table (upstream:
endpoints/request/requestinfo.go). Bodies are JSON, YAML or Kubernetes
protobuf (no Content-Type counts as JSON: the official Python client sends
none; kubectl's typed clients send protobuf), at most 3 MiB, and
must name the kind, apiVersion, namespace and name the URL names. Field
checking (types, unknown fields under Strict/Warn/Ignore) is typecheck.admit;
its warnings go back as `Warning: 299 - "..."` headers. Decoding bounds
(depth, NaN, int64, YAML aliases) are limits.py's.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import yaml
from flask import Response, current_app, g, request

from .. import limits, protobuf, typecheck
from ..errors import (APIError, bad_request, invalid, invalid_options, not_found, too_large,
                      unsupported_media_type)
from ..resources import ResourceInfo, lookup
from ..storage import dumps
from ..strategies import Strategy, strategy_for
from ..strategies import validation as v

JSON = "application/json"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


def unknown_path() -> APIError:
    return APIError(404, "NotFound", "the server could not find the requested resource", {})


@dataclass
class Scope:
    """The resource, namespace, name and subresource a URL addresses."""

    resource: ResourceInfo
    strategy: Strategy
    namespace: str | None
    name: str | None = None
    subresource: str | None = None
    watch_path: bool = False      # legacy /watch/ prefix

    @property
    def is_collection(self) -> bool:
        return self.name is None


def resolve(group: str, version: str, rest: str) -> Scope:
    """Map `<group>/<version>/<rest>` to a Scope, or 404 for anything not served."""
    parts = rest.split("/")
    watch_path = parts[0] == "watch"
    if watch_path:
        parts = parts[1:]
    namespace = None
    if len(parts) >= 3 and parts[0] == "namespaces":
        res = lookup(group, version, parts[2])
        if res is not None and res.namespaced:
            namespace, parts = parts[1], parts[2:]
            if not v.is_dns1123_label(namespace):
                raise not_found("namespaces", namespace)
    if not parts or not parts[0]:
        raise unknown_path()
    res = lookup(group, version, parts[0])
    if res is None or len(parts) > 3 or any(p == "" for p in parts):
        raise unknown_path()
    if res.namespaced and namespace is None and len(parts) > 1:
        raise unknown_path()   # /api/v1/pods/<name> does not exist
    scope = Scope(res, strategy_for(res), namespace, watch_path=watch_path)
    if len(parts) >= 2:
        scope.name = parts[1]
        if not (v.is_dns1123_label(scope.name) if res.name == "namespaces" else v.is_dns1123_subdomain(scope.name)):
            # An object with such a name cannot exist; on a PUT that may create, say why.
            if request.method == "PUT" and scope.strategy.allow_create_on_update:
                raise invalid(res.kind, scope.name, v.name_causes(scope.name, label=scope.strategy.label_names),
                              res.group)
            raise not_found(res.name, scope.name, res.group)
    if len(parts) == 3:
        if parts[2] not in res.subresources:
            raise unknown_path()
        scope.subresource = parts[2]
    return scope


def storage():
    """The app's Storage (created by create_app)."""
    return current_app.extensions["labserver.storage"]


# -- bodies -------------------------------------------------------------------------------

def read_body() -> bytes:
    """The raw request body; 413 above MAX_BODY without reading more than that (and the connection
    closes after the answer, as Go's net/http closes it, since the rest of the body is still coming)."""
    limit = current_app.config["MAX_BODY"]
    if request.content_length is not None and request.content_length > limit:
        g.body_left_unread = True
        raise too_large()
    try:
        data = request.stream.read(limit + 1)
    except Exception as e:   # the WSGI server could not decode the body (e.g. bad chunked encoding)
        raise bad_request(f"malformed HTTP request body: {type(e).__name__}: {e}") from None
    if len(data) > limit:
        g.body_left_unread = True
        raise too_large()
    return data


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def decode(data: bytes, content_type: str | None) -> dict:
    """A JSON or YAML body as a dict; 415 for other media types, 400 when malformed."""
    mt = media_type(content_type)
    if mt in ("", JSON, "*/*"):
        try:
            obj = limits.loads_json(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request(f"couldn't get version/kind; json parse error: {e}") from None
    elif mt == protobuf.MEDIA_TYPE:
        try:
            obj = protobuf.decode(data)
        except protobuf.ProtobufError as e:
            raise bad_request(str(e)) from None
    elif mt in YAML_TYPES:
        try:
            obj = limits.loads_yaml(data)
        except (yaml.YAMLError, ValueError) as e:
            raise bad_request(f"error converting YAML to JSON: {str(e).splitlines()[0]}") from None
        limits.check_shape(obj, len(data))   # aliases, depth, non-JSON values (JSON: typecheck walks it)
        obj = limits.copy_json(obj)   # keys become strings (1 -> "1", true -> "true"), as sigs.k8s.io/yaml makes them
    else:
        raise unsupported_media_type(mt, (JSON, "application/yaml", protobuf.MEDIA_TYPE))
    if not isinstance(obj, dict):
        raise bad_request("Object 'Kind' is missing in the request body: expected a JSON object")
    return obj


def object_body(scope: Scope, data: bytes | None = None, content_type: str | None = None) -> dict:
    """The request body as an object of the URL's kind, namespace and (for items) name."""
    if data is None:
        data = read_body()
        content_type = request.headers.get("Content-Type")
    obj = decode(data, content_type)
    check_object(scope, obj)
    return obj


def check_object(scope: Scope, obj: dict) -> None:
    """Fill or check kind, apiVersion, metadata.namespace and metadata.name against the URL (400)."""
    res = scope.resource
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if api_version and api_version != res.group_version:
        raise bad_request(f"the API version in the data ({api_version}) does not match the expected "
                          f"API version ({res.group_version})")
    if kind and kind != res.kind:
        raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({res.kind}) "
                          f"for {res.name}")
    obj["kind"], obj["apiVersion"] = res.kind, res.group_version
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    v.expect(meta, dict, res.kind, f"{res.kind}.metadata", "v1.ObjectMeta")
    if res.namespaced:
        ns = meta.get("namespace")
        if ns and ns != scope.namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on "
                              "the request")
        meta["namespace"] = scope.namespace
    else:
        meta.pop("namespace", None)
    if scope.name is not None:
        name = meta.get("name")
        if name and name != scope.name:
            raise bad_request(f"the name of the object ({name}) does not match the name on the URL "
                              f"({scope.name})")
        meta["name"] = scope.name


def check_fields(scope: Scope, obj: dict, patch: str | None = None) -> None:
    """Check `obj` against its type before it is stored (every write path calls this): a type mismatch
    is upstream's decode error (400 BadRequest; for a patch, 422 Invalid showing `patch`, see
    typecheck.decode_error); unknown fields are dropped, and ?fieldValidation= (default Warn, as
    upstream) says whether they are also refused (Strict) or reported as Warning headers (Warn)."""
    mode = request.args.get("fieldValidation") or "Warn"
    if mode not in FIELD_VALIDATION:
        raise bad_request(f'fieldValidation parameter unsupported: "{mode}", supported values are '
                          f'"Ignore", "Warn", "Strict"')
    for text in typecheck.admit(scope.resource, obj, mode, patch):
        add_warning(text)


def dry_run(values: list | None = None, options_kind: str = "CreateOptions") -> bool:
    """dryRun=All: do everything but the write. `values` default to the query's dryRun parameters.

    Anything but "All" is 422 Invalid on the options kind, in upstream's words
    (ValidateDryRun: `dryRun: Unsupported value: []string{"x"}: supported values: "All"`).
    """
    if values is None:
        values = request.args.getlist("dryRun")
    if any(value != "All" for value in values):
        shown = ", ".join(json.dumps(value) for value in values)
        raise invalid_options(options_kind, [{"reason": "FieldValueNotSupported", "field": "dryRun",
                                              "message": f'Unsupported value: []string{{{shown}}}: '
                                                         f'supported values: "All"'}])
    return bool(values)


def add_warning(text: str) -> None:
    g.setdefault("warnings", []).append(text)


def int_arg(name: str, minimum: int | None = 0) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    value = limits.query_int(name, raw)
    if minimum is not None and value < minimum:
        raise bad_request(f"invalid value for {name}: {value}: must be >= {minimum}")
    return value


# -- answers ------------------------------------------------------------------------------

def respond(body: dict, code: int = 200) -> Response:
    """JSON, or protobuf when the client accepts nothing else (and the kind has a protobuf form)."""
    accept = request.headers.get("Accept")
    if not plain_json(accept) and protobuf_only(accept) and protobuf.can_encode(body):
        try:
            return Response(protobuf.encode(body), status=code, mimetype=protobuf.MEDIA_TYPE)
        except protobuf.ProtobufError as e:   # a field with no protobuf form: JSON loses nothing
            current_app.logger.warning("answering JSON: %s", e)
    return Response(dumps(body), status=code, mimetype=JSON)


def plain_json(accept: str | None) -> bool:
    """Whether Accept leaves nothing to negotiate: no parameters (a Table or PartialObjectMetadata is asked
    for with `;as=...`) and no protobuf. Most requests (no Accept, */*, application/json) stop here."""
    return not accept or (";" not in accept and "protobuf" not in accept.lower())


def protobuf_only(accept: str | None) -> bool:
    """Whether Accept names protobuf and no JSON (kubectl's typed clients also accept JSON)."""
    types = [media_type(part) for part in (accept or "").split(",")]
    return protobuf.MEDIA_TYPE in types and not any(t in (JSON, "*/*", "application/*") for t in types)


def respond_object(scope: Scope, obj: dict, code: int = 200) -> Response:
    """One object, or a one-row Table (kubectl get NAME), or its PartialObjectMetadata, as the client asks."""
    accept = request.headers.get("Accept")
    if plain_json(accept):
        return Response(dumps(obj), status=code, mimetype=JSON)
    from .. import partial
    from ..printers import to_table, wants_table
    version = partial.requested(accept, "PartialObjectMetadata")
    if version:
        return respond(partial.of(obj, version), code)
    if wants_table(accept):
        rv = obj.get("metadata", {}).get("resourceVersion", "")
        return respond(to_table(scope.resource, [obj], rv, request.args.get("includeObject") or "Metadata"), code)
    return respond(obj, code)
