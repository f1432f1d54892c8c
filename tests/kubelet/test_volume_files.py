"""The kubelet's configMap / secret / downwardAPI / projected volume files and container env, as pure code.

The atomic writer's layout (..data -> ..<timestamp> dir, one link per key)
and its updates; the payloads each volume source gives; env resolution with
envFrom, valueFrom, $(VAR) expansion and upstream's error messages.
"""
from __future__ import annotations

import base64
import os
import re
import stat

import pytest

from labserver.kubelet.container_env import ConfigError, expand, resolve_env, resolved_spec
from labserver.kubelet.volumes import File, VolumeError, set_up, write_atomic

POD = {"metadata": {"name": "web", "namespace": "ns1", "uid": "u-1", "labels": {"app": "web", "tier": "a\"b"},
                    "annotations": {"note": "hi"}},
       "spec": {"nodeName": "node-1", "serviceAccountName": "default",
                "containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}}]},
       "status": {}}

OBJECTS = {
    ("configmap", "ns1", "cfg"): {"data": {"color": "blue", "size": "L"}, "binaryData": {"bin": base64.b64encode(b"\x00\x01").decode()}},
    ("secret", "ns1", "creds"): {"data": {"password": base64.b64encode(b"s3cret").decode(), "bad-name!": "eA=="}},
}


def lookup(kind, namespace, name):
    return OBJECTS.get((kind, namespace, name))


def tree(path) -> dict:
    """name -> link target or file text, for the top of a volume dir."""
    out = {}
    for entry in sorted(os.listdir(path)):
        p = os.path.join(path, entry)
        out[entry] = os.readlink(p) if os.path.islink(p) else "<dir>"
    return out


def test_atomic_writer_layout_and_update(tmp_path):
    target = tmp_path / "vol"
    assert write_atomic(target, {"a": File(b"1"), "sub/b": File(b"2", 0o600)})
    top = tree(target)
    ts = top["..data"]
    assert re.fullmatch(r"\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d+", ts) and top[ts] == "<dir>"
    assert top["a"] == "..data/a" and top["sub"] == "..data/sub"
    assert (target / "sub" / "b").read_text() == "2"
    assert stat.S_IMODE((target / ts / "sub" / "b").stat().st_mode) == 0o600
    assert stat.S_IMODE((target / ts).stat().st_mode) == 0o755
    assert not write_atomic(target, {"a": File(b"1"), "sub/b": File(b"2", 0o600)}), "same payload: nothing written"
    assert tree(target)["..data"] == ts
    assert write_atomic(target, {"a": File(b"changed"), "c": File(b"3")})
    top = tree(target)
    assert top["..data"] != ts and ts not in top, "the old version is removed"
    assert "sub" not in top and top["c"] == "..data/c"
    assert (target / "a").read_text() == "changed"
    assert not (target / "..data_tmp").exists()


def test_atomic_writer_rejects_escaping_paths(tmp_path):
    for bad in ("/etc/passwd", "../x", "a/../../x", "..hidden"):
        with pytest.raises(ValueError):
            write_atomic(tmp_path / "v", {bad: File(b"")})


def test_configmap_secret_downward_projected_volumes(tmp_path):
    set_up(POD, {"name": "v", "configMap": {"name": "cfg"}}, str(tmp_path / "cm"), lookup, "10.0.0.5", "127.0.0.1")
    assert (tmp_path / "cm" / "color").read_text() == "blue"
    assert (tmp_path / "cm" / "bin").read_bytes() == b"\x00\x01"
    set_up(POD, {"name": "v", "configMap": {"name": "cfg", "items": [{"key": "size", "path": "conf/size.txt"}],
                                           "defaultMode": 0o400}}, str(tmp_path / "items"), lookup, None, "h")
    assert set(tree(tmp_path / "items")) == {"..data", tree(tmp_path / "items")["..data"], "conf"}
    size = tmp_path / "items" / "conf" / "size.txt"
    assert size.read_text() == "L" and stat.S_IMODE(size.stat().st_mode) == 0o400
    set_up(POD, {"name": "s", "secret": {"secretName": "creds", "items": [{"key": "password", "path": "pw", "mode": 0o600}]}},
           str(tmp_path / "sec"), lookup, None, "h")
    assert (tmp_path / "sec" / "pw").read_text() == "s3cret"
    set_up(POD, {"name": "d", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}]}},
        str(tmp_path / "dw"), lookup, None, "h")
    assert (tmp_path / "dw" / "labels").read_text() == 'app="web"\ntier="a\\"b"'
    assert (tmp_path / "dw" / "name").read_text() == "web"
    assert (tmp_path / "dw" / "mem").read_text() == "64"
    set_up(POD, {"name": "p", "projected": {"sources": [
        {"configMap": {"name": "cfg", "items": [{"key": "color", "path": "color"}]}},
        {"secret": {"name": "creds", "items": [{"key": "password", "path": "pw"}]}},
        {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}},
        str(tmp_path / "pr"), lookup, None, "h")
    assert [(tmp_path / "pr" / f).read_text() for f in ("color", "pw", "ns")] == ["blue", "s3cret", "ns1"]


def test_volume_errors_and_optional(tmp_path):
    with pytest.raises(VolumeError, match='^configmap "nope" not found$'):
        set_up(POD, {"name": "v", "configMap": {"name": "nope"}}, str(tmp_path / "a"), lookup, None, "h")
    with pytest.raises(VolumeError, match="non-existent config key: missing"):
        set_up(POD, {"name": "v", "configMap": {"name": "cfg", "items": [{"key": "missing", "path": "m"}]}},
               str(tmp_path / "b"), lookup, None, "h")
    set_up(POD, {"name": "v", "secret": {"secretName": "nope", "optional": True}}, str(tmp_path / "c"), lookup, None, "h")
    assert [e for e in os.listdir(tmp_path / "c") if not e.startswith("..")] == []


def test_env_resolution_order_and_expansion():
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "creds"}, "prefix": "S_"}],
        "env": [{"name": "color", "value": "red"},                      # overrides envFrom
                {"name": "GREETING", "value": "$(color)-$(size) $$(color) $(UNKNOWN)"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
                {"name": "NOTE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}},
                {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": True}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}}],
        "resources": {"limits": {"cpu": "500m"}},
        "command": ["sh", "-c", "echo $(GREETING) $(POD)"],
    }
    warnings = []
    env = dict(resolve_env(POD, container, lookup, "10.0.0.5", "192.168.1.2", lambda r, m: warnings.append((r, m))))
    assert env["color"] == "red" and env["size"] == "L" and env["S_password"] == "s3cret"
    assert env["GREETING"] == "red-L $(color) $(UNKNOWN)"
    assert (env["POD"], env["IP"], env["HOST"], env["TIER"], env["NOTE"], env["SA"], env["PW"], env["CPU"]) == \
        ("web", "10.0.0.5", "192.168.1.2", 'a"b', "hi", "default", "s3cret", "500")
    assert "OPT" not in env
    assert warnings == [("InvalidEnvironmentVariableNames",
                         "Keys [S_bad-name!] from the EnvFrom secret ns1/creds were skipped since they are "
                         "considered invalid environment variable names.")]
    spec = resolved_spec(POD, container, lookup, "10.0.0.5", "h")
    assert spec["command"] == ["sh", "-c", "echo red-L $(color) $(UNKNOWN) web"]
    assert "envFrom" not in spec and all(set(e) == {"name", "value"} for e in spec["env"])


@pytest.mark.parametrize("ref, message", [
    ({"configMapKeyRef": {"name": "x", "key": "k"}}, 'configmap "x" not found'),
    ({"configMapKeyRef": {"name": "cfg", "key": "k"}}, "couldn't find key k in ConfigMap ns1/cfg"),
    ({"secretKeyRef": {"name": "x", "key": "k"}}, 'secret "x" not found'),
    ({"secretKeyRef": {"name": "creds", "key": "k"}}, "couldn't find key k in Secret ns1/creds"),
])
def test_env_errors_are_upstreams(ref, message):
    with pytest.raises(ConfigError) as e:
        resolve_env(POD, {"name": "c", "env": [{"name": "V", "valueFrom": ref}]}, lookup, None, "h")
    assert e.value.message == message


def test_expand_edge_cases():
    env = {"A": "1", "B": "$(A)"}
    assert expand("$(A)$(B)", env) == "1$(A)"          # values are not expanded twice
    assert expand("$(A", env) == "$(A" and expand("$", env) == "$" and expand("a$b", env) == "a$b"
    assert expand("$$$(A)", env) == "$1"


def test_api_server_away_keeps_the_volume_files(tmp_path):
    """A refresh while the API server is away fails the volume (FailedMount) and leaves its files."""
    from labserver.kubelet.client import APIUnavailable
    from labserver.kubelet.container_env import api_lookup

    class Away:
        def get(self, path):
            raise APIUnavailable("no API server answers")

    volume = {"name": "v", "configMap": {"name": "cfg"}}
    set_up(POD, volume, str(tmp_path / "v"), lookup, None, "h")
    with pytest.raises(VolumeError, match="failed to get configmap ns1/cfg: no API server answers"):
        set_up(POD, volume, str(tmp_path / "v"), api_lookup(Away()), None, "h")
    assert (tmp_path / "v" / "color").read_text() == "blue"
