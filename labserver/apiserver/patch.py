"""PATCH bodies applied to a stored object: the four patch types kubectl and clients send.

Kubernetes accepts (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go):
- application/merge-patch+json: RFC 7386, maps merged, lists replaced, null deletes;
- application/strategic-merge-patch+json: like a merge patch, but lists of
  objects that declare a patchMergeKey in the Go types (containers by name,
  volumeMounts by mountPath, ...) are merged element by element, and the
  `$patch`, `$setElementOrder/<f>`, `$deleteFromPrimitiveList/<f>` and
  `$retainKeys` directives of apimachinery/pkg/util/strategicpatch apply.
  `kubectl apply` (client-side) sends these;
- application/json-patch+json: RFC 6902 operations on JSON pointers;
- application/apply-patch+yaml: server-side apply. We do not track managed
  fields; the applied configuration is strategically merged into the object,
  enough for `kubectl apply --server-side` to create and update.
The result is a new dict; the caller validates it and writes it with the
original resourceVersion (so a concurrent write still conflicts).
Costs are bounded as upstream bounds them (limits.py): at most 10,000 JSON
patch operations (413), and `copy` operations may add at most 3 MiB in total,
so a small patch cannot build a huge object.
"""
from __future__ import annotations

import copy
import json

import yaml

from labserver.apiserver import limits
from labserver.apiserver.errors import APIError, bad_request, unsupported_media_type

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)

# patchMergeKey per list field name, from the core/v1, meta/v1 and coordination/v1 Go types.
MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "ports": "containerPort", "env": "name", "imagePullSecrets": "name", "hostAliases": "ip",
    "conditions": "type", "addresses": "type", "podIPs": "ip", "hostIPs": "ip",
    "containerStatuses": "name", "initContainerStatuses": "name", "ephemeralContainerStatuses": "name",
    "resourceClaims": "name", "ownerReferences": "uid", "schedulingGates": "name",
}
# A field name two types share with different merge keys: a Service's ports merge on `port`.
OTHER_MERGE_KEYS: dict[str, str] = {"ports": "port"}


def merge_key_of(field: str, elements: list) -> str | None:
    """The merge key of list `field`, telling a ServicePort list from a ContainerPort one by its elements."""
    key = MERGE_KEYS.get(field)
    other = OTHER_MERGE_KEYS.get(field)
    if other and any(isinstance(e, dict) and other in e and key not in e for e in elements):
        return other
    return key
# Lists of scalars merged as sets (patchStrategy:"merge" on a []string).
MERGED_PRIMITIVE_LISTS = frozenset({"finalizers"})

