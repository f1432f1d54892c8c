"""Every object is checked against its type before it is stored (upstream: decoding into the Go types).

kube-apiserver decodes each body into the Go struct of its kind: a field of
the wrong JSON type cannot be decoded, an unknown field has nowhere to go
and is dropped (reported under fieldValidation=Warn, refused under Strict),
a null leaves the field at its zero value (omitted, except a zero metav1.Time,
which Go writes as null). `admit` does the same on our
JSON objects, with the types of schemas.py, on every write path (create,
update, the four patch types, status): it prunes what upstream would drop
and refuses a mismatch with the error Go's decoder gives for the first one,
`json: cannot unmarshal string into Go struct field Container.spec.containers.resources
of type v1.ResourceRequirements` (Go's integer widths from our protobuf messages),
as upstream answers it: 400 BadRequest for a body, 422 Invalid on `patch` for
a patch (decode_error). Times must be RFC 3339 with a zone, quantities must
parse, integers fit their Go type. The kind's own rules (strategies/) run
afterwards, on a well-typed object, and are 422 Invalid with causes.
"""
from __future__ import annotations

import functools
import re

from . import protobuf, schemas
from .errors import APIError, bad_request
from .limits import INT64_MAX, INT64_MIN, MAX_DEPTH
from .resources import ResourceInfo

_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# resource.Quantity: sign, digits with an optional fraction, then a binary or decimal SI suffix
# or a decimal exponent (apimachinery/pkg/api/resource/quantity.go).
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
QUANTITY_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


def admit(resource: ResourceInfo, obj: dict, mode: str, patch: str | None = None) -> list[str]:
    """Type-check and prune `obj` (of `resource`'s kind) in place; returns warnings (Warn) or raises
    decode_error() (a type mismatch; unknown fields under Strict). `patch`: see decode_error."""
    return admit_as(resource.group, resource.version, resource.kind, obj, mode, patch)


def admit_as(group: str, version: str, kind: str, obj: dict, mode: str, patch: str | None = None) -> list[str]:
    """admit() for a body of another kind than the resource's (an Eviction posted to pods/eviction)."""
    walk = _Walk()
    walk.object(_kind_component(group, version, kind), obj, "")
    if walk.go_errors:     # Go's decoder reports the first mismatch in the document
        raise decode_error(kind, version, walk.go_errors[0], patch)
    messages = [f"unknown field {go_quote(path)}" for path in walk.unknown]
    if messages and mode == "Strict":
        raise decode_error(kind, version, f'strict decoding error: {", ".join(messages)}', patch)
    return messages if mode == "Warn" else []


def decode_error(kind: str, version: str, message: str, patch: str | None = None) -> APIError:
    """A body that does not decode into its kind's Go type, as upstream answers it.

    A created or replaced object (POST, PUT, server-side apply): 400 BadRequest,
    `Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal ...`
    (handlers' transformDecodeError). A patch (`patch` given: the patched object's
    JSON, or the strategic merge patch as Go prints it): 422 Invalid on the field
    `patch`, whose value is that text (handlers/patch.go, NewInvalid with no kind or name).
    """
    if patch is None:
        return bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: {message}')
    body = f"Invalid value: {go_quote(patch)}: {message}"
    return APIError(422, "Invalid", f' "" is invalid: patch: {body}',
                    {"causes": [{"reason": "FieldValueInvalid", "message": body, "field": "patch"}]})


