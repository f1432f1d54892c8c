"""Every object is checked against its type before it is stored (upstream: decoding into the Go types).

kube-apiserver decodes each body into the Go struct of its kind: a field of
the wrong JSON type cannot be decoded, an unknown field has nowhere to go
and is dropped (reported under fieldValidation=Warn, refused under Strict),
a null leaves the field at its zero value (omitted, except a zero metav1.Time,
which Go writes as null). `admit` does the same on our
JSON objects, with the types of schemas.py, on every write path (create,
update, the four patch types, status): it prunes what upstream would drop
and raises 422 Invalid with one cause per mismatch, e.g.
`spec.containers[0].resources: Invalid value: "string": spec.containers[0].resources
in body must be of type object: "string"` (reason FieldValueTypeInvalid).
Times must be RFC 3339 with a zone, quantities must parse, integers fit
int64. The kind's own rules (strategies/) run afterwards, on a well-typed object.
"""
from __future__ import annotations

import functools
import re

from . import schemas
from .errors import APIError, bad_request, invalid
from .limits import INT64_MAX, INT64_MIN, MAX_DEPTH
from .resources import ResourceInfo

_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# resource.Quantity: sign, digits with an optional fraction, then a binary or decimal SI suffix
# or a decimal exponent (apimachinery/pkg/api/resource/quantity.go).
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
QUANTITY_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


def admit(resource: ResourceInfo, obj: dict, mode: str) -> list[str]:
    """Type-check and prune `obj` (of `resource`'s kind) in place; returns warnings (Warn) or raises 422
    (types; unknown fields under Strict)."""
    return admit_as(resource.group, resource.version, resource.kind, obj, mode)


def admit_as(group: str, version: str, kind: str, obj: dict, mode: str) -> list[str]:
    """admit() for a body of another kind than the resource's (an Eviction posted to pods/eviction)."""
    walk = _Walk()
    walk.object(_kind_component(group, version, kind), obj, "")
    name = ((obj.get("metadata") or {}).get("name")) or ""
    name = name if isinstance(name, str) else ""
    if walk.causes:
        raise invalid(kind, name, walk.causes, group)
    messages = [f"unknown field {go_quote(path)}" for path in walk.unknown]
    if messages and mode == "Strict":
        causes = [{"reason": "FieldValueInvalid", "message": "unknown field", "field": p} for p in walk.unknown]
        details = {"name": name, "kind": kind, "causes": causes}
        if group:
            details["group"] = group
        group_version = f"{group}/{version}" if group else version
        raise APIError(422, "Invalid", f'{kind} in version "{group_version}" cannot be handled as a {kind}: '
                                       f'strict decoding error: {", ".join(messages)}', details)
    return messages if mode == "Warn" else []


_kind_component = functools.cache(schemas.kind_component)


DELETE_OPTIONS = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"


def check_options(obj: dict, component: str = DELETE_OPTIONS) -> None:
    """Options bodies (DeleteOptions) decode like any object: unknown fields dropped, a wrong type 400."""
    walk = _Walk()
    walk.object(component, obj, "")
    if walk.causes:
        name = component.rpartition(".")[2]
        raise bad_request(f"{name} in version \"v1\" cannot be handled: " +
                          "; ".join(f'{c["field"]}: {c["message"]}' for c in walk.causes))


