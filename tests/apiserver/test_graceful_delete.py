"""DELETE: graceful for pods bound to a node, immediate otherwise; preconditions; options in body or query."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from api_testing import pod

PODS = "/api/v1/namespaces/default/pods"


def _seconds_from_now(stamp: str) -> float:
    t = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return (t - datetime.now(timezone.utc)).total_seconds()


def test_bound_pod_is_marked_then_removed_by_kubelet(client):
    """A bound running pod gets deletionTimestamp (now + 30 s) and stays until a grace-0 delete with its uid."""
    created = client.post(PODS, json=pod("web", node="node-1")).get_json()
    r = client.delete(PODS + "/web", json={"propagationPolicy": "Background"})
    assert r.status_code == 200
    meta = r.get_json()["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 30 and 28 <= _seconds_from_now(meta["deletionTimestamp"]) <= 31
    still = client.get(PODS + "/web").get_json()
    assert still["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    r = client.delete(PODS + "/web", json={"gracePeriodSeconds": 0,
                                           "preconditions": {"uid": created["metadata"]["uid"]}})
    assert r.status_code == 200 and r.get_json()["metadata"]["uid"] == created["metadata"]["uid"]
    assert client.get(PODS + "/web").status_code == 404


@pytest.mark.parametrize("body,phase", [
    (pod("p"), None),                                    # not bound to a node
    (pod("p", node="node-1"), "Succeeded"),              # finished
    (pod("p", node="node-1"), "Failed"),
])
def test_unbound_or_finished_pod_goes_at_once(client, body, phase):
    """Unbound, Succeeded or Failed pods are removed at once, answered 200 with the object as
    upstream's store last wrote it: marked with a grace of 0."""
    client.post(PODS, json=body)
    if phase:
        current = client.get(PODS + "/p").get_json()
        current["status"]["phase"] = phase
        assert client.put(PODS + "/p/status", json=current).status_code == 200
    r = client.delete(PODS + "/p")
    assert r.status_code == 200 and r.get_json()["metadata"]["name"] == "p"
    assert r.get_json()["metadata"]["deletionGracePeriodSeconds"] == 0
    assert client.get(PODS + "/p").status_code == 404


def test_grace_period_from_query_and_body(client):
    """gracePeriodSeconds as a query parameter sets the grace; a shorter one later shortens it."""
    client.post(PODS, json=pod("p", node="node-1"))
    meta = client.delete(PODS + "/p?gracePeriodSeconds=120").get_json()["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 120
    meta = client.delete(PODS + "/p", json={"gracePeriodSeconds": 5}).get_json()["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 5 and _seconds_from_now(meta["deletionTimestamp"]) <= 6
    again = client.delete(PODS + "/p", json={"gracePeriodSeconds": 60}).get_json()["metadata"]
    assert again["deletionGracePeriodSeconds"] == 5   # never later than already asked


@pytest.mark.parametrize("field,label", [("uid", "UID"), ("resourceVersion", "ResourceVersion")])
def test_failed_precondition_is_conflict(client, revision, field, label):
    """A uid or resourceVersion precondition that does not hold is 409 Conflict; the pod stays."""
    client.post(PODS, json=pod("p", node="node-1"))
    before = revision()
    r = client.delete(PODS + "/p", json={"gracePeriodSeconds": 0, "preconditions": {field: "123"}})
    assert r.status_code == 409 and r.get_json()["reason"] == "Conflict"
    assert f"Precondition failed: {label} in precondition: 123" in r.get_json()["message"]
    assert revision() == before and client.get(PODS + "/p").status_code == 200


def test_spec_termination_grace_used(client):
    """Without gracePeriodSeconds the pod's spec.terminationGracePeriodSeconds is the grace."""
    client.post(PODS, json=pod("p", node="node-1", terminationGracePeriodSeconds=7))
    assert client.delete(PODS + "/p").get_json()["metadata"]["deletionGracePeriodSeconds"] == 7


def test_other_resources_deleted_at_once(client):
    """Nodes have no grace: DELETE removes them and answers a Success Status naming what went, as
    upstream's store does for resources that do not return the deleted object."""
    uid = client.post("/api/v1/nodes", json={"kind": "Node", "apiVersion": "v1",
                                             "metadata": {"name": "n1"}}).get_json()["metadata"]["uid"]
    r = client.delete("/api/v1/nodes/n1")
    assert r.status_code == 200
    assert r.get_json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                            "details": {"name": "n1", "kind": "nodes", "uid": uid}}
    assert client.get("/api/v1/nodes/n1").status_code == 404


def test_delete_collection_by_label(client):
    """DELETE on a collection removes what the selector matches (bound pods gracefully) and keeps the rest."""
    client.post(PODS, json=pod("a", labels={"app": "web"}))
    client.post(PODS, json=pod("b", node="node-1", labels={"app": "web"}))
    client.post(PODS, json=pod("c", labels={"app": "db"}))
    r = client.delete(PODS + "?labelSelector=app%3Dweb")
    assert r.status_code == 200 and r.get_json()["kind"] == "PodList"
    assert [p["metadata"]["name"] for p in r.get_json()["items"]] == ["a", "b"]
    left = {p["metadata"]["name"]: p for p in client.get(PODS).get_json()["items"]}
    assert sorted(left) == ["b", "c"] and "deletionTimestamp" in left["b"]["metadata"]
    assert client.delete("/api/v1/pods").status_code == 405