def go_print(value) -> str:
    """fmt.Sprintf("%+v", v) of a decoded JSON value (map[string]interface{}): how upstream shows a
    strategic merge patch in its error: map[spec:map[replicas:x]], keys sorted, lists [a b]."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_print(value[k])}" for k in sorted(value, key=str)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):    # strconv's shortest form, its exponent with a sign and two digits
        mantissa, _, exponent = repr(value).partition("e")
        mantissa = mantissa[:-2] if mantissa.endswith(".0") else mantissa
        if not exponent:
            return mantissa
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}e{sign}{exponent.lstrip('+-').zfill(2)}"
    return str(value)


_kind_component = functools.cache(schemas.kind_component)


DELETE_OPTIONS = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"


def check_options(obj: dict, component: str = DELETE_OPTIONS) -> None:
    """Options bodies (DeleteOptions) decode like any object: unknown fields dropped, a wrong type 400."""
    walk = _Walk()
    walk.object(component, obj, "")
    if walk.go_errors:
        name = component.rpartition(".")[2]
        raise bad_request(f'{name} in version "v1" cannot be handled as a {name}: {walk.go_errors[0]}')


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
    """One pass over an object against its schema, collecting causes, unknown-field paths, and for each
    cause the error Go's JSON decoder gives (`go_errors`: upstream's words, e.g. `json: cannot unmarshal
    string into Go struct field DeploymentSpec.spec.replicas of type int32`).

    `at` is Go's error context of the value being checked: (the Go struct holding the field, the field's
    path of JSON names without list indices or map keys), as encoding/json reports it."""

    def __init__(self):
        self.causes: list[dict] = []
        self.go_errors: list[str] = []
        self.unknown: list[str] = []

    def mismatch(self, path: str, value, want: str, at: tuple, go_type: str) -> None:
        got = _type_name(value)
        self.causes.append({"reason": "FieldValueTypeInvalid", "field": path,
                            "message": f'Invalid value: "{got}": {path} in body must be of type {want}: "{got}"'})
        self.go_errors.append(_unmarshal_error(_go_value(value), at, go_type))

    def bad_value(self, path: str, value, detail: str, go_error: str) -> None:
        shown = f'"{value}"' if isinstance(value, str) and value != "..." else str(value)
        self.causes.append({"reason": "FieldValueInvalid", "field": path,
                            "message": f"Invalid value: {shown}: {detail}"})
        self.go_errors.append(go_error)

    def object(self, component: str, value: dict, path: str, go_path: str = "") -> None:
        fields = _fields(component)
        struct = component.rpartition(".")[2]
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
                at = (struct, _join(go_path, key), component, key)
                value[key] = self.value(t, item, _join(path, key), at)

    def value(self, t: schemas.TypeRef, value, path: str, at: tuple):
        """Check one value; returns it (null list items become their zero value, as Go decodes them)."""
        kind = t.kind
        if kind == "ref":
            if isinstance(value, dict):
                self.object(t.name, value, path, at[1])
            else:
                self.mismatch(path, value, "object", at, _go_type(t, at))
        elif kind == "list":
            if isinstance(value, list):
                for i, item in enumerate(value):
                    value[i] = self.value(t.item, _zero(t.item) if item is None else item, f"{path}[{i}]", at)
            else:
                self.mismatch(path, value, "array", at, _go_type(t, at))
        elif kind == "map":
            self.map(t.name, value, path, at)
        elif kind == "scalar":
            self.scalar(t.name, value, path, at)
        elif kind == "leaf":
            self.leaf(t.name, value, path, at)
        elif not depth_ok(value):       # free-form: the only place a value may nest without a schema
            self.bad_value(path, "...", f"nests deeper than {MAX_DEPTH} levels",
                           f"exceeded max depth of {MAX_DEPTH}")
        return value

    def scalar(self, want: str, value, path: str, at: tuple) -> None:
        go_type = _go_scalar(want, at)
        if want == "string":
            ok = isinstance(value, str)
        elif want == "boolean":
            ok = isinstance(value, bool)
        elif want == "integer":
            ok = isinstance(value, int) and not isinstance(value, bool)
            if ok and not INT64_MIN <= value <= INT64_MAX:   # Go's decoder: a 400, not a field error
                raise bad_request(_unmarshal_error(f"number {value}", at, go_type))
            if ok and go_type == "int32" and not -(1 << 31) <= value < (1 << 31):
                self.mismatch(path, value, "int32", at, go_type)
                self.go_errors[-1] = _unmarshal_error(f"number {value}", at, go_type)
                return
            if isinstance(value, float) and not isinstance(value, bool):    # 1.5 where an integer belongs
                self.mismatch(path, value, want, at, go_type)
                self.go_errors[-1] = _unmarshal_error(f"number {value:g}", at, go_type)
                return
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            self.mismatch(path, value, want, at, go_type)

    def leaf(self, name: str, value, path: str, at: tuple) -> None:
        if name == "time":
            if not isinstance(value, str):
                self.mismatch(path, value, "string", at, "string")    # metav1.Time decodes a Go string
            elif not _TIME.match(value):
                self.bad_value(path, value, "must be an RFC 3339 date-time with a time zone "
                                            "(e.g. 2015-09-02T14:46:34Z)", _go_time_error(value))
        elif name == "quantity":
            self.quantity(value, path, at)
        elif name == "int-or-string":
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                self.mismatch(path, value, "integer or string", at, "int32")   # IntOrString's IntVal

    def quantity(self, value, path: str, at: tuple) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or \
                isinstance(value, str) and not _QUANTITY.match(value):
            shown = value if isinstance(value, str) else _type_name(value)
            self.bad_value(path, shown, QUANTITY_MESSAGE, QUANTITY_MESSAGE)   # resource.ErrFormatWrong

    def map(self, values: str, value, path: str, at: tuple) -> None:
        """map[string]string, or map[string]Quantity when `values` is "quantity"."""
        go_type = "v1.ResourceList" if values == "quantity" else "map[string]string"
        if not isinstance(value, dict):
            self.mismatch(path, value, "object", at, go_type)
            return
        for key in list(value):
            item, item_path = value[key], f"{path}[{key}]"
            if not isinstance(key, str):
                self.mismatch(item_path, key, "string", at, "string")
            elif item is None:
                value[key] = "" if values == "string" else "0"
            elif values == "quantity":
                self.quantity(item, item_path, at)
            elif not isinstance(item, str):
                self.mismatch(item_path, item, "string", at, "string")


def _go_value(value) -> str:
    """What Go's decoder calls a JSON value in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), "string")


