"""Namespaces as upstream: Active with the `kubernetes` finalizer, Terminating on DELETE, finalize, admission.

Creates into a Terminating namespace are 403 with NamespaceLifecycle's message and cause, into a
missing one 404; the system namespaces cannot be deleted; `namespaces/<name>/finalize` is the only
way to change spec.finalizers, and emptying them on a Terminating namespace removes it. With
several API server processes (--workers) no process may let a create into a Terminating namespace.
"""
from __future__ import annotations

import pytest
import requests

from labserver.apiserver import create_app
from labserver.lab.supervise.components import start_apiserver
from api_testing import pod

NS = "/api/v1/namespaces"


def test_created_active_with_the_kubernetes_finalizer(client):
    ns = client.post(NS, json={"metadata": {"name": "dev"}}).get_json()
    assert ns["spec"] == {"finalizers": ["kubernetes"]} and ns["status"] == {"phase": "Active"}


def test_delete_marks_terminating_and_refuses_new_content(client):
    """DELETE: deletionTimestamp, phase Terminating, finalizer kept; creates are 403; a second DELETE is 409."""
    client.post(NS, json={"metadata": {"name": "dev"}})
    client.post(NS + "/dev/pods", json=pod("old"))
    r = client.delete(NS + "/dev")
    assert r.status_code == 200
    ns = r.get_json()
    assert ns["metadata"]["deletionTimestamp"] and "deletionGracePeriodSeconds" not in ns["metadata"]
    assert ns["status"]["phase"] == "Terminating" and ns["spec"]["finalizers"] == ["kubernetes"]

    r = client.post(NS + "/dev/pods", json=pod("new"))
    assert r.status_code == 403
    assert r.get_json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods "new" is forbidden: unable to create new content in namespace dev because it is being '
                   "terminated",
        "reason": "Forbidden",
        "details": {"name": "new", "kind": "pods",
                    "causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                "message": "namespace dev is being terminated"}]},
        "code": 403}
    lease = client.put("/apis/coordination.k8s.io/v1/namespaces/dev/leases/l", json={"metadata": {"name": "l"}})
    assert lease.status_code == 403
    assert lease.get_json()["message"].startswith('leases.coordination.k8s.io "l" is forbidden: unable to create')
    # What is there can still be read, changed and deleted.
    assert client.get(NS + "/dev/pods/old").status_code == 200
    assert client.delete(NS + "/dev/pods/old").status_code == 200

    again = client.delete(NS + "/dev")
    assert again.status_code == 409
    assert again.get_json()["message"] == (
        'Operation cannot be fulfilled on namespaces "dev": The system is ensuring all content is removed from '
        "this namespace.  Upon completion, this namespace will automatically be purged by the system.")


def test_create_into_a_missing_namespace_is_not_found(client):
    r = client.post(NS + "/nowhere/pods", json=pod("p"))
    assert r.status_code == 404
    assert r.get_json()["message"] == 'namespaces "nowhere" not found'
    assert r.get_json()["details"] == {"name": "nowhere", "kind": "namespaces"}


def test_system_namespaces_cannot_be_deleted(client):
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        r = client.delete(f"{NS}/{name}")
        assert r.status_code == 403
        assert r.get_json()["message"] == f'namespaces "{name}" is forbidden: this namespace may not be deleted'
        assert r.get_json()["details"] == {"name": name, "kind": "namespaces"}


def test_finalize_is_the_only_way_to_change_spec_finalizers(client):
    """PUT on the namespace keeps spec.finalizers; PUT finalize changes them; emptying them while
    Terminating removes the namespace (answered with it as last stored)."""
    ns = client.post(NS, json={"metadata": {"name": "dev"}}).get_json()
    ns["spec"]["finalizers"] = []
    ns["metadata"]["labels"]["team"] = "a"
    updated = client.put(NS + "/dev", json=ns).get_json()
    assert updated["spec"]["finalizers"] == ["kubernetes"] and updated["metadata"]["labels"]["team"] == "a"

    client.delete(NS + "/dev")
    ns = client.get(NS + "/dev").get_json()
    ns["spec"]["finalizers"] = ["kubernetes", "example.com/extra"]
    ns["status"]["phase"] = "Active"           # the status is not the finalizer's to change
    kept = client.put(NS + "/dev/finalize", json=ns).get_json()
    assert kept["spec"]["finalizers"] == ["kubernetes", "example.com/extra"]
    assert kept["status"]["phase"] == "Terminating"
    kept["spec"]["finalizers"] = ["example.com/extra"]
    assert client.put(NS + "/dev/finalize", json=kept).status_code == 200
    assert client.get(NS + "/dev").status_code == 200
    last = client.get(NS + "/dev").get_json()
    last["spec"]["finalizers"] = []
    r = client.put(NS + "/dev/finalize", json=last)
    assert r.status_code == 200 and r.get_json()["metadata"]["name"] == "dev"
    assert client.get(NS + "/dev").status_code == 404


def test_discovery_lists_the_finalize_subresource(client):
    resources = {r["name"]: r for r in client.get("/api/v1").get_json()["resources"]}
    assert resources["namespaces/finalize"]["verbs"] == ["update"]


