"""The garbage collector's propagation policies (official client), the node lifecycle controller and the
service account controller, for real: etcd, API server, kubelets (process runtime), scheduler, controller-manager.
"""
from __future__ import annotations

import pytest
import requests
from kubernetes import client as k8s

from labserver.lab.supervise.components import start_controller_manager
from labserver.lab.supervise.procs import wait_for

PODS = "/api/v1/namespaces/default/pods"
RS = "/apis/apps/v1/namespaces/default/replicasets"


def _process_runtime_missing() -> str | None:
    from labserver.lab.machine.sysdeps import install_hint
    return install_hint("process") or None


def _get(url: str, path: str, **params) -> requests.Response:
    return requests.get(url + path, params=params, timeout=30)


@pytest.fixture
def manager(apiserver, tmp_path):
    server = start_controller_manager(apiserver.url, tmp_path / "controller-manager.log",
                                      extra_args=["--node-monitor-grace-period=3s", "--node-monitor-period=0.5s"])
    yield server
    server.stop()


@pytest.fixture
def apps(apiserver):
    config = k8s.Configuration()
    config.host = apiserver.url
    with k8s.ApiClient(config) as api_client:
        yield k8s.AppsV1Api(api_client), k8s.CoreV1Api(api_client)


def _replicaset(name: str, replicas: int = 2) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def _pods(url: str, app: str) -> list[dict]:
    return _get(url, PODS, labelSelector=f"app={app}").json()["items"]


def test_propagation_policies(apiserver, manager, apps):
    """No kubelet: the pods stay Pending, and unbound pods are deleted at once."""
    appsv1, _ = apps
    url = apiserver.url
    for name in ("fg", "orphan", "bg"):
        appsv1.create_namespaced_replica_set("default", _replicaset(name))
    wait_for(lambda: all(len(_pods(url, n)) == 2 for n in ("fg", "orphan", "bg")), 30, "2 pods per ReplicaSet",
             progress=print)
    status = _get(url, f"{RS}/fg").json()["status"]
    assert status["replicas"] == 2 and status["observedGeneration"] == 1

    # Orphan: the ReplicaSet goes, its pods stay, without their ownerReference
    appsv1.delete_namespaced_replica_set("orphan", "default", propagation_policy="Orphan")
    wait_for(lambda: _get(url, f"{RS}/orphan").status_code == 404, 30, "orphan ReplicaSet gone", progress=print)
    pods = _pods(url, "orphan")
    assert len(pods) == 2 and all(not p["metadata"].get("ownerReferences") for p in pods)

    # Foreground: the owner is marked, keeps a foregroundDeletion finalizer until its pods are gone
    marked = appsv1.delete_namespaced_replica_set("fg", "default", propagation_policy="Foreground")
    assert marked is not None
    wait_for(lambda: _get(url, f"{RS}/fg").status_code == 404, 30, "foreground ReplicaSet gone", progress=print)
    assert _pods(url, "fg") == []

    # Background (the default): the owner goes at once, the collector deletes the pods after
    appsv1.delete_namespaced_replica_set("bg", "default")
    assert _get(url, f"{RS}/bg").status_code == 404
    wait_for(lambda: _pods(url, "bg") == [], 30, "background pods collected", progress=print)
    assert len(_pods(url, "orphan")) == 2      # orphans stay


def test_foreground_finalizer_is_set_by_the_api_server(apiserver, apps):
    """Without a controller-manager the Foreground owner stays, marked, with the finalizer."""
    appsv1, _ = apps
    appsv1.create_namespaced_replica_set("default", _replicaset("held", replicas=0))
    appsv1.delete_namespaced_replica_set("held", "default", propagation_policy="Foreground")
    meta = _get(apiserver.url, f"{RS}/held").json()["metadata"]
    assert meta["finalizers"] == ["foregroundDeletion"] and meta["deletionTimestamp"]
    appsv1.delete_namespaced_replica_set("held", "default", propagation_policy="Orphan")
    meta = _get(apiserver.url, f"{RS}/held").json()["metadata"]
    assert meta["finalizers"] == ["orphan"]


def test_default_serviceaccount_in_new_namespace(apiserver, manager, apps):
    _, core = apps
    core.create_namespace({"metadata": {"name": "team-a"}})
    wait_for(lambda: _get(apiserver.url, "/api/v1/namespaces/team-a/serviceaccounts/default").ok, 20,
             "default ServiceAccount", progress=print)
    core.delete_namespaced_service_account("default", "team-a")
    wait_for(lambda: _get(apiserver.url, "/api/v1/namespaces/team-a/serviceaccounts/default").ok, 20,
             "default ServiceAccount again", progress=print)
