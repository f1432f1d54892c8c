"""dryRun=All never writes, on any verb, whether it comes in the query or in a DeleteOptions body.

Each test reads etcd's revision before and after: a dry run must not move it,
and must answer what the real request would answer (the object as it would be).
"""
from __future__ import annotations

import pytest

from api_testing import pod

PODS = "/api/v1/namespaces/default/pods"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
DRY_BODY = {"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]}


@pytest.fixture
def unchanged(revision):
    """Call with a function; asserts etcd's revision is the same after it ran, returns its result."""
    def check(fn):
        before = revision()
        result = fn()
        assert revision() == before, "a dry run wrote to etcd"
        return result
    return check


def test_create_update_patch_status_in_the_query(client, unchanged):
    """POST, PUT, PATCH and PUT status with ?dryRun=All answer the object as it would be, store nothing."""
    r = unchanged(lambda: client.post(PODS + "?dryRun=All", json=pod("ghost")))
    assert r.status_code == 201
    meta = r.get_json()["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and "resourceVersion" not in meta
    assert client.get(PODS + "/ghost").status_code == 404

    stored = client.post(PODS, json=pod("p", labels={"v": "1"})).get_json()
    changed = {**stored, "metadata": {**stored["metadata"], "labels": {"v": "2"}}}
    r = unchanged(lambda: client.put(PODS + "/p?dryRun=All", json=changed))
    assert r.status_code == 200 and r.get_json()["metadata"]["labels"] == {"v": "2"}
    assert r.get_json()["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]
    r = unchanged(lambda: client.patch(PODS + "/p?dryRun=All", json={"metadata": {"labels": {"v": "3"}}},
                                       headers={"Content-Type": "application/merge-patch+json"}))
    assert r.status_code == 200 and r.get_json()["metadata"]["labels"] == {"v": "3"}
    status = {**stored, "status": {"phase": "Running"}}
    r = unchanged(lambda: client.put(PODS + "/p/status?dryRun=All", json=status))
    assert r.status_code == 200 and r.get_json()["status"]["phase"] == "Running"
    assert client.get(PODS + "/p").get_json() == stored


def test_put_that_would_create_and_namespace_create(client, unchanged):
    """A PUT that would create a lease, and a namespace POST, create nothing on a dry run."""
    lease = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "x"}}
    assert unchanged(lambda: client.put(LEASES + "/l?dryRun=All", json=lease)).status_code == 201
    assert client.get(LEASES + "/l").status_code == 404
    r = unchanged(lambda: client.post("/api/v1/namespaces?dryRun=All", json={"metadata": {"name": "dry"}}))
    assert r.status_code == 201 and r.get_json()["status"]["phase"] == "Active"
    assert client.get("/api/v1/namespaces/dry").status_code == 404


@pytest.mark.parametrize("where", ["body", "query"])
def test_delete_of_a_bound_pod(client, unchanged, where):
    """A graceful delete dry run answers the pod as it would be marked; the stored pod is untouched."""
    stored = client.post(PODS, json=pod("web", node="node-1")).get_json()
    if where == "body":
        r = unchanged(lambda: client.delete(PODS + "/web", json=DRY_BODY))
    else:
        r = unchanged(lambda: client.delete(PODS + "/web?dryRun=All"))
    assert r.status_code == 200
    meta = r.get_json()["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 30
    assert client.get(PODS + "/web").get_json() == stored


@pytest.mark.parametrize("where", ["body", "query"])
def test_delete_at_once_and_with_finalizers(client, unchanged, where):
    """Unbound pods, leases (a Success Status) and objects held by finalizers all stay."""
    client.post(PODS, json=pod("free"))
    held = pod("held")
    held["metadata"]["finalizers"] = ["example.com/keep"]
    client.post(PODS, json=held)
    lease = client.post(LEASES, json={"metadata": {"name": "l"}, "spec": {}}).get_json()

    def delete(path):
        return client.delete(path, json=DRY_BODY) if where == "body" else client.delete(path + "?dryRun=All")
    r = unchanged(lambda: delete(PODS + "/free"))
    assert r.status_code == 200 and r.get_json()["metadata"]["name"] == "free"
    r = unchanged(lambda: delete(PODS + "/held"))
    assert r.status_code == 200 and r.get_json()["metadata"]["deletionGracePeriodSeconds"] == 0
    r = unchanged(lambda: delete(LEASES + "/l"))
    assert r.get_json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                            "details": {"name": "l", "group": "coordination.k8s.io", "kind": "leases",
                                        "uid": lease["metadata"]["uid"]}}
    for path in (PODS + "/free", PODS + "/held", LEASES + "/l"):
        assert client.get(path).status_code == 200
        assert "deletionTimestamp" not in client.get(path).get_json()["metadata"]


@pytest.mark.parametrize("where", ["body", "query"])
def test_deletecollection(client, unchanged, where):
    """DELETE on a collection lists what it would delete and deletes nothing."""
    for name in ("a", "b"):
        client.post(PODS, json=pod(name, node="node-1" if name == "a" else None))
    if where == "body":
        r = unchanged(lambda: client.delete(PODS, json=DRY_BODY))
    else:
        r = unchanged(lambda: client.delete(PODS + "?dryRun=All"))
    assert r.status_code == 200 and sorted(i["metadata"]["name"] for i in r.get_json()["items"]) == ["a", "b"]
    assert len(client.get(PODS).get_json()["items"]) == 2


@pytest.mark.parametrize("where", ["body", "query"])
def test_namespace_delete_and_finalize(client, unchanged, where):
    """A namespace stays Active through a dry-run DELETE, and a dry-run finalize removes nothing."""
    client.post("/api/v1/namespaces", json={"metadata": {"name": "dev"}})
    if where == "body":
        r = unchanged(lambda: client.delete("/api/v1/namespaces/dev", json=DRY_BODY))
    else:
        r = unchanged(lambda: client.delete("/api/v1/namespaces/dev?dryRun=All"))
    assert r.status_code == 200 and r.get_json()["status"]["phase"] == "Terminating"
    assert client.get("/api/v1/namespaces/dev").get_json()["status"]["phase"] == "Active"
    client.delete("/api/v1/namespaces/dev")
    ns = client.get("/api/v1/namespaces/dev").get_json()
    ns["spec"]["finalizers"] = []
    r = unchanged(lambda: client.put("/api/v1/namespaces/dev/finalize?dryRun=All", json=ns))
    assert r.status_code == 200
    assert client.get("/api/v1/namespaces/dev").get_json()["spec"]["finalizers"] == ["kubernetes"]


def test_query_dry_run_beside_a_body_still_writes_nothing(client, unchanged):
    """Upstream reads a DELETE's options from the body alone; a ?dryRun=All next to one still protects."""
    client.post(PODS, json=pod("p"))
    assert unchanged(lambda: client.delete(PODS + "/p?dryRun=All", json={"gracePeriodSeconds": 0})).status_code == 200
    assert client.get(PODS + "/p").status_code == 200


def test_bad_dry_run_values_are_invalid(client, unchanged):
    """Anything but All is 422 Invalid on the options kind, in upstream's words."""
    client.post(PODS, json=pod("p"))
    r = unchanged(lambda: client.delete(PODS + "/p", json={"dryRun": ["Yes"]}))
    assert r.status_code == 422
    body = r.get_json()
    assert body["message"] == ('DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
                               '[]string{"Yes"}: supported values: "All"')
    assert body["details"]["causes"][0]["field"] == "dryRun"
    r = unchanged(lambda: client.post(PODS + "?dryRun=true", json=pod("q")))
    assert r.status_code == 422 and r.get_json()["message"].startswith('CreateOptions.meta.k8s.io "" is invalid')
    r = unchanged(lambda: client.delete(PODS + "/p", json={"propagationPolicy": "Sideways"}))
    assert r.status_code == 422 and "propagationPolicy: Unsupported value: \"Sideways\"" in r.get_json()["message"]