def test_every_status_carries_details(client):
    """kubectl reads details.name without a check: even a bare 404 or 400 has `details`."""
    assert client.get("/api/v1/nothing").get_json()["details"] == {}
    assert client.post(NS + "/default/pods", data="{", content_type="application/json").get_json()["details"] == {}


def test_several_workers_never_admit_into_a_terminating_namespace(etcd, etcd_prefix, tmp_path):
    """Two API server processes serve one port; once the namespace is Terminating, every create is 403,
    whichever process answers (no process keeps an old answer about the namespace)."""
    server = start_apiserver(etcd.client_url, tmp_path / "apiserver.log", extra_args=["--workers=2", f"--etcd-prefix={etcd_prefix}"])
    try:
        with requests.Session() as s:
            assert s.post(server.url + NS, json={"metadata": {"name": "dev"}}, timeout=10).status_code == 201
            for i in range(20):   # both workers have now seen the namespace Active
                with requests.Session() as fresh:
                    r = fresh.post(f"{server.url}{NS}/dev/pods", json=pod(f"before-{i}"), timeout=10)
                    assert r.status_code == 201, r.text
            assert s.delete(server.url + NS + "/dev", timeout=10).status_code == 200
            codes = []
            for i in range(40):
                with requests.Session() as fresh:   # a new connection each time: either worker may answer
                    codes.append(fresh.post(f"{server.url}{NS}/dev/pods", json=pod(f"after-{i}"), timeout=10)
                                 .status_code)
            assert codes == [403] * 40
    finally:
        server.stop()


@pytest.fixture
def other(app, etcd, etcd_prefix):
    """A second API server app on the same etcd and prefix: another process, as far as `client` can tell."""
    second = create_app({"ETCD_SERVERS": [etcd.client_url], "ETCD_PREFIX": etcd_prefix, "TESTING": True})
    yield second.test_client()
    second.extensions["labserver.shutdown"].set()
    second.extensions["labserver.storage"].close()


def etcd_calls(app) -> list[tuple[str, str]]:
    """Every etcd call the app's Storage makes from now on, as (operation, resource)."""
    storage, calls = app.extensions["labserver.storage"], []
    recorded = storage.on_request

    def record(operation, resource, seconds):
        calls.append((operation, resource.name))
        recorded(operation, resource, seconds)
    storage.on_request = record
    return calls


def test_a_create_in_a_namespace_seen_active_is_one_etcd_call(app, client):
    """The namespace is read once; later creates in it are one transaction (which re-checks it)."""
    client.post(NS, json={"metadata": {"name": "dev"}})
    calls = etcd_calls(app)
    assert client.post(NS + "/dev/pods", json=pod("a")).status_code == 201
    assert calls == [("get", "namespaces"), ("create", "pods")]
    calls.clear()
    assert client.post(NS + "/dev/pods", json=pod("b")).status_code == 201
    assert calls == [("create", "pods")]


def test_a_namespace_remembered_active_still_refuses_once_terminating_elsewhere(app, client, other):
    """Another process marks the namespace Terminating: this one, which saw it Active, answers 403 all the
    same (for an existing name first: not 409 AlreadyExists; then a new name, a dry run), then 404 once it
    is gone, and admits again
    into a namespace of the same name created anew."""
    client.post(NS, json={"metadata": {"name": "dev"}})
    assert client.post(NS + "/dev/pods", json=pod("old")).status_code == 201   # dev is remembered Active
    assert other.delete(NS + "/dev").status_code == 200
    for body, query in ((pod("old"), ""), (pod("new"), ""), (pod("dry"), "?dryRun=All")):
        r = client.post(NS + "/dev/pods" + query, json=body)
        assert r.status_code == 403, r.get_json()
        assert r.get_json()["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    assert client.post(NS + "/dev/pods", json=pod("new")).status_code == 403   # no stale answer kept
    assert client.get(NS + "/dev/pods/new").status_code == 404

    other.delete(NS + "/dev/pods/old?gracePeriodSeconds=0")
    last = other.get(NS + "/dev").get_json()
    last["spec"]["finalizers"] = []
    assert other.put(NS + "/dev/finalize", json=last).status_code == 200
    r = client.post(NS + "/dev/pods", json=pod("new"))
    assert r.status_code == 404 and r.get_json()["message"] == 'namespaces "dev" not found'

    assert other.post(NS, json={"metadata": {"name": "dev"}}).status_code == 201
    assert client.post(NS + "/dev/pods", json=pod("new")).status_code == 201


def test_a_dry_run_reads_the_namespace_live(app, client):
    """A dry run writes nothing, so no transaction could check a remembered revision: it reads the namespace."""
    client.post(NS, json={"metadata": {"name": "dev"}})
    client.post(NS + "/dev/pods", json=pod("a"))
    calls = etcd_calls(app)
    assert client.post(NS + "/dev/pods?dryRun=All", json=pod("b")).status_code == 201
    assert calls == [("get", "namespaces")]
