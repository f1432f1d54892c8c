"""Per-resource rules through the handlers: defaults, status vs spec, immutability, create-on-update."""
from __future__ import annotations

import pytest

from api_testing import pod

PODS = "/api/v1/namespaces/default/pods"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"


def test_pod_defaults_and_status_reset(client):
    """Create fills v1 defaults, ignores client uid/RV/status, sets generation 1 and qosClass."""
    body = pod("p")
    body["metadata"].update(uid="mine", resourceVersion="999", creationTimestamp="2000-01-01T00:00:00Z")
    body["spec"]["containers"][0].update(image="busybox:1.36", ports=[{"containerPort": 80}],
                                         resources={"limits": {"cpu": "1", "memory": "1Gi"}})
    body["spec"]["volumes"] = [{"name": "v"}]
    body["status"] = {"phase": "Running", "podIP": "1.2.3.4"}
    created = client.post(PODS, json=body).get_json()
    meta, spec, c = created["metadata"], created["spec"], created["spec"]["containers"][0]
    assert meta["uid"] != "mine" and meta["resourceVersion"] != "999" and meta["creationTimestamp"] != body[
        "metadata"]["creationTimestamp"]
    assert meta["generation"] == 1
    assert created["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}
    assert (c["imagePullPolicy"], c["terminationMessagePath"], c["terminationMessagePolicy"]) == \
        ("IfNotPresent", "/dev/termination-log", "File")
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert spec["volumes"] == [{"name": "v", "emptyDir": {}}]
    assert (spec["terminationGracePeriodSeconds"], spec["schedulerName"], spec["enableServiceLinks"]) == \
        (30, "default-scheduler", True)


def test_main_endpoint_ignores_status_and_status_endpoint_ignores_spec(client):
    """PUT on the pod keeps the old status; PUT on pods/status keeps the old spec and labels."""
    created = client.post(PODS, json=pod("p")).get_json()
    edit = dict(created, status={"phase": "Running"})
    edit["metadata"] = dict(created["metadata"], labels={"a": "b"})
    updated = client.put(PODS + "/p", json=edit).get_json()
    assert updated["status"]["phase"] == "Pending" and updated["metadata"]["labels"] == {"a": "b"}
    status_edit = dict(updated, status={"phase": "Running", "podIP": "10.1.0.5"},
                       spec=dict(updated["spec"], restartPolicy="Never"))
    status_edit["metadata"] = dict(updated["metadata"], labels={"c": "d"})
    after = client.put(PODS + "/p/status", json=status_edit).get_json()
    assert after["status"] == {"phase": "Running", "podIP": "10.1.0.5"}
    assert after["spec"]["restartPolicy"] == "Always" and after["metadata"]["labels"] == {"a": "b"}
    assert client.get(PODS + "/p/status").get_json() == after


def test_status_patch(client):
    """PATCH pods/status (the kubelet's way) changes only the status."""
    client.post(PODS, json=pod("p"))
    r = client.patch(PODS + "/p/status", json={"status": {"phase": "Running"}, "spec": {"nodeName": "x"}},
                     headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.get_json()["status"]["phase"] == "Running"
    assert "nodeName" not in r.get_json()["spec"]


def test_put_without_resource_version_is_unconditional(client):
    """An empty metadata.resourceVersion on PUT updates whatever is current (upstream pods allow it)."""
    created = client.post(PODS, json=pod("p")).get_json()
    body = dict(created)
    body["metadata"] = {k: v for k, v in created["metadata"].items() if k != "resourceVersion"}
    body["metadata"]["labels"] = {"x": "1"}
    r = client.put(PODS + "/p", json=body)
    assert r.status_code == 200 and int(r.get_json()["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"])


def test_pod_spec_is_mostly_immutable(client):
    """Changing a container's command is 422 Forbidden; changing its image is allowed and bumps generation."""
    created = client.post(PODS, json=pod("p")).get_json()
    bad = dict(created, spec=dict(created["spec"], containers=[dict(created["spec"]["containers"][0],
                                                                    command=["sh"])]))
    r = client.put(PODS + "/p", json=bad)
    assert r.status_code == 422 and r.get_json()["details"]["causes"][0]["reason"] == "FieldValueForbidden"
    good = dict(created, spec=dict(created["spec"], containers=[dict(created["spec"]["containers"][0],
                                                                     image="busybox:2")]))
    r = client.put(PODS + "/p", json=good)
    assert r.status_code == 200 and r.get_json()["metadata"]["generation"] == 2


def test_generate_name(client):
    """metadata.generateName gets a 5-character suffix."""
    body = pod("x")
    body["metadata"] = {"generateName": "web-"}
    name = client.post(PODS, json=body).get_json()["metadata"]["name"]
    assert name.startswith("web-") and len(name) == 9


def test_node_keeps_status_on_create_and_status_updates(client):
    """A node's status given on create is kept; nodes/status PATCH changes it; the main PUT does not."""
    node = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    created = client.post("/api/v1/nodes", json=node).get_json()
    assert created["status"]["conditions"][0]["status"] == "True"
    r = client.patch("/api/v1/nodes/n1/status", json={"status": {"conditions": [{"type": "Ready",
                                                                                 "status": "False"}]}},
                     headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.get_json()["status"]["conditions"][0]["status"] == "False"
    after = client.put("/api/v1/nodes/n1", json=dict(r.get_json(), status={})).get_json()
    assert after["status"]["conditions"][0]["status"] == "False"


@pytest.mark.parametrize("name,code", [("team-a", 201), ("team.a", 422), ("Team", 422)])
def test_namespace_names_are_labels(client, name, code):
    """Namespaces must be DNS-1123 labels (no dots); created Active."""
    r = client.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert r.status_code == code
    if code == 201:
        assert r.get_json()["status"] == {"phase": "Active"}


def test_lease_put_creates_and_updates(client):
    """Leases may be created by PUT (the kubelet's heartbeat), then renewed by PUT."""
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "node-1"},
             "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}}
    r = client.put(LEASES + "/node-1", json=lease)
    assert r.status_code == 201
    renewed = dict(r.get_json(), spec=dict(lease["spec"], renewTime="2026-01-01T00:00:00.000000Z"))
    r = client.put(LEASES + "/node-1", json=renewed)
    assert r.status_code == 200 and r.get_json()["spec"]["renewTime"].startswith("2026")
    bad = client.post(LEASES, json={**lease, "metadata": {"name": "x"}, "spec": {"leaseDurationSeconds": -1}})
    assert bad.status_code == 422 and bad.get_json()["details"]["group"] == "coordination.k8s.io"


def test_events_and_field_selector(client):
    """Events are created and found by involvedObject fields (kubectl describe's query)."""
    for name, uid in (("e1", "u1"), ("e2", "u2")):
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
              "involvedObject": {"kind": "Pod", "namespace": "default", "name": "nginx", "uid": uid},
              "reason": "Started", "message": "Started container", "type": "Normal"}
        assert client.post("/api/v1/namespaces/default/events", json=ev).status_code == 201
    items = client.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.namespace%3Ddefault,"
                       "involvedObject.uid%3Du2,involvedObject.name%3Dnginx").get_json()["items"]
    assert [e["metadata"]["name"] for e in items] == ["e2"]
    assert [e["metadata"]["name"] for e in client.get("/api/v1/events").get_json()["items"]] == ["e1", "e2"]


def test_dry_run_writes_nothing(client, revision):
    """dryRun=All answers as if created but leaves etcd untouched."""
    before = revision()
    r = client.post(PODS + "?dryRun=All", json=pod("p"))
    assert r.status_code == 201 and r.get_json()["status"]["phase"] == "Pending"
    assert revision() == before and client.get(PODS + "/p").status_code == 404
