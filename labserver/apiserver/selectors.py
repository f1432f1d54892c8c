"""Label and field selectors, parsed into predicates the list and watch handlers apply.

kubectl's `-l` and `--field-selector`, and the kubelet's
`fieldSelector=spec.nodeName=<node>`, arrive as query strings. Kubernetes parses
them in k8s.io/apimachinery/pkg/labels/selector.go and pkg/fields/selector.go,
and each resource declares which fields it can be selected by
(pkg/registry/core/pod/strategy.go ToSelectableFields, ...). We do the same:
parse once per request, then call the predicate on every object read or
watched. Bad syntax and unsupported fields are 400 BadRequest, as upstream.
"""
from __future__ import annotations

import re
from typing import Callable

from labserver.apiserver.errors import bad_request
from labserver.apiserver.resources import ResourceInfo

# Fields every resource can be selected by, and the extra ones per resource
# (upstream: the *ToSelectableFields / AddFieldLabelConversionFunc tables).
COMMON_FIELDS = ("metadata.name", "metadata.namespace")
RESOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"),
    "events": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
               "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
               "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"),
    "nodes": ("spec.unschedulable",),
    "namespaces": ("status.phase",),
}

_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                        r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# One requirement: `key op value`, `key in (a,b)`, `key`, `!key`.
_TOKEN = re.compile(r"\s*(\(|\)|,|!=|==|=|!|<|>|[^\s(),!=<>]+)\s*")


def parse_label_selector(text: str | None) -> Callable[[dict], bool]:
    """A predicate on an object's labels dict (None counts as empty) for a label selector
    (=, ==, !=, in, notin, exists, !exists, and the integer comparisons > and <)."""
    text = (text or "").strip()
    if not text:
        return lambda labels: True
    tokens = _tokenize(text)
    requirements: list[Callable[[dict], bool]] = []
    pos = 0
    while pos < len(tokens):
        req, pos = _parse_requirement(tokens, pos, text)
        requirements.append(req)
        if pos < len(tokens):
            if tokens[pos] != ",":
                raise bad_request(f'unable to parse requirement: found \'{tokens[pos]}\', expected: \',\' or \'end of string\'')
            pos += 1
            if pos == len(tokens):
                raise bad_request("found '', expected: !, identifier, or 'end of string'")
    return lambda labels: all(r(labels or {}) for r in requirements)


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise bad_request(f"unable to parse label selector {text!r}")
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


