"""A container's environment as upstream's kubelet builds it: envFrom, env, valueFrom, $(VAR).

Like makeEnvironmentVariables in pkg/kubelet/kubelet_pods.go: first every
`envFrom` source in order (a ConfigMap's or Secret's keys, each with the
source's prefix; keys that are no valid variable name are skipped with an
`InvalidEnvironmentVariableNames` event), then every `env` entry in order,
overriding what came before. A literal `value` has its `$(NAME)` references
expanded from the variables defined so far (`$$` is a literal `$`, an
unknown reference stays as written); a `valueFrom` is resolved from a
ConfigMap or Secret key, or from the pod itself (fieldRef) or the container's
resources (resourceFieldRef), and is never expanded. The container's command
and args are then expanded from the final environment, as
kubecontainer.ExpandContainerCommandAndArgs does.

A missing ConfigMap or Secret, or a missing key, raises ConfigError with
upstream's message (`configmap "x" not found`, `couldn't find key k in
ConfigMap ns/x`) unless the reference is `optional: true`; the kubelet turns
it into the waiting reason CreateContainerConfigError and tries again.
"""
from __future__ import annotations

import base64
import math
import re
from typing import Callable

from .client import APIStatusError, APIUnavailable

# A lookup: (kind "configmap" | "secret", namespace, name) -> the object, or None when it does not exist.
Lookup = Callable[[str, str, str], "dict | None"]

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")   # validation.IsEnvVarName


class ConfigError(Exception):
    """The container's configuration cannot be made (CreateContainerConfigError)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def api_lookup(client) -> Lookup:
    """A Lookup that GETs the object from the API server (None on 404, ConfigError when it cannot)."""
    def lookup(kind: str, namespace: str, name: str) -> dict | None:
        try:
            return client.get(f"/api/v1/namespaces/{namespace}/{kind}s/{name}")
        except APIStatusError as e:
            if e.code == 404:
                return None
            raise ConfigError(f"failed to get {kind} {namespace}/{name}: {e}") from None
        except (APIUnavailable, OSError) as e:  # the API server away: a volume keeps its files, a start waits
            raise ConfigError(f"failed to get {kind} {namespace}/{name}: {e}") from None
    return lookup


def object_data(kind: str, obj: dict) -> dict[str, bytes]:
    """key -> bytes of a ConfigMap (data and binaryData) or a Secret (base64 data, stringData)."""
    out: dict[str, bytes] = {}
    if kind == "configmap":
        out.update({k: v.encode() for k, v in (obj.get("data") or {}).items()})
        out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    else:
        out.update({k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()})
        out.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
    return out


class Objects:
    """ConfigMaps and Secrets fetched once per container start (as upstream's per-call maps)."""

    def __init__(self, lookup: Lookup, namespace: str):
        self.lookup, self.namespace = lookup, namespace
        self._cache: dict[tuple[str, str], dict | None] = {}

    def get(self, kind: str, name: str, optional: bool) -> dict[str, bytes] | None:
        """The object's data; None when it is missing and optional; ConfigError when missing and required."""
        key = (kind, name)
        if key not in self._cache:
            self._cache[key] = self.lookup(kind, self.namespace, name)
        obj = self._cache[key]
        if obj is None:
            if optional:
                return None
            raise ConfigError(f'{kind} "{name}" not found')
        return object_data(kind, obj)

    def key(self, kind: str, ref: dict) -> bytes | None:
        """The value of ref's key (configMapKeyRef / secretKeyRef); None when optional and absent."""
        name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
        data = self.get(kind, name, optional)
        if data is None:
            return None
        if key not in data:
            if optional:
                return None
            title = "ConfigMap" if kind == "configmap" else "Secret"
            raise ConfigError(f"couldn't find key {key} in {title} {self.namespace}/{name}")
        return data[key]


def expand(text: str, env: dict[str, str]) -> str:
    """Upstream's third_party/forked/golang/expansion: `$(VAR)` from env, `$$` -> `$`, else literal."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:               # no closing paren: the rest is literal
                out.append(text[i:])
                break
            name = text[i + 2:close]
            out.append(env[name] if name in env else text[i:close + 1])
            i = close + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def field_value(pod: dict, path: str, pod_ip: str | None, host_ip: str) -> str:
    """The value of a downward-API fieldRef on `pod` (podFieldSelectorRuntimeValue)."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "default"),
        "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": host_ip, "status.hostIPs": host_ip,
        "status.podIP": pod_ip or status.get("podIP", ""),
        "status.podIPs": pod_ip or ",".join(p.get("ip", "") for p in status.get("podIPs") or []),
    }
    if path in simple:
        return simple[path]
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    if path in ("metadata.labels", "metadata.annotations"):
        return format_map(meta.get(path.split(".")[1]) or {})
    raise ConfigError(f'unsupported fieldPath: "{path}"')


