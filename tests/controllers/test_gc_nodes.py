"""The garbage collector's propagation policies (official client), the node lifecycle controller and the
service account controller, for real: etcd, API server, kubelets (process runtime), scheduler, controller-manager.
"""
from __future__ import annotations

import pytest
import requests
from kubernetes import client as k8s

from labserver.kubelet.runtime_process import ProcessRuntime
from labserver.lab.supervise.procs import wait_for
from pod_ranges import pod_cidr

PODS = "/api/v1/namespaces/default/pods"
RS = "/apis/apps/v1/namespaces/default/replicasets"


def _process_runtime_missing() -> str | None:
    from labserver.lab.machine.sysdeps import install_hint
    return install_hint("process") or None


def _get(url: str, path: str, **params) -> requests.Response:
    return requests.get(url + path, params=params, timeout=30)


@pytest.fixture
def manager(component_factory):
    return component_factory("controller-manager", "--node-monitor-grace-period=3s", "--node-monitor-period=0.5s")


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


def test_node_lost_pods_evicted_and_replaced(apiserver, kubelet_factory, manager, component_factory, tmp_path):
    """A node stops heartbeating: NotReady (Unknown) and tainted, its pods evicted and replaced on the other
    node; its kubelet comes back, finishes the evicted pods (containers stopped, objects deleted), the taints go."""
    reason = _process_runtime_missing()
    if reason:
        pytest.skip(reason)
    url = apiserver.url
    fast = ["--node-lease-renew-interval=0.5s", "--node-status-update-frequency=1s"]
    kubelets = {name: kubelet_factory(hostname=name, runtime="process", extra_args=[f"--pod-cidr={cidr}", *fast])
                for name, cidr in (("node-1", pod_cidr(1)), ("node-2", pod_cidr(2)))}
    node2_runtime = ProcessRuntime(tmp_path / "kubelet-node-2", pod_cidr=pod_cidr(2))
    component_factory("scheduler", "--pod-initial-backoff=0.2", "--pod-max-backoff=1")
    rs = _replicaset("web", replicas=4)
    rs["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 2}]
    assert requests.post(url + RS, json=rs, timeout=30).status_code == 201

    def running():
        return [p for p in _pods(url, "web") if p["status"].get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")]
    wait_for(lambda: len(running()) == 4 and {p["spec"]["nodeName"] for p in running()} == {"node-1", "node-2"},
             60, "4 pods Running on both nodes", progress=print)
    lost = {p["metadata"]["uid"]: p["metadata"]["name"] for p in running() if p["spec"]["nodeName"] == "node-2"}
    kubelets["node-2"].stop()

    def node2() -> dict:
        return _get(url, "/api/v1/nodes/node-2").json()
    wait_for(lambda: {(t["key"], t["effect"]) for t in node2()["spec"].get("taints", [])} ==
             {("node.kubernetes.io/unreachable", "NoSchedule"), ("node.kubernetes.io/unreachable", "NoExecute")},
             30, "node-2 tainted unreachable", progress=print)
    ready = next(c for c in node2()["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == \
        ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    wait_for(lambda: len(running()) == 4 and all(p["spec"]["nodeName"] == "node-1" for p in running()), 60,
             "4 pods Running on node-1", progress=print)
    for name in lost.values():   # evicted: marked for deletion; no kubelet is there to finish them
        assert _get(url, f"{PODS}/{name}").json()["metadata"]["deletionTimestamp"]
    # Their containers still run on the lost node (a stopped kubelet stops nothing).
    assert {c.pod.uid for c in node2_runtime.list_containers() if c.state == "running"} == set(lost)

    kubelets["node-2"] = kubelet_factory(hostname="node-2", runtime="process",
                                         extra_args=[f"--pod-cidr={pod_cidr(2)}", *fast])
    wait_for(lambda: all(_get(url, f"{PODS}/{name}").status_code == 404 for name in lost.values()), 30,
             "the restarted kubelet to finish the evicted pods", progress=print)
    assert not set(lost) & {sb.pod.uid for sb in node2_runtime.list_sandboxes()}
    wait_for(lambda: not node2()["spec"].get("taints"), 30, "node-2 untainted", progress=print)
    requests.delete(f"{url}{RS}/web", timeout=30)   # the garbage collector deletes its pods gracefully
    wait_for(lambda: not _pods(url, "web"), 60, "the kubelets to finish the ReplicaSet's pods", progress=print)
    for name in kubelets:   # every container, and every log writer, ended by its own kubelet
        assert ProcessRuntime(tmp_path / f"kubelet-{name}").list_sandboxes() == []