def _check_key(key: str) -> str:
    if not _LABEL_KEY.match(key) or len(key.split("/")[-1]) > 63:
        raise bad_request(f'unable to parse requirement: invalid label key "{key}": name part must consist '
                          "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                          "alphanumeric character")
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise bad_request(f'unable to parse requirement: invalid label value: "{value}": a valid label must be '
                          "an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
                          "start and end with an alphanumeric character")
    return value


def _parse_requirement(tokens: list[str], pos: int, text: str):
    if tokens[pos] == "!":
        if pos + 1 >= len(tokens) or tokens[pos + 1] in "(),!=":
            raise bad_request(f"unable to parse label selector {text!r}: expected identifier after '!'")
        key = _check_key(tokens[pos + 1])
        return (lambda labels: key not in labels), pos + 2
    key = _check_key(tokens[pos]) if tokens[pos] not in ("(", ")", ",", "=", "==", "!=") else None
    if key is None:
        raise bad_request(f"unable to parse requirement: found '{tokens[pos]}', expected: identifier")
    pos += 1
    if pos >= len(tokens) or tokens[pos] == ",":
        return (lambda labels: key in labels), pos
    op = tokens[pos]
    if op in ("=", "==", "!="):
        value = tokens[pos + 1] if pos + 1 < len(tokens) and tokens[pos + 1] not in "(),!=" else ""
        _check_value(value)
        nxt = pos + 2 if value else pos + 1
        if op == "!=":
            return (lambda labels: labels.get(key) != value), nxt
        return (lambda labels: key in labels and labels[key] == value), nxt
    if op in (">", "<"):
        bound = tokens[pos + 1] if pos + 1 < len(tokens) else ""
        if not re.fullmatch(r"-?\d+", bound):
            raise bad_request(f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an "
                              f"integer: {bound!r}")
        limit = int(bound)

        def compare(labels: dict) -> bool:
            value = labels.get(key)
            if value is None or not re.fullmatch(r"-?\d+", value):
                return False
            return int(value) > limit if op == ">" else int(value) < limit
        return compare, pos + 2
    if op in ("in", "notin"):
        if pos + 1 >= len(tokens) or tokens[pos + 1] != "(":
            raise bad_request(f"unable to parse requirement: found '{tokens[pos + 1] if pos + 1 < len(tokens) else ''}', expected: '('")
        values, pos = set(), pos + 2
        while pos < len(tokens) and tokens[pos] != ")":
            if tokens[pos] != ",":
                values.add(_check_value(tokens[pos]))
            pos += 1
        if pos >= len(tokens):
            raise bad_request("unable to parse requirement: found '', expected: ',', ')' or identifier")
        if not values:
            raise bad_request(f"unable to parse requirement: for 'in', 'notin' operators, values set can't be empty")
        if op == "in":
            return (lambda labels: key in labels and labels[key] in values), pos + 1
        return (lambda labels: labels.get(key) not in values), pos + 1
    raise bad_request(f"unable to parse requirement: found '{op}', expected: in, notin, =, ==, !=, gt, lt")


def parse_field_selector(text: str | None, resource: ResourceInfo) -> Callable[[dict], bool]:
    """A predicate on a whole object for a field selector on `resource` (400 on bad input)."""
    text = (text or "").strip()
    if not text:
        return lambda obj: True
    allowed = COMMON_FIELDS + RESOURCE_FIELDS.get(resource.name, ())
    terms: list[tuple[str, bool, str]] = []
    for part in _split_unescaped(text):
        m = re.match(r"^([^=!]*?)(!=|==|=)(.*)$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.group(1).strip(), m.group(2), _unescape(m.group(3).strip())
        if field not in allowed:
            # kubectl prefixes this with `Unable to find "/v1, Resource=pods" that match ...`
            raise bad_request(f"field label not supported: {field}")
        terms.append((field, op == "!=", value))

    def matches(obj: dict) -> bool:
        for field, negate, value in terms:
            if (field_value(obj, field) == value) == negate:
                return False
        return True
    return matches


def field_value(obj: dict, field: str) -> str:
    """The string a field selector compares for `field` (missing -> "", booleans lowercased)."""
    if field == "source":  # events: source.component (legacy) or reportingComponent
        src = obj.get("source")
        src = src.get("component") if isinstance(src, dict) else None
        return src if src is not None else obj.get("reportingComponent", "") or ""
    value = obj
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if field == "status.podIPs":
        value = ",".join(str(ip.get("ip", "")) for ip in value if isinstance(ip, dict)) \
            if isinstance(value, list) else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if field == "spec.unschedulable" and value is None:
        return "false"
    return "" if value is None else str(value)


def selectable(obj: dict, resource: ResourceInfo) -> dict:
    """What the predicates of this module read of `obj`, and nothing else: metadata.labels and the path
    to each field `resource` can be selected by (upstream's watch cache keeps an object's labels and
    fields the same way, beside it). A predicate gives the same answer, or raises the same error, on
    this as on the whole object; a plain LIST keeps it (encoded.py) to select without decoding again."""
    view: dict = {"metadata": {"labels": obj["metadata"].get("labels")}}
    for field in COMMON_FIELDS + RESOURCE_FIELDS.get(resource.name, ()):
        source, target = obj, view
        *parents, leaf = field.split(".")
        for part in parents:
            value = source.get(part)
            if not isinstance(value, dict):   # field_value finds None here, as in the view
                break
            source, target = value, target.setdefault(part, {})
        else:
            target[leaf] = source.get(leaf)
    return view


def _split_unescaped(text: str) -> list[str]:
    """Split on commas not escaped with a backslash (fields.ParseSelector escaping)."""
    parts, cur, escape = [], [], False
    for ch in text:
        if escape:
            cur.append("\\" + ch)
            escape = False
        elif ch == "\\":
            escape = True
        elif ch == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
