"""pods/binding: a pod is bound to a node once, in one transaction, and says so in PodScheduled.

The module's tests share one API server (tests/conftest.py), each in its own namespace; the node names
they bind to are derived from that namespace (no node object is created, nodeName is only a name)."""
from __future__ import annotations

import pytest

from api_testing import pod

pytestmark = pytest.mark.shared_apiserver


@pytest.fixture
def pods(namespace) -> str:
    """This test's pods collection."""
    return f"/api/v1/namespaces/{namespace}/pods"


@pytest.fixture
def node(namespace):
    """node(n): the name of this test's node n (`t-1a2b3c4d-node-n`)."""
    return lambda n: f"{namespace}-node-{n}"


def binding(name: str, node: str, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, **meta},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


@pytest.fixture
def pending(api, pods):
    """An unbound pod named `web`."""
    r = api.post(pods, json=pod("web"))
    assert r.status_code == 201, r.text
    return r.json()


def test_bind_sets_node_and_pod_scheduled(api, pods, node, pending):
    """The Binding answers 201 Success; the pod has the node and PodScheduled=True, one revision later."""
    r = api.post(f"{pods}/web/binding", json=binding("web", node(2), annotations={"why": "test"}))
    assert r.status_code == 201, r.text
    assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    bound = api.get(f"{pods}/web").json()
    assert bound["spec"]["nodeName"] == node(2)
    assert bound["metadata"]["annotations"] == {"why": "test"}
    assert int(bound["metadata"]["resourceVersion"]) > int(pending["metadata"]["resourceVersion"])
    [cond] = [c for c in bound["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert cond["status"] == "True" and cond["lastTransitionTime"].endswith("Z")


def test_second_binding_is_409_with_upstreams_message(api, pods, node, pending):
    """A pod is bound once: the second Binding is a Conflict naming the node it already has."""
    assert api.post(f"{pods}/web/binding", json=binding("web", node(1))).status_code == 201
    r = api.post(f"{pods}/web/binding", json=binding("web", node(2)))
    assert r.status_code == 409
    body = r.json()
    assert (body["reason"], body["details"]) == ("Conflict", {"name": "web", "kind": "pods/binding"})
    assert body["message"] == ('Operation cannot be fulfilled on pods/binding "web": '
                               f'pod web is already assigned to node "{node(1)}"')
    assert api.get(f"{pods}/web").json()["spec"]["nodeName"] == node(1)


def test_legacy_bindings_collection(api, pods, node, namespace, pending):
    """POST /namespaces/NS/bindings binds the pod the Binding names; it is listed in discovery."""
    r = api.post(f"/api/v1/namespaces/{namespace}/bindings", json=binding("web", node(3)))
    assert r.status_code == 201, r.text
    assert api.get(f"{pods}/web").json()["spec"]["nodeName"] == node(3)
    resources = {e["name"]: e for e in api.get("/api/v1").json()["resources"]}
    assert resources["pods/binding"] == {"name": "pods/binding", "singularName": "", "namespaced": True,
                                         "kind": "Binding", "verbs": ["create"]}
    assert resources["bindings"]["verbs"] == ["create"]


def test_missing_pod_is_404(api, pods, node, namespace):
    r = api.post(f"{pods}/ghost/binding", json=binding("ghost", node(1)))
    assert (r.status_code, r.json()["message"]) == (404, 'pods "ghost" not found')
    r = api.post(f"/api/v1/namespaces/{namespace}/bindings", json=binding("ghost", node(1)))
    assert r.status_code == 404


def test_dry_run_changes_nothing(api, pods, node, pending):
    r = api.post(f"{pods}/web/binding?dryRun=All", json=binding("web", node(1)))
    assert r.status_code == 201, r.text
    after = api.get(f"{pods}/web").json()
    assert "nodeName" not in after["spec"]
    assert after["metadata"]["resourceVersion"] == pending["metadata"]["resourceVersion"]


def test_uid_and_resource_version_preconditions(api, pods, node, pending):
    """A Binding carrying another uid or a stale resourceVersion is a Conflict and binds nothing."""
    meta = pending["metadata"]
    r = api.post(f"{pods}/web/binding", json=binding("web", node(1), uid="0000-other"))
    assert r.status_code == 409 and "Precondition failed: UID in precondition: 0000-other" in r.json()["message"]
    stale = str(int(meta["resourceVersion"]) - 1)
    r = api.post(f"{pods}/web/binding", json=binding("web", node(1), resourceVersion=stale))
    assert r.status_code == 409 and "ResourceVersion in precondition" in r.json()["message"]
    assert "nodeName" not in api.get(f"{pods}/web").json()["spec"]
    r = api.post(f"{pods}/web/binding", json=binding("web", node(1), uid=meta["uid"],
                                                     resourceVersion=meta["resourceVersion"]))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("body, code, reason", [
    ({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"}, "target": {}}, 422, "Invalid"),
    ({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
      "target": {"kind": "Pod", "name": "x"}}, 422, "Invalid"),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "target": {"name": "n"}}, 400, "BadRequest"),
    ({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "other"}, "target": {"name": "n"}}, 400,
     "BadRequest"),
])
def test_bad_bindings_are_refused_and_change_nothing(api, pods, pending, body, code, reason):
    r = api.post(f"{pods}/web/binding", json=body)
    assert (r.status_code, r.json()["reason"]) == (code, reason), r.text
    assert "nodeName" not in api.get(f"{pods}/web").json()["spec"]


def test_get_on_binding_is_405(api, pods, pending):
    assert api.get(f"{pods}/web/binding").status_code == 405
