"""configMap, secret, downwardAPI and projected volumes: the files a real kubelet writes.

Upstream's volume plugins (pkg/volume/configmap, secret, downwardapi,
projected) each turn their source into a *payload* (relative path -> bytes and
file mode) and hand it to the AtomicWriter (pkg/volume/util/atomic_writer.go),
which lays the volume directory out so that a reader never sees half an
update:

    <dir>/..2026_12_01_00_54_34.1234567/   the files of one version (0755 dir)
    <dir>/..data -> ..2026_12_01_00_54_34.1234567
    <dir>/<key>  -> ..data/<key>           one link per top-level path, made once

An update writes a new timestamped dir, points a `..data_tmp` link at it and
renames that over `..data` (one atomic step), then drops links to paths
that went away and the old dir. A payload equal to what is there already
writes nothing. This module is our own code for that layout.

The kubelet sets a pod's volumes up on every sync (its resync period is well
under a minute, upstream's bound for an update to show), so a changed
ConfigMap or Secret reaches the pod's files on the next sync. A missing
object (or key named in `items`) fails the volume with upstream's message
unless the source is `optional: true`, which gives an empty volume.
"""
from __future__ import annotations

import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .container_env import ConfigError, Lookup, Objects, field_value, resource_value

DATA_DIR = "..data"
DATA_TMP = "..data_tmp"
DEFAULT_MODE = 0o644    # the API server's default for defaultMode (420)
# volume source field -> the plugin's directory name under the pod's volumes dir
PLUGINS = {"configMap": "configmap", "secret": "secret", "downwardAPI": "downward-api", "projected": "projected"}


@dataclass
class File:
    data: bytes
    mode: int = DEFAULT_MODE


class VolumeError(Exception):
    """A volume cannot be set up: the kubelet reports FailedMount with this message."""

    def __init__(self, volume: str, message: str):
        super().__init__(message)
        self.volume, self.message = volume, message


# -- the atomic writer ---------------------------------------------------------

def _check_path(path: str) -> None:
    """validatePath: relative, no `..` element, not starting with `..`, sane lengths."""
    if not path or os.path.isabs(path):
        raise ValueError(f"invalid path {path!r}: must be relative")
    parts = path.split("/")
    if ".." in parts or path.startswith(".."):
        raise ValueError(f"invalid path {path!r}: must not contain '..'")
    if len(path) > 4096 or any(len(p) > 255 for p in parts):
        raise ValueError(f"invalid path {path!r}: too long")


def _current(target: Path) -> Path | None:
    try:
        return target / os.readlink(target / DATA_DIR)
    except OSError:
        return None


def _unchanged(old: Path | None, payload: dict[str, File]) -> bool:
    if old is None or not old.is_dir():
        return False
    existing = {str(p.relative_to(old)) for p in old.rglob("*") if p.is_file()}
    if existing != set(payload):
        return False
    for path, f in payload.items():
        p = old / path
        if p.stat().st_mode & 0o7777 != f.mode or p.read_bytes() != f.data:
            return False
    return True


def _timestamp_dir(target: Path) -> Path:
    """A new `..<UTC time>.<random digits>` dir, mode 0755 (Go's os.MkdirTemp names, as upstream)."""
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    while True:
        path = target / f"{stamp}{random.randrange(2**32)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        os.chmod(path, 0o755)
        return path


def write_atomic(target: str | os.PathLike, payload: dict[str, File]) -> bool:
    """Make `target` show exactly `payload` with the AtomicWriter layout; True when it wrote."""
    target = Path(target)
    for path in payload:
        _check_path(path)
    target.mkdir(parents=True, exist_ok=True)
    old = _current(target)
    if _unchanged(old, payload):
        return False
    ts_dir = _timestamp_dir(target)
    for path, f in payload.items():
        p = ts_dir / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f.data)
        os.chmod(p, f.mode)
    tmp_link = target / DATA_TMP
    if tmp_link.is_symlink():
        tmp_link.unlink()
    os.symlink(ts_dir.name, tmp_link)
    os.rename(tmp_link, target / DATA_DIR)          # the one atomic step
    tops = {path.split("/", 1)[0] for path in payload}
    for top in tops:                                 # user-visible links, only where missing
        link = target / top
        if not link.is_symlink():
            os.symlink(f"{DATA_DIR}/{top}", link)
    for entry in target.iterdir():                   # links to paths that went away
        if not entry.name.startswith("..") and entry.name not in tops and entry.is_symlink():
            entry.unlink()
    if old is not None and old != ts_dir:
        shutil.rmtree(old, ignore_errors=True)
    return True