def format_map(values: dict) -> str:
    """A downward-API labels/annotations file: sorted `key="value"` lines (fieldpath.FormatMap)."""
    return "\n".join(f'{k}="{_go_quote_body(v)}"' for k, v in sorted(values.items()))


def _go_quote_body(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")


_SUFFIX = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "m": 0.001}


def quantity(text) -> float:
    """A resource.Quantity ("500m", "64Mi", "1.5", "2e3") as a number."""
    text = str(text).strip()
    m = re.fullmatch(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)", text)
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def resource_value(container: dict, ref: dict) -> str:
    """A resourceFieldRef (limits.cpu, requests.memory, ...) rounded up by its divisor, as upstream."""
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(name)
    if value is None:
        return "0"   # upstream falls back to the node's allocatable; this kubelet reports none
    divisor = quantity(ref.get("divisor") or "1")
    return str(math.ceil(quantity(value) / divisor))


def resolve_env(pod: dict, container: dict, lookup: Lookup, pod_ip: str | None, host_ip: str,
                warn: Callable[[str, str], None] | None = None) -> list[tuple[str, str]]:
    """The container's environment as (name, value) pairs in upstream's order; raises ConfigError."""
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    objects = Objects(lookup, namespace)
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        for kind, field in (("configmap", "configMapRef"), ("secret", "secretRef")):
            ref = source.get(field)
            if ref is None:
                continue
            data = objects.get(kind, ref.get("name", ""), bool(ref.get("optional")))
            if data is None:
                continue
            invalid = []
            for key, value in data.items():
                name = prefix + key
                if not _ENV_NAME.match(name):
                    invalid.append(name)
                    continue
                env[name] = value.decode(errors="replace")
            if invalid and warn is not None:
                what = "configMap" if kind == "configmap" else "secret"
                warn("InvalidEnvironmentVariableNames",
                     f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {what} {namespace}/{ref.get('name')} "
                     f"were skipped since they are considered invalid environment variable names.")
    for var in container.get("env") or []:
        name = var.get("name", "")
        value = var.get("value") or ""
        source = var.get("valueFrom")
        if value:
            value = expand(value, env)
        elif source:
            if "fieldRef" in source:
                value = field_value(pod, source["fieldRef"].get("fieldPath", ""), pod_ip, host_ip)
            elif "resourceFieldRef" in source:
                value = resource_value(container, source["resourceFieldRef"])
            elif "configMapKeyRef" in source or "secretKeyRef" in source:
                kind = "configmap" if "configMapKeyRef" in source else "secret"
                raw = objects.key(kind, source["configMapKeyRef" if kind == "configmap" else "secretKeyRef"])
                if raw is None:
                    continue
                value = raw.decode(errors="replace")
        env[name] = value
    return list(env.items())


def resolved_spec(pod: dict, container: dict, lookup: Lookup, pod_ip: str | None, host_ip: str,
                  warn: Callable[[str, str], None] | None = None) -> dict:
    """A copy of the container spec the runtimes can run as is: plain env, command and args expanded."""
    env = resolve_env(pod, container, lookup, pod_ip, host_ip, warn)
    values = dict(env)
    out = {k: v for k, v in container.items() if k != "envFrom"}
    out["env"] = [{"name": k, "value": v} for k, v in env]
    for field in ("command", "args"):
        if container.get(field):
            out[field] = [expand(str(a), values) for a in container[field]]
    return out
