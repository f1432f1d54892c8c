"""Storage on a real etcd: keys, resourceVersion = mod_revision, transactions, failover, safe keys."""
from __future__ import annotations

import json

import pytest

from labserver.apiserver.errors import APIError
from labserver.apiserver.resources import lookup
from labserver.apiserver.storage import Storage, bootstrap_namespaces, decode_continue, encode_continue
from labserver.lab.supervise.procs import free_port

PODS, NODES = lookup("", "v1", "pods"), lookup("", "v1", "nodes")


@pytest.fixture
def storage(etcd, etcd_prefix):
    s = Storage([etcd.client_url], root=etcd_prefix)
    yield s
    s.close()


def _pod(name):
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "default"}, "spec": {}}


def test_create_get_rv_is_mod_revision(storage, etcd_client, etcd_prefix):
    """create puts JSON under the Kubernetes key; resourceVersion is the key's mod_revision, not stored."""
    created = storage.create(PODS, "default", "a", _pod("a"))
    value, kv = etcd_client.get(f"{etcd_prefix}/pods/default/a")
    assert created["metadata"]["resourceVersion"] == str(kv.mod_revision)
    assert "resourceVersion" not in json.loads(value)["metadata"]
    assert storage.get(PODS, "default", "a") == created
    storage.create(NODES, None, "n", {"kind": "Node", "metadata": {"name": "n"}})
    assert etcd_client.get(f"{etcd_prefix}/minions/n")[0] is not None


def test_create_twice_is_already_exists(storage):
    """The create transaction fails on an existing key."""
    storage.create(PODS, "default", "a", _pod("a"))
    with pytest.raises(APIError) as e:
        storage.create(PODS, "default", "a", _pod("a"))
    assert (e.value.code, e.value.reason) == (409, "AlreadyExists")


def test_update_and_delete_need_current_revision(storage, etcd_client, etcd_prefix):
    """update/delete on a stale revision are 409 Conflict; on a gone key 404; on the current one they apply."""
    rv = int(storage.create(PODS, "default", "a", _pod("a"))["metadata"]["resourceVersion"])
    new_rv = int(storage.update(PODS, "default", "a", _pod("a"), rv)["metadata"]["resourceVersion"])
    assert new_rv > rv
    for op in (lambda: storage.update(PODS, "default", "a", _pod("a"), rv),
               lambda: storage.delete(PODS, "default", "a", rv)):
        with pytest.raises(APIError) as e:
            op()
        assert e.value.reason == "Conflict"
    storage.delete(PODS, "default", "a", new_rv)
    assert etcd_client.get(f"{etcd_prefix}/pods/default/a") == (None, None)
    with pytest.raises(APIError) as e:
        storage.update(PODS, "default", "a", _pod("a"), new_rv)
    assert e.value.code == 404


@pytest.mark.parametrize("namespace,name", [("default", "../x"), ("default", "a/b"), ("../..", "x"),
                                            ("default", ""), ("default", "A")])
def test_unsafe_names_never_become_keys(storage, etcd_client, namespace, name):
    """A name or namespace that is not a DNS-1123 segment is refused before any etcd call."""
    before = etcd_client.get_response("/").header.revision
    with pytest.raises(APIError) as e:
        storage.create(PODS, namespace, name, _pod("x"))
    assert e.value.code == 400
    assert etcd_client.get_response("/").header.revision == before


def test_list_revision_is_read_revision(storage, etcd_client):
    """A list's resourceVersion is the revision of the read, even after unrelated writes."""
    storage.create(PODS, "default", "a", _pod("a"))
    etcd_client.put("/unrelated", "x")
    result = storage.list(PODS, "default")
    assert result.resource_version == str(etcd_client.get_response("/").header.revision)
    assert [p["metadata"]["name"] for p in result.items] == ["a"]


def test_failover_to_a_live_endpoint(etcd, etcd_prefix):
    """With a dead endpoint listed first, requests still succeed through the live one."""
    dead = f"http://127.0.0.1:{free_port()}"
    s = Storage([dead, etcd.client_url], timeout=2, root=etcd_prefix)
    try:
        for i in range(3):
            s.create(PODS, "default", f"p{i}", _pod(f"p{i}"))
        assert len(s.list(PODS, "default").items) == 3
    finally:
        s.close()


def test_all_endpoints_down_is_503():
    """No endpoint answers: 503 ServiceUnavailable naming the endpoints."""
    url = f"http://127.0.0.1:{free_port()}"
    s = Storage([url], timeout=1)
    try:
        with pytest.raises(APIError) as e:
            s.get(PODS, "default", "a")
        assert e.value.code == 503 and url in e.value.message
    finally:
        s.close()


def test_bootstrap_is_idempotent(storage):
    """Bootstrapping twice leaves the three system namespaces unchanged."""
    bootstrap_namespaces(storage)
    first = storage.list(lookup("", "v1", "namespaces"), None).items
    bootstrap_namespaces(storage)
    assert storage.list(lookup("", "v1", "namespaces"), None).items == first
    assert [n["metadata"]["name"] for n in first] == ["default", "kube-node-lease", "kube-system"]


def test_continue_token_round_trip():
    """The continue token carries the next key and the revision; garbage is 400."""
    assert decode_continue(encode_continue(b"p3\x00", 42)) == (b"p3\x00", 42)
    with pytest.raises(APIError) as e:
        decode_continue("not-a-token")
    assert e.value.code == 400