def sub_path(volume_dir: str, sub: str) -> str:
    """The host path a subPath mount binds: a key of a configMap/secret volume is the file its
    link points at now (so, as upstream, it does not follow later updates); a missing one is
    made as a directory."""
    host = os.path.join(volume_dir, sub)
    if not os.path.lexists(host):
        os.makedirs(host, exist_ok=True)
    return os.path.realpath(host)


# -- payloads --------------------------------------------------------------------

def _key_payload(kind: str, source: dict, objects: Objects, default_mode: int) -> dict[str, File]:
    """A configMap / secret source (volume or projection) as a payload."""
    name = source.get("name") if kind == "configmap" else source.get("secretName", source.get("name"))
    optional = bool(source.get("optional"))
    data = objects.get(kind, name or "", optional)
    if data is None:
        return {}
    items = source.get("items")
    if not items:
        return {k: File(v, default_mode) for k, v in data.items()}
    out = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            what = "configmap references non-existent config key" if kind == "configmap" \
                else "references non-existent secret key"
            raise ConfigError(f"{what}: {key}")
        out[item.get("path") or key] = File(data[key], item.get("mode", default_mode))
    return out


def _downward_payload(pod: dict, items: list, default_mode: int, pod_ip: str | None,
                      host_ip: str) -> dict[str, File]:
    out = {}
    containers = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
    for item in items or []:
        if "fieldRef" in item:
            value = field_value(pod, item["fieldRef"].get("fieldPath", ""), pod_ip, host_ip)
        else:
            ref = item.get("resourceFieldRef") or {}
            value = resource_value(containers.get(ref.get("containerName", ""), {}), ref)
        out[item.get("path", "")] = File(value.encode(), item.get("mode", default_mode))
    return out


def payload(pod: dict, volume: dict, objects: Objects, pod_ip: str | None, host_ip: str) -> dict[str, File]:
    """The files of one configMap / secret / downwardAPI / projected volume."""
    if "configMap" in volume:
        src = volume["configMap"]
        return _key_payload("configmap", src, objects, src.get("defaultMode", DEFAULT_MODE))
    if "secret" in volume:
        src = volume["secret"]
        return _key_payload("secret", src, objects, src.get("defaultMode", DEFAULT_MODE))
    if "downwardAPI" in volume:
        src = volume["downwardAPI"]
        return _downward_payload(pod, src.get("items"), src.get("defaultMode", DEFAULT_MODE), pod_ip, host_ip)
    src = volume["projected"]
    mode = src.get("defaultMode", DEFAULT_MODE)
    out: dict[str, File] = {}
    for source in src.get("sources") or []:
        if "configMap" in source:
            out.update(_key_payload("configmap", source["configMap"], objects, mode))
        elif "secret" in source:
            out.update(_key_payload("secret", source["secret"], objects, mode))
        elif "downwardAPI" in source:
            out.update(_downward_payload(pod, source["downwardAPI"].get("items"), mode, pod_ip, host_ip))
        # serviceAccountToken / clusterTrustBundle: no token issuer here; the projection is left out
    return out


def plugin_of(volume: dict) -> str | None:
    """The plugin directory name of a volume this module writes, else None."""
    return next((plugin for field, plugin in PLUGINS.items() if field in volume), None)


def set_up(pod: dict, volume: dict, target: str, lookup: Lookup, pod_ip: str | None, host_ip: str) -> bool:
    """Write (or refresh) one volume's files in `target`; VolumeError saying why it cannot."""
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    try:
        files = payload(pod, volume, Objects(lookup, namespace), pod_ip, host_ip)
        return write_atomic(target, files)
    except ConfigError as e:
        raise VolumeError(volume["name"], e.message) from None
    except (ValueError, OSError) as e:
        raise VolumeError(volume["name"], str(e)) from None
