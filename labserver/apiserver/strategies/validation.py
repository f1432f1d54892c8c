"""Field errors in Kubernetes' words (apimachinery/pkg/util/validation/field).

Validation collects causes `{"reason","message","field"}` instead of failing
on the first, so a 422 Invalid names everything wrong at once, exactly as
`kubectl` prints it. Shape errors (a string where an object belongs) are 400
BadRequest, as when upstream's decoder cannot unmarshal a body.
"""
from __future__ import annotations

import re

from ..errors import bad_request

DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + r")*"
_LABEL_RE = re.compile(f"^{DNS1123_LABEL}$")
_SUBDOMAIN_RE = re.compile(f"^{DNS1123_SUBDOMAIN}$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 f"validation is '{DNS1123_SUBDOMAIN}')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             f"validation is '{DNS1123_LABEL}')")


def is_dns1123_subdomain(value) -> bool:
    return isinstance(value, str) and len(value) <= 253 and bool(_SUBDOMAIN_RE.match(value))


def is_dns1123_label(value) -> bool:
    return isinstance(value, str) and len(value) <= 63 and bool(_LABEL_RE.match(value))


def _show(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if value is True or value is False:
        return str(value).lower()
    return str(value)


def required(field: str, detail: str = "") -> dict:
    return {"reason": "FieldValueRequired", "message": "Required value" + (f": {detail}" if detail else ""),
            "field": field}


def invalid(field: str, value, detail: str) -> dict:
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {_show(value)}: {detail}", "field": field}


def duplicate(field: str, value) -> dict:
    return {"reason": "FieldValueDuplicate", "message": f"Duplicate value: {_show(value)}", "field": field}


def not_found(field: str, value) -> dict:
    return {"reason": "FieldValueNotFound", "message": f"Not found: {_show(value)}", "field": field}


def not_supported(field: str, value, supported) -> dict:
    options = ", ".join(_show(s) for s in supported)
    return {"reason": "FieldValueNotSupported",
            "message": f"Unsupported value: {_show(value)}: supported values: {options}", "field": field}


def forbidden(field: str, detail: str) -> dict:
    return {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": field}


def name_causes(name, field: str = "metadata.name", label: bool = False) -> list[dict]:
    """Causes for a name that must be a DNS-1123 subdomain (or label)."""
    if label:
        if is_dns1123_label(name):
            return []
        if isinstance(name, str) and len(name) > 63:
            return [invalid(field, name, "must be no more than 63 characters")]
        return [invalid(field, name, LABEL_MSG)]
    if is_dns1123_subdomain(name):
        return []
    if isinstance(name, str) and len(name) > 253:
        return [invalid(field, name, "must be no more than 253 characters")]
    return [invalid(field, name, SUBDOMAIN_MSG)]


def label_causes(labels, field: str = "metadata.labels") -> list[dict]:
    """Label keys are qualified names (optional DNS prefix + '/'); values at most 63 safe characters."""
    causes = []
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if (prefix and not is_dns1123_subdomain(prefix)) or not name or len(name) > 63 \
                or not _QUALIFIED_NAME.match(name):
            causes.append(invalid(field, key, "name part must consist of alphanumeric characters, '-', '_' "
                                  "or '.', and must start and end with an alphanumeric character"))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(invalid(f"{field}", value, "a valid label must be an empty string or consist of "
                                  "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                                  "alphanumeric character"))
    return causes


def finalizer_causes(finalizers, field: str = "metadata.finalizers") -> list[dict]:
    """Each finalizer is a qualified name (`example.com/name` or a bare name such as `kubernetes`)."""
    causes = []
    for i, name in enumerate(finalizers or []):
        prefix, _, short = name.rpartition("/") if isinstance(name, str) else ("", "", None)
        if short is None or (prefix and not is_dns1123_subdomain(prefix)) or not short or len(short) > 63 \
                or not _QUALIFIED_NAME.match(short):
            causes.append(invalid(f"{field}[{i}]", name, "name part must consist of alphanumeric characters, "
                                  "'-', '_' or '.', and must start and end with an alphanumeric character"))
    return causes


def new_finalizer_causes(meta: dict, old_meta: dict) -> list[dict]:
    """No finalizer may be added once deletion has begun (ValidateNoNewFinalizers, with Go's %#v)."""
    if not old_meta.get("deletionTimestamp"):
        return []
    extra = sorted(set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or []))
    if not extra:
        return []
    shown = ", ".join('"' + str(f).replace('"', '\\"') + '"' for f in extra)
    return [forbidden("metadata.finalizers", "no new finalizers can be added if the object is being deleted, "
                      f"found new finalizers []string{{{shown}}}")]


_GO_VALUES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "bool"}
_GO_TYPES = {dict: "object", list: "array", str: "string", int: "int64", bool: "bool"}


def expect(value, typ, kind: str, path: str, go_type: str | None = None):
    """Return `value` if it has JSON type `typ` (None passes); else 400 in the words of upstream's decoder
    (`go_type`: the Go type named there, e.g. v1.ObjectMeta)."""
    if value is None or (isinstance(value, typ) and not (typ is int and isinstance(value, bool))):
        return value
    got = _GO_VALUES.get(type(value), type(value).__name__)
    raise bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: json: cannot unmarshal {got} '
                      f'into Go struct field {path} of type {go_type or _GO_TYPES[typ]}')