def go_quote(text: str) -> str:
    """Go's %q of a string: quotes, backslash escapes for control characters, printable Unicode kept."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _type_name(value) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Walk:
    """One pass over an object against its schema, collecting causes and unknown-field paths."""

    def __init__(self):
        self.causes: list[dict] = []
        self.unknown: list[str] = []

    def mismatch(self, path: str, value, want: str) -> None:
        got = _type_name(value)
        self.causes.append({"reason": "FieldValueTypeInvalid", "field": path,
                            "message": f'Invalid value: "{got}": {path} in body must be of type {want}: "{got}"'})

    def bad_value(self, path: str, value, detail: str) -> None:
        shown = f'"{value}"' if isinstance(value, str) and value != "..." else str(value)
        self.causes.append({"reason": "FieldValueInvalid", "field": path,
                            "message": f"Invalid value: {shown}: {detail}"})

    def object(self, component: str, value: dict, path: str) -> None:
        fields = _fields(component)
        for key in list(value):
            item = value[key]
            t = fields.get(key) if isinstance(key, str) else None
            if t is None:
                self.unknown.append(_join(path, str(key)))
                del value[key]
            elif item is None:
                if t.kind != "leaf" or t.name != "time":
                    del value[key]  # decoded as the zero value, and omitted; a zero metav1.Time is null
            elif t is _STRING and isinstance(item, str):
                continue            # the common case, without building the field's path
            else:
                value[key] = self.value(t, item, _join(path, key))

    def value(self, t: schemas.TypeRef, value, path: str):
        """Check one value; returns it (null list items become their zero value, as Go decodes them)."""
        kind = t.kind
        if kind == "ref":
            if isinstance(value, dict):
                self.object(t.name, value, path)
            else:
                self.mismatch(path, value, "object")
        elif kind == "list":
            if isinstance(value, list):
                for i, item in enumerate(value):
                    value[i] = self.value(t.item, _zero(t.item) if item is None else item, f"{path}[{i}]")
            else:
                self.mismatch(path, value, "array")
        elif kind == "map":
            self.map(t.name, value, path)
        elif kind == "scalar":
            self.scalar(t.name, value, path)
        elif kind == "leaf":
            self.leaf(t.name, value, path)
        elif not depth_ok(value):       # free-form: the only place a value may nest without a schema
            self.bad_value(path, "...", f"nests deeper than {MAX_DEPTH} levels")
        return value

    def scalar(self, want: str, value, path: str) -> None:
        if want == "string":
            ok = isinstance(value, str)
        elif want == "boolean":
            ok = isinstance(value, bool)
        elif want == "integer":
            ok = isinstance(value, int) and not isinstance(value, bool)
            if ok and not INT64_MIN <= value <= INT64_MAX:   # Go's decoder: a 400, not a field error
                raise bad_request(f"json: cannot unmarshal number {value} into Go struct field {path} of "
                                  f"type int64")
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            self.mismatch(path, value, want)

    def leaf(self, name: str, value, path: str) -> None:
        if name == "time":
            if not isinstance(value, str):
                self.mismatch(path, value, "string")
            elif not _TIME.match(value):
                self.bad_value(path, value, "must be an RFC 3339 date-time with a time zone "
                                            "(e.g. 2015-09-02T14:46:34Z)")
        elif name == "quantity":
            self.quantity(value, path)
        elif name == "int-or-string":
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                self.mismatch(path, value, "integer or string")

    def quantity(self, value, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.mismatch(path, value, "string")
        elif isinstance(value, str) and not _QUANTITY.match(value):
            self.bad_value(path, value, QUANTITY_MESSAGE)

    def map(self, values: str, value, path: str) -> None:
        """map[string]string, or map[string]Quantity when `values` is "quantity"."""
        if not isinstance(value, dict):
            self.mismatch(path, value, "object")
            return
        for key in list(value):
            item, item_path = value[key], f"{path}[{key}]"
            if not isinstance(key, str):
                self.mismatch(item_path, key, "string")
            elif item is None:
                value[key] = "" if values == "string" else "0"
            elif values == "quantity":
                self.quantity(item, item_path)
            elif not isinstance(item, str):
                self.mismatch(item_path, item, "string")


_STRING = schemas.TypeRef("scalar", "string")


@functools.cache
def _fields(component: str) -> dict:
    """json name -> TypeRef of a definition's fields (string scalars as the shared _STRING)."""
    return {name: (_STRING if f.type == _STRING else f.type)
            for name, f in schemas.definition(component).fields.items()}


def _zero(t: schemas.TypeRef):
    """The JSON of a Go zero value: what a null list item decodes to."""
    if t.kind == "ref" or t.kind == "map":
        return {}
    if t.kind == "list":
        return []
    if t.kind == "scalar":
        return {"string": "", "integer": 0, "boolean": False, "number": 0}[t.name]
    return ""


def depth_ok(value) -> bool:
    """True when `value` nests at most MAX_DEPTH levels (iterative: safe on any stored object)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > MAX_DEPTH:
                return False
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
    return True
