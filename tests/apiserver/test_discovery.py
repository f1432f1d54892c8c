"""Discovery documents list what RESOURCES serves, in the shapes kubectl and the Python client read."""
import pytest
from flask import Flask

from labserver.apiserver import discovery
from labserver.apiserver.resources import RESOURCES


@pytest.fixture
def client():
    app = Flask("discovery-test")
    app.register_blueprint(discovery.bp)
    return app.test_client()


def test_api_versions(client):
    """/api lists v1 and the server address clients may use."""
    body = client.get("/api", headers={"Host": "127.0.0.1:8080"}).get_json()
    assert body["kind"] == "APIVersions" and body["versions"] == ["v1"]
    assert body["serverAddressByClientCIDRs"] == [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:8080"}]


def test_core_resources_and_subresources(client):
    """/api/v1 lists every core resource with verbs and short names, and the status/log subresources."""
    body = client.get("/api/v1").get_json()
    assert (body["kind"], body["groupVersion"]) == ("APIResourceList", "v1")
    by_name = {r["name"]: r for r in body["resources"]}
    core = [r for r in RESOURCES if not r.group]
    assert {r.name for r in core} <= set(by_name)
    pods = by_name["pods"]
    assert (pods["kind"], pods["singularName"], pods["namespaced"], pods["shortNames"]) == ("Pod", "pod", True,
                                                                                            ["po"])
    assert set(pods["verbs"]) >= {"create", "delete", "get", "list", "patch", "update", "watch"}
    assert pods["categories"] == ["all"]
    assert by_name["nodes"]["namespaced"] is False and by_name["nodes"]["shortNames"] == ["no"]
    for sub in ("pods/status", "nodes/status", "namespaces/status"):
        assert by_name[sub]["verbs"] == ["get", "patch", "update"]
    assert by_name["pods/log"] == {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod",
                                   "verbs": ["get"]}
    assert "leases" not in by_name


def test_groups_and_group_resources(client):
    """/apis lists coordination.k8s.io; its group and version documents list leases."""
    groups = client.get("/apis").get_json()
    assert groups["kind"] == "APIGroupList"
    names = [g["name"] for g in groups["groups"]]
    assert "coordination.k8s.io" in names
    group = client.get("/apis/coordination.k8s.io").get_json()
    assert group["kind"] == "APIGroup"
    assert group["preferredVersion"] == {"groupVersion": "coordination.k8s.io/v1", "version": "v1"}
    leases = client.get("/apis/coordination.k8s.io/v1").get_json()
    assert leases["groupVersion"] == "coordination.k8s.io/v1"
    assert [r["name"] for r in leases["resources"]] == ["leases"]
    assert leases["resources"][0]["namespaced"] is True


@pytest.mark.parametrize("url", ["/apis/nope.example.com", "/apis/nope.example.com/v1",
                                 "/apis/coordination.k8s.io/v9"])
def test_unknown_group_or_version_is_404_status(url, client):
    """Unknown groups and versions answer a NotFound Status, not HTML."""
    response = client.get(url)
    assert response.status_code == 404 and response.mimetype == "application/json"
    body = response.get_json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "NotFound", 404)


def test_version_deserializes_in_the_official_client(client):
    """/version carries every field the official client's VersionInfo requires."""
    from kubernetes.client import ApiClient
    body = client.get("/version").get_json()
    assert (body["major"], body["minor"], body["gitVersion"]) == ("1", "37", "v1.37.0-labserver")
    info = ApiClient().deserialize(client.get("/version").get_data(as_text=True), "VersionInfo", "application/json")
    assert info.git_version == "v1.37.0-labserver" and info.platform and info.go_version