_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def apply_patch(original: dict, body: bytes, content_type: str) -> dict:
    """The object after applying `body` (a patch of `content_type`) to `original`."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in PATCH_TYPES:
        raise unsupported_media_type(content_type or "", PATCH_TYPES)
    patch = _decode(body, media)
    if media == JSON_PATCH:
        result = apply_json_patch(original, patch)
    elif not isinstance(patch, dict):
        raise bad_request(f"the body of the request was in an unknown format: expected a JSON object, "
                          f"got {type(patch).__name__}")
    elif media == MERGE_PATCH:
        result = merge_patch(original, patch)
    else:
        result = strategic_merge(original, patch)
    if not isinstance(result, dict):
        raise _rejected(f"the patched object is a JSON {type(result).__name__}, not an object")
    return result


def _decode(body: bytes, media: str):
    try:
        if media == APPLY_PATCH:  # kubectl sends JSON (valid YAML); the JSON parser is much faster
            try:
                patch = limits.loads_json(body)
            except ValueError:
                patch = limits.loads_yaml(body.decode("utf-8")) if body else None
                limits.check_shape(patch, len(body), "patch")
                return limits.copy_json(patch)   # YAML keys become strings, as sigs.k8s.io/yaml makes them
        else:
            patch = limits.loads_json(body)
    except (ValueError, yaml.YAMLError) as e:
        raise bad_request(f"error decoding patch: {_first_line(e)}")
    limits.check_shape(patch, len(body), "patch")
    return patch


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


# -- RFC 7386 ---------------------------------------------------------------

def merge_patch(original, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(original) if isinstance(original, dict) else {}   # untouched values are shared, not copied
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- strategic merge patch --------------------------------------------------

def strategic_merge(original, patch: dict) -> dict:
    """apimachinery strategicpatch.StrategicMergePatch on JSON-like dicts."""
    if patch.get("$patch") == "delete":
        raise bad_request("a strategic merge patch cannot delete the whole object ($patch: delete at the top)")
    return _merge_map(limits.copy_json(original) if isinstance(original, dict) else {}, patch)


def _merge_map(original: dict, patch: dict) -> dict:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive} in map: {patch}")
    retain = patch.get("$retainKeys")
    if retain is not None:
        if not isinstance(retain, list):
            raise bad_request(f"invalid value for $retainKeys: {retain!r}")
        original = {k: v for k, v in original.items() if k in retain}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith(_SET_ORDER):
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE):]
            if not isinstance(value, list):
                raise bad_request(f"invalid value for {key}: must be a list")
            if isinstance(original.get(field), list):
                original[field] = [v for v in original[field] if v not in value]
            continue
        if value is None:
            original.pop(key, None)
            continue
        current = original.get(key)
        if isinstance(value, dict):
            merged = _merge_map(current if isinstance(current, dict) else {}, value)
            if merged is None:
                original.pop(key, None)
            else:
                original[key] = merged
        elif isinstance(value, list):
            original[key] = _merge_list(key, current if isinstance(current, list) else [], value)
        else:
            original[key] = copy.deepcopy(value)
    for key, order in patch.items():
        if key.startswith(_SET_ORDER) and not isinstance(order, list):
            raise bad_request(f"invalid value for {key}: must be a list, not {type(order).__name__}")
        if key.startswith(_SET_ORDER) and isinstance(original.get(key[len(_SET_ORDER):]), list):
            field = key[len(_SET_ORDER):]
            original[field] = _ordered(field, original[field], order)
    return original


def _merge_list(field: str, original: list, patch: list) -> list:
    merge_key = merge_key_of(field, patch + original)
    if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
        return [copy.deepcopy({k: v for k, v in e.items() if k != "$patch"}) for e in patch
                if not (isinstance(e, dict) and e.get("$patch") == "replace")]
    if field in MERGED_PRIMITIVE_LISTS and all(not isinstance(e, (dict, list)) for e in patch):
        result = list(original)
        result.extend(e for e in patch if e not in result)
        return result
    if not merge_key or not all(isinstance(e, dict) for e in patch):
        return copy.deepcopy(patch)
    result = list(original)
    for element in patch:
        if merge_key not in element:
            raise bad_request(f"map: {element} does not contain declared merge key: {merge_key}")
        index = next((i for i, e in enumerate(result)
                      if isinstance(e, dict) and e.get(merge_key) == element[merge_key]), None)
        if element.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(_merge_map({}, element))
        else:
            result[index] = _merge_map(result[index], element)
    return result


def _ordered(field: str, items: list, order: list) -> list:
    """Reorder `items` by a `$setElementOrder` list; items it does not name keep their place after."""
    merge_key = merge_key_of(field, order + items)

    def ident(e):
        return e.get(merge_key) if merge_key and isinstance(e, dict) else e
    try:
        rank = {ident(o): i for i, o in enumerate(order)}
        listed = sorted((e for e in items if ident(e) in rank), key=lambda e: rank[ident(e)])
        return listed + [e for e in items if ident(e) not in rank]
    except TypeError:   # an object or list where a merge key value belongs
        raise bad_request(f"invalid value for $setElementOrder/{field}: elements must be scalars or carry "
                          f"a scalar merge key {merge_key!r}") from None


# -- RFC 6902 ----------------------------------------------------------------

def _rejected(message: str) -> APIError:
    """422 as upstream answers a JSON patch that decodes but cannot be applied."""
    return APIError(422, "Invalid", f"the server rejected our request due to an error in our request: {message}")


def apply_json_patch(original: dict, operations) -> dict:
    """RFC 6902 JSON patch: not an array is 400; an operation that cannot apply (bad op, missing path,
    failed `test`) is 422, as upstream (handlers/patch.go)."""
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    if len(operations) > limits.MAX_JSON_PATCH_OPERATIONS:
        raise APIError(413, "RequestEntityTooLarge", f"The allowed maximum operations in a JSON patch is "
                       f"{limits.MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}")
    doc = limits.copy_json(original)
    copied = 0
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise _rejected(f"invalid JSON patch operation: {json.dumps(op)}")
        kind = op["op"]
        if kind == "add":
            doc = _add(doc, _pointer(op["path"]), copy.deepcopy(_required(op, "value")))
        elif kind == "remove":
            doc = _remove(doc, _pointer(op["path"]))[0]
        elif kind == "replace":
            doc = _remove(doc, _pointer(op["path"]))[0]
            doc = _add(doc, _pointer(op["path"]), copy.deepcopy(_required(op, "value")))
        elif kind == "move":
            doc, value = _remove(doc, _pointer(_required(op, "from")))
            doc = _add(doc, _pointer(op["path"]), value)
        elif kind == "copy":
            text = json.dumps(_get(doc, _pointer(_required(op, "from"))))
            copied += len(text)
            if copied > limits.COPY_SIZE_LIMIT:
                raise _rejected(f"Unable to copy, the accumulated size increase of copy is {copied}, "
                                f"exceeding the limit {limits.COPY_SIZE_LIMIT}")
            doc = _add(doc, _pointer(op["path"]), json.loads(text))
        elif kind == "test":
            if _get(doc, _pointer(op["path"])) != _required(op, "value"):
                raise _rejected(f'testing value {op["path"]} failed: test failed')
        else:
            raise _rejected(f"Unexpected kind: {kind}")
    return doc


def _required(op: dict, name: str):
    if name not in op:
        raise _rejected(f"missing {name!r} in JSON patch operation {op['op']}")
    return op[name]


def _pointer(path) -> list[str]:
    if not isinstance(path, str) or not path.startswith("/"):   # "" (the whole object) is refused too
        raise _rejected(f"invalid JSON pointer: {json.dumps(path)}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]] if path else []


def _missing(parts: list[str]) -> APIError:
    return _rejected(f"unable to find path /{'/'.join(parts)}: doc is missing path")


def _container(doc, parts):
    target = doc
    for i, part in enumerate(parts):
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            raise _missing(parts[:i + 1])
    return target


def _get(doc, parts):
    return _container(doc, parts)


def _add(doc, parts, value):
    if not parts:
        return value
    parent, last = _container(doc, parts[:-1]), parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise _missing(parts)
    else:
        raise _missing(parts)
    return doc


def _remove(doc, parts):
    if not parts:
        return None, doc
    parent, last = _container(doc, parts[:-1]), parts[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return doc, parent.pop(int(last))
    raise _missing(parts)
