"""The post's curl steps against the real API server process, and what they leave in etcd."""
from __future__ import annotations

import json

import yaml

from api_testing import NGINX_POD


def test_empty_node_list(api):
    """GET /api/v1/nodes on a fresh cluster is an empty NodeList with a resourceVersion."""
    r = api.get("/api/v1/nodes")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["kind"] == "NodeList" and body["apiVersion"] == "v1"
    assert body["items"] == [] and body["metadata"]["resourceVersion"].isdigit()


def test_empty_pod_items(api):
    """GET /api/v1/namespaces/default/pods has items: [] (never null)."""
    body = api.get("/api/v1/namespaces/default/pods").json()
    assert body["kind"] == "PodList" and body["items"] == []


def test_post_nginx_pod(api, etcd_client, etcd_prefix):
    """POST of the post's pod: 201 with server-set fields and defaults; etcd holds it at that revision."""
    r = api.post("/api/v1/namespaces/default/pods", data=json.dumps(NGINX_POD),
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    created = r.json()
    meta, spec = created["metadata"], created["spec"]
    assert len(meta["uid"]) == 36 and meta["resourceVersion"].isdigit()
    assert meta["creationTimestamp"].endswith("Z") and len(meta["creationTimestamp"]) == 20
    assert spec["restartPolicy"] == "Always" and spec["dnsPolicy"] == "ClusterFirst"
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert [c["imagePullPolicy"] for c in spec["containers"]] == ["Always", "Always"]
    value, kv = etcd_client.get(f"{etcd_prefix}/pods/default/nginx")   # /registry/pods/... below the test's prefix
    assert str(kv.mod_revision) == meta["resourceVersion"]
    stored = json.loads(value)
    assert stored["metadata"]["uid"] == meta["uid"] and "resourceVersion" not in stored["metadata"]
    listed = api.get("/api/v1/namespaces/default/pods").json()
    assert [p["metadata"]["name"] for p in listed["items"]] == ["nginx"]
    assert int(listed["metadata"]["resourceVersion"]) >= kv.mod_revision


def test_post_yaml_pod_and_get(api):
    """A YAML body is accepted and the pod reads back identical through GET."""
    body = yaml.safe_dump({**NGINX_POD, "metadata": {"name": "nginx-the-second"}})
    r = api.post("/api/v1/namespaces/default/pods", data=body, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201, r.text
    got = api.get("/api/v1/namespaces/default/pods/nginx-the-second")
    assert got.status_code == 200 and got.json() == r.json()


def test_system_namespaces_exist(api):
    """default, kube-system and kube-node-lease exist from the start, Active, with uids."""
    items = api.get("/api/v1/namespaces").json()["items"]
    assert {n["metadata"]["name"] for n in items} == {"default", "kube-system", "kube-node-lease"}
    assert all(n["status"]["phase"] == "Active" and n["metadata"]["uid"] for n in items)


def test_health_endpoints(api):
    """/healthz, /livez and /readyz answer ok."""
    for path in ("/healthz", "/livez", "/readyz"):
        r = api.get(path)
        assert (r.status_code, r.text) == (200, "ok")
