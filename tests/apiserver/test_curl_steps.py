"""The post's curl steps against the real API server process, and what they leave in etcd.

The module's tests share one API server (tests/conftest.py), each in its own namespace; the three that
look at a fresh cluster (no node, no pod, only the system namespaces) read a private one, which nothing writes to."""
from __future__ import annotations

import json
import uuid

import pytest
import requests
import yaml

from api_testing import NGINX_POD
from labserver.lab.supervise.components import start_apiserver

pytestmark = pytest.mark.shared_apiserver


@pytest.fixture(scope="module")
def fresh_api(etcd, tmp_path_factory):
    """get(path): GET on an API server of this module's own, on a prefix of its own, that no test writes to."""
    server = start_apiserver(etcd.client_url, tmp_path_factory.mktemp("fresh") / "apiserver.log",
                             extra_args=[f"--etcd-prefix=/f-{uuid.uuid4().hex[:8]}/registry"])
    try:
        with requests.Session() as session:
            yield lambda path: session.get(server.url + path, timeout=30)
    finally:
        server.stop()


def test_empty_node_list(fresh_api):
    """GET /api/v1/nodes on a fresh cluster is an empty NodeList with a resourceVersion."""
    r = fresh_api("/api/v1/nodes")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["kind"] == "NodeList" and body["apiVersion"] == "v1"
    assert body["items"] == [] and body["metadata"]["resourceVersion"].isdigit()


def test_empty_pod_items(fresh_api):
    """GET /api/v1/namespaces/default/pods has items: [] (never null)."""
    body = fresh_api("/api/v1/namespaces/default/pods").json()
    assert body["kind"] == "PodList" and body["items"] == []


def test_post_nginx_pod(api, namespace, etcd_client, etcd_prefix):
    """POST of the post's pod: 201 with server-set fields and defaults; etcd holds it at that revision."""
    r = api.post(f"/api/v1/namespaces/{namespace}/pods", data=json.dumps(NGINX_POD),
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    created = r.json()
    meta, spec = created["metadata"], created["spec"]
    assert len(meta["uid"]) == 36 and meta["resourceVersion"].isdigit()
    assert meta["creationTimestamp"].endswith("Z") and len(meta["creationTimestamp"]) == 20
    assert spec["restartPolicy"] == "Always" and spec["dnsPolicy"] == "ClusterFirst"
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert [c["imagePullPolicy"] for c in spec["containers"]] == ["Always", "Always"]
    value, kv = etcd_client.get(f"{etcd_prefix}/pods/{namespace}/nginx")   # /registry/pods/... below its prefix
    assert str(kv.mod_revision) == meta["resourceVersion"]
    stored = json.loads(value)
    assert stored["metadata"]["uid"] == meta["uid"] and "resourceVersion" not in stored["metadata"]
    listed = api.get(f"/api/v1/namespaces/{namespace}/pods").json()
    assert [p["metadata"]["name"] for p in listed["items"]] == ["nginx"]
    assert int(listed["metadata"]["resourceVersion"]) >= kv.mod_revision


def test_post_yaml_pod_and_get(api, namespace):
    """A YAML body is accepted and the pod reads back identical through GET."""
    body = yaml.safe_dump({**NGINX_POD, "metadata": {"name": "nginx-the-second"}})
    r = api.post(f"/api/v1/namespaces/{namespace}/pods", data=body, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201, r.text
    got = api.get(f"/api/v1/namespaces/{namespace}/pods/nginx-the-second")
    assert got.status_code == 200 and got.json() == r.json()


def test_system_namespaces_exist(fresh_api):
    """default, kube-system and kube-node-lease exist from the start, Active, with uids."""
    items = fresh_api("/api/v1/namespaces").json()["items"]
    assert {n["metadata"]["name"] for n in items} == {"default", "kube-system", "kube-node-lease"}
    assert all(n["status"]["phase"] == "Active" and n["metadata"]["uid"] for n in items)


def test_health_endpoints(api):
    """/healthz, /livez and /readyz answer ok."""
    for path in ("/healthz", "/livez", "/readyz"):
        r = api.get(path)
        assert (r.status_code, r.text) == (200, "ok")
