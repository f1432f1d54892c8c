"""`kubectl delete --dry-run=server` (kubectl 1.37 puts dryRun in the DeleteOptions body) deletes nothing."""
from __future__ import annotations

from api_testing import pod
from kubectl_testing import kubectl  # noqa: F401

PODS = "/api/v1/namespaces/default/pods"


def test_kubectl_server_dry_runs_delete_nothing(api, kubectl, revision):  # noqa: F811
    """A bound pod, every pod, and a namespace: kubectl reports them deleted (server dry run), etcd does not move."""
    for name, node in (("web", "node-1"), ("free", None)):
        assert api.post(PODS, json=pod(name, node=node)).status_code == 201
    assert api.post("/api/v1/namespaces", json={"metadata": {"name": "dev"}}).status_code == 201
    before = revision()

    out = kubectl("delete", "pod", "web", "--dry-run=server")
    assert out.stdout.strip() == 'pod "web" deleted from default namespace (server dry run)'
    out = kubectl("delete", "pods", "--all", "--dry-run=server")
    assert sorted(out.stdout.strip().splitlines()) == ['pod "free" deleted from default namespace (server dry run)',
                                                       'pod "web" deleted from default namespace (server dry run)']
    out = kubectl("delete", "namespace", "dev", "--dry-run=server")
    assert out.stdout.strip() == 'namespace "dev" deleted (server dry run)'

    assert revision() == before
    pods = api.get(PODS).json()["items"]
    assert sorted(p["metadata"]["name"] for p in pods) == ["free", "web"]
    assert all("deletionTimestamp" not in p["metadata"] for p in pods)
    assert api.get("/api/v1/namespaces/dev").json()["status"]["phase"] == "Active"
