"""metadata.finalizers hold an object after DELETE until an update removes the last of them.

Upstream (registry Store.Delete, shouldDeleteDuringUpdate, ValidateObjectMetaUpdate): the
DELETE marks the object (deletionTimestamp, and a grace of 0 when it has none of its own);
no finalizer may be added from then on; the update that removes the last one removes the
object, so watchers see MODIFIED (marked) then DELETED. Graceful pod deletion composes: the
kubelet's final DELETE with grace 0 leaves a pod with finalizers in place.
"""
from __future__ import annotations

import json
import threading

from kubernetes import client as k8s

from labserver.lab.supervise.procs import wait_for
from api_testing import pod

PODS = "/api/v1/namespaces/default/pods"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
MERGE = {"Content-Type": "application/merge-patch+json"}


def test_delete_marks_and_the_last_finalizer_removes(client):
    """A lease with two finalizers: DELETE marks it; removing one keeps it; removing the last removes it."""
    client.post(LEASES, json={"metadata": {"name": "l", "finalizers": ["example.com/a", "example.com/b"]},
                              "spec": {}})
    r = client.delete(LEASES + "/l")
    assert r.status_code == 200
    meta = r.get_json()["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 0
    assert client.get(LEASES + "/l").get_json()["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    again = client.delete(LEASES + "/l")
    assert again.status_code == 200 and again.get_json()["metadata"]["resourceVersion"] == meta["resourceVersion"]

    r = client.patch(LEASES + "/l", json={"metadata": {"finalizers": ["example.com/b"]}}, headers=MERGE)
    assert r.status_code == 200 and client.get(LEASES + "/l").status_code == 200
    r = client.patch(LEASES + "/l", json={"metadata": {"finalizers": None}}, headers=MERGE)
    assert r.status_code == 200
    assert client.get(LEASES + "/l").status_code == 404


def test_no_new_finalizers_once_deleting(client):
    """Adding a finalizer to an object being deleted is 422 with upstream's Forbidden cause."""
    client.post(PODS, json={**pod("p"), "metadata": {"name": "p", "finalizers": ["example.com/a"]}})
    client.delete(PODS + "/p")
    r = client.patch(PODS + "/p", json={"metadata": {"finalizers": ["example.com/a", "example.com/z"]}},
                     headers=MERGE)
    assert r.status_code == 422
    body = r.get_json()
    assert body["message"] == ('Pod "p" is invalid: metadata.finalizers: Forbidden: no new finalizers can be '
                               'added if the object is being deleted, found new finalizers []string{"example.com/z"}')
    assert body["details"]["causes"] == [{"reason": "FieldValueForbidden", "field": "metadata.finalizers",
                                          "message": "Forbidden: no new finalizers can be added if the object is "
                                                     'being deleted, found new finalizers []string{"example.com/z"}'}]
    assert client.get(PODS + "/p").get_json()["metadata"]["finalizers"] == ["example.com/a"]


def test_bad_finalizer_names_are_invalid(client):
    r = client.post(PODS, json={**pod("p"), "metadata": {"name": "p", "finalizers": ["not valid!"]}})
    assert r.status_code == 422 and r.get_json()["details"]["causes"][0]["field"] == "metadata.finalizers[0]"


def test_graceful_pod_with_finalizers_waits_for_both(client):
    """The kubelet's final DELETE (grace 0, uid precondition) leaves a pod with finalizers; then the
    update removing them removes it."""
    created = client.post(PODS, json={**pod("web", node="node-1"),
                                      "metadata": {"name": "web", "finalizers": ["example.com/a"]}}).get_json()
    marked = client.delete(PODS + "/web").get_json()["metadata"]
    assert marked["deletionGracePeriodSeconds"] == 30
    # Removing the finalizer while grace remains does not remove the pod: its kubelet still has to stop it.
    client.patch(PODS + "/web", json={"metadata": {"finalizers": None}}, headers=MERGE)
    assert client.get(PODS + "/web").status_code == 200
    # Finalizers gone, the kubelet's final DELETE removes it.
    client.delete(PODS + "/web", json={"gracePeriodSeconds": 0})
    assert client.get(PODS + "/web").status_code == 404

    # The kubelet finishes first: the pod stays, marked with grace 0, until its finalizers go.
    client.post(PODS, json={**pod("web2", node="node-1"),
                            "metadata": {"name": "web2", "finalizers": ["example.com/a"]}})
    uid = client.get(PODS + "/web2").get_json()["metadata"]["uid"]
    client.delete(PODS + "/web2")
    final = client.delete(PODS + "/web2", json={"gracePeriodSeconds": 0, "preconditions": {"uid": uid}})
    assert final.status_code == 200
    kept = client.get(PODS + "/web2").get_json()["metadata"]
    assert kept["deletionGracePeriodSeconds"] == 0 and kept["finalizers"] == ["example.com/a"]
    client.patch(PODS + "/web2", json={"metadata": {"finalizers": None}}, headers=MERGE)
    assert client.get(PODS + "/web2").status_code == 404
    assert created["metadata"]["uid"] != uid


def test_watchers_see_modified_then_deleted(api):
    """A watch on the lease sees it marked (MODIFIED) at the DELETE and DELETED at the finalizer's removal."""
    created = api.post(LEASES, json={"metadata": {"name": "w", "finalizers": ["example.com/a"]}, "spec": {}}).json()
    events = []
    with api.get(LEASES, params={"watch": "true", "resourceVersion": created["metadata"]["resourceVersion"],
                                 "timeoutSeconds": "20"}, stream=True) as stream:
        def read():
            for line in stream.iter_lines():
                if line:
                    events.append(json.loads(line))
                    if events[-1]["type"] == "DELETED":
                        return
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert api.delete(LEASES + "/w").status_code == 200
        assert api.patch(LEASES + "/w", data=json.dumps({"metadata": {"finalizers": None}}),
                         headers=MERGE).status_code == 200
        reader.join(20)
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert events[0]["object"]["metadata"]["deletionTimestamp"]


def test_official_client_patch_removes_the_finalizer(apiserver):
    """With the kubernetes package: delete a pod held by a finalizer, it stays; patch the finalizer away,
    it is gone; V1DeleteOptions(dry_run=["All"]) deletes nothing."""
    with k8s.ApiClient(k8s.Configuration(host=apiserver.url)) as api_client:
        core = k8s.CoreV1Api(api_client)
        core.create_namespaced_pod("default", {**pod("held"), "metadata": {"name": "held",
                                                                           "finalizers": ["example.com/x"]}})
        core.create_namespaced_pod("default", pod("free"))
        dry = core.delete_namespaced_pod("free", "default", body=k8s.V1DeleteOptions(dry_run=["All"]))
        assert dry.metadata.name == "free"
        assert core.read_namespaced_pod("free", "default").metadata.deletion_timestamp is None
        marked = core.delete_namespaced_pod("held", "default")
        assert marked.metadata.deletion_timestamp is not None
        assert core.read_namespaced_pod("held", "default").metadata.finalizers == ["example.com/x"]
        core.patch_namespaced_pod("held", "default", {"metadata": {"finalizers": None}})

        def gone():
            try:
                core.read_namespaced_pod("held", "default")
                return False
            except k8s.exceptions.ApiException as e:
                return e.status == 404
        wait_for(gone, 5, "pod held gone")
