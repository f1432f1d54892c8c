"""ConfigMaps and Secrets: keyed data, at most 1 MiB, frozen by `immutable` (pkg/registry/core/configmap, secret).

Both hold a map of keys to values; the keys are config keys (`[-._a-zA-Z0-9]+`,
not `.` or `..`). A Secret's `data` and a ConfigMap's `binaryData` are base64
in JSON: a value that is not is refused as upstream's decoder refuses it (400).
A Secret's write-only `stringData` is merged into `data` and never stored; its
type defaults to Opaque and cannot change. Once `immutable: true` is stored, the
data can no longer change and neither can the flag.
"""
from __future__ import annotations

import base64
import binascii
import re

from ..errors import bad_request
from . import Strategy
from . import validation as v

MAX_SIZE = 1024 * 1024    # core.MaxSecretSize, for ConfigMaps too
_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
           "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
IMMUTABLE_MSG = "field is immutable when `immutable` is set"


def key_causes(key, path: str) -> list[dict]:
    """validation.IsConfigMapKey, reported at `data[key]`."""
    causes = []
    if len(key) > 253:
        causes.append(v.invalid(path, key, "must be no more than 253 characters"))
    if not _KEY_RE.match(key):
        causes.append(v.invalid(path, key, KEY_MSG))
    if key == ".":
        causes.append(v.invalid(path, key, "must not be '.'"))
    elif key == "..":
        causes.append(v.invalid(path, key, "must not be '..'"))
    elif key.startswith(".."):
        causes.append(v.invalid(path, key, "must not start with '..'"))
    return causes


def decoded_size(kind: str, field: str, values: dict) -> int:
    """Bytes behind base64 values; 400 for a value that is not base64 (as upstream's JSON decoder)."""
    size = 0
    for key, value in values.items():
        if not isinstance(value, str):
            v.expect(value, str, kind, f"{kind}.{field}")
        try:
            size += len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: illegal base64 data '
                              f'in {field}[{key}]') from None
    return size


def map_field(obj: dict, kind: str, field: str) -> dict:
    """obj[field] as a dict of strings (400 when it is something else)."""
    values = v.expect(obj.get(field), dict, kind, f"{kind}.{field}") or {}
    for value in values.values():
        v.expect(value, str, kind, f"{kind}.{field}")
    return values


def immutable_causes(new: dict, old: dict, fields: tuple[str, ...]) -> list[dict]:
    if old.get("immutable") is not True:
        return []
    causes = []
    if new.get("immutable") is not True:
        causes.append(v.forbidden("immutable", IMMUTABLE_MSG))
    for field in fields:
        if (new.get(field) or {}) != (old.get(field) or {}):
            causes.append(v.forbidden(field, IMMUTABLE_MSG))
    return causes


def _size_causes(size: int) -> list[dict]:
    if size > MAX_SIZE:
        return [{"reason": "FieldValueTooLong", "field": "",
                 "message": f"Too long: may not be more than {MAX_SIZE} bytes"}]
    return []


class ConfigMapStrategy(Strategy):
    def validate(self, cm: dict) -> list[dict]:
        data, binary = map_field(cm, "ConfigMap", "data"), map_field(cm, "ConfigMap", "binaryData")
        v.expect(cm.get("immutable"), bool, "ConfigMap", "ConfigMap.immutable")
        causes = []
        for key in data:
            causes += key_causes(key, f"data[{key}]")
            if key in binary:
                causes.append(v.invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        for key in binary:
            causes += key_causes(key, f"binaryData[{key}]")
        size = sum(len(value.encode()) for value in data.values())
        size += decoded_size("ConfigMap", "binaryData", binary)
        return causes + _size_causes(size)

    def validate_update(self, new: dict, old: dict) -> list[dict]:
        return self.validate(new) + immutable_causes(new, old, ("data", "binaryData"))


class SecretStrategy(Strategy):
    def default(self, secret: dict) -> None:
        """type defaults to Opaque; stringData is write-only, merged into data as base64."""
        if not secret.get("type"):
            secret["type"] = "Opaque"
        plain = map_field(secret, "Secret", "stringData")
        if plain:
            data = dict(map_field(secret, "Secret", "data"))
            for key, value in plain.items():
                data[key] = base64.b64encode(value.encode()).decode("ascii")
            secret["data"] = data
        secret.pop("stringData", None)

    def validate(self, secret: dict) -> list[dict]:
        data = map_field(secret, "Secret", "data")
        v.expect(secret.get("type"), str, "Secret", "Secret.type")
        v.expect(secret.get("immutable"), bool, "Secret", "Secret.immutable")
        causes = []
        for key in data:
            causes += key_causes(key, f"data[{key}]")
        causes += _size_causes(decoded_size("Secret", "data", data))
        required = {"kubernetes.io/tls": ("tls.crt", "tls.key"),
                    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
                    "kubernetes.io/dockercfg": (".dockercfg",),
                    "kubernetes.io/ssh-auth": ("ssh-privatekey",)}.get(secret.get("type"), ())
        causes += [v.required(f"data[{key}]") for key in required if key not in data]
        if secret.get("type") == "kubernetes.io/service-account-token":
            annotations = secret["metadata"].get("annotations") or {}
            if not annotations.get("kubernetes.io/service-account.name"):
                causes.append(v.required("metadata.annotations[kubernetes.io/service-account.name]"))
        return causes

    def validate_update(self, new: dict, old: dict) -> list[dict]:
        causes = self.validate(new) + immutable_causes(new, old, ("data",))
        if new.get("type") != old.get("type"):
            causes.append(v.invalid("type", new.get("type"), "field is immutable"))
        return causes


class ServiceAccountStrategy(Strategy):
    return_deleted_object = True   # serviceaccount/storage/storage.go: DELETE answers with the object