def _unmarshal_error(value: str, at: tuple, go_type: str) -> str:
    return f"json: cannot unmarshal {value} into Go struct field {at[0]}.{at[1]} of type {go_type}"


def _go_scalar(want: str, at: tuple) -> str:
    if want == "integer":
        return "int32" if protobuf.int_bits(at[2], at[3]) == 32 else "int64"
    return {"string": "string", "boolean": "bool", "number": "float64"}.get(want, want)


def _go_type(t: schemas.TypeRef, at: tuple) -> str:
    """The Go type of a field as %v prints it: []v1.Container, v1.ObjectMeta, map[string]string, int32."""
    if t.kind == "ref":
        package, _, name = t.name.rpartition(".")
        return f"{package.rpartition('.')[2]}.{name}"
    if t.kind == "list":
        return "[]" + _go_type(t.item, at)
    if t.kind == "map":
        return "v1.ResourceList" if t.name == "quantity" else "map[string]string"
    if t.kind == "scalar":
        return _go_scalar(t.name, at)
    return {"time": "v1.Time", "quantity": "resource.Quantity", "int-or-string": "intstr.IntOrString"}.get(
        t.name, "interface {}")


def _go_time_error(value: str) -> str:
    """time.Parse(time.RFC3339, value)'s error, for the usual mistakes (no zone; not a date at all)."""
    layout = "2006-01-02T15:04:05Z07:00"
    if re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$", value):
        return f'parsing time {go_quote(value)} as "{layout}": cannot parse "" as "Z07:00"'
    return f'parsing time {go_quote(value)} as "{layout}": cannot parse {go_quote(value)} as "2006"'


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
