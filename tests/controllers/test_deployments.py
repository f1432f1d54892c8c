"""Deployments, ReplicaSets and the garbage collector, for real: etcd, the API server, two kubelets
(process runtime), the scheduler and the controller-manager as processes, driven by kubectl 1.37.

`kubectl create deployment` (a protobuf body), `scale` (the scale subresource),
`set image` (a rolling update), `rollout status/history/undo`, a deleted pod
replaced, and `kubectl delete deployment` taking its ReplicaSets and pods along.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from labserver.lab.supervise.procs import wait_for
from pod_ranges import pod_cidr

KUBECTL = str(Path(sys.executable).parent / "kubectl")
NODES = {"node-1": pod_cidr(1), "node-2": pod_cidr(2)}   # this xdist worker's own
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
RS = "/apis/apps/v1/namespaces/default/replicasets"
PODS = "/api/v1/namespaces/default/pods"


def _process_runtime_missing() -> str | None:
    from labserver.lab.machine.sysdeps import install_hint
    return install_hint("process") or None


class Cluster:
    def __init__(self, url: str, tmp_path: Path):
        self.url, self.tmp = url, tmp_path
        self.http = requests.Session()

    def get(self, path: str, **params) -> dict:
        r = self.http.get(self.url + path, params=params, timeout=30)
        r.raise_for_status()
        return r.json()

    def kubectl(self, *args: str, check: bool = True, timeout: float = 90) -> str:
        out = subprocess.run([KUBECTL, f"--server={self.url}", "--namespace=default", *args],
                             capture_output=True, text=True, timeout=timeout)
        if check and out.returncode:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {out.stderr}")
        return out.stdout + out.stderr

    def pods(self, selector: str = "app=web") -> list[dict]:
        return [p for p in self.get(PODS, labelSelector=selector)["items"] if not p["metadata"].get("deletionTimestamp")]

    def running(self, selector: str = "app=web") -> list[dict]:
        return [p for p in self.pods(selector) if p["status"].get("phase") == "Running"
                and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


@pytest.fixture
def cluster(apiserver, kubelet_factory, component_factory, tmp_path):
    reason = _process_runtime_missing()
    if reason:
        pytest.skip(reason)
    c = Cluster(apiserver.url, tmp_path)
    for name, cidr in NODES.items():
        kubelet_factory(hostname=name, runtime="process",
                        extra_args=[f"--pod-cidr={cidr}", "--node-lease-renew-interval=0.5s",
                                    "--node-status-update-frequency=1s"])
    component_factory("scheduler", "--pod-initial-backoff=0.2", "--pod-max-backoff=1")
    manager = component_factory("controller-manager", "--node-monitor-grace-period=3s", "--node-monitor-period=0.5s")
    try:
        yield c
    finally:
        manager.stop()   # first, so no ReplicaSet replaces the pods deleted here
        for pod in c.get("/api/v1/pods")["items"]:
            meta = pod["metadata"]
            c.http.delete(f"{c.url}/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                          json={"gracePeriodSeconds": 0}, timeout=30)


def _deploy(c: Cluster) -> dict:
    return c.get(f"{DEPLOY}/web")


def test_deployment_lifecycle_with_kubectl(cluster):
    c = cluster
    assert "deployment.apps/web created" in c.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=3")
    deploy = _deploy(c)
    assert deploy["spec"]["strategy"] == {"type": "RollingUpdate",
                                          "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert deploy["spec"]["revisionHistoryLimit"] == 10 and deploy["spec"]["progressDeadlineSeconds"] == 600
    wait_for(lambda: len(c.running()) == 3, 60, "3 pods of web Running", progress=print)
    pods = c.running()
    assert {p["spec"]["nodeName"] for p in pods} == set(NODES)          # spread over both nodes
    rs = c.get(RS)["items"]
    assert len(rs) == 1
    rs_name = rs[0]["metadata"]["name"]
    template_hash = rs[0]["metadata"]["labels"]["pod-template-hash"]
    assert rs_name == f"web-{template_hash}" and rs[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    for pod in pods:
        ref = pod["metadata"]["ownerReferences"][0]
        assert ref["kind"] == "ReplicaSet" and ref["name"] == rs_name and ref["controller"] is True
        assert pod["metadata"]["name"].startswith(rs_name + "-") and len(pod["metadata"]["name"]) == len(rs_name) + 6
        assert {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": 300} in pod["spec"]["tolerations"]
    assert "successfully rolled out" in c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    table = c.kubectl("get", "deploy", "web")
    assert table.split("\n")[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table.split("\n")[1].split()[:4] == ["web", "3/3", "3", "3"]
    wide = c.kubectl("get", "deploy", "web", "-o", "wide").split("\n")
    assert wide[0].split()[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"] and wide[1].split()[5:] == ["nginx", "nginx", "app=web"]
    assert c.kubectl("get", "rs").split("\n")[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]

    # self-healing: a deleted pod is replaced
    victim = pods[0]["metadata"]["name"]
    c.kubectl("delete", "pod", victim, "--wait=false")
    wait_for(lambda: len(c.running()) == 3 and victim not in {p["metadata"]["name"] for p in c.running()}, 60,
             "a replacement pod Running", progress=print)

    # scale through the scale subresource
    assert "deployment.apps/web scaled" in c.kubectl("scale", "deployment", "web", "--replicas=5")
    wait_for(lambda: len(c.running()) == 5, 60, "5 pods Running", progress=print)
    scale = c.get(f"{DEPLOY}/web/scale")
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 5 and scale["status"]["selector"] == "app=web"

    # a rolling update to another image, and its history
    c.kubectl("set", "image", "deployment/web", "nginx=nginx:1.27")
    assert "successfully rolled out" in c.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
    pods = c.running()
    assert len(pods) == 5 and {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.27"}
    sets = {r["metadata"]["name"]: r for r in c.get(RS)["items"]}
    assert len(sets) == 2 and sets[rs_name]["spec"]["replicas"] == 0
    history = c.kubectl("rollout", "history", "deployment/web")
    assert "REVISION" in history and [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    assert _deploy(c)["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"

    # undo: back to the first template, which becomes revision 3
    assert "rolled back" in c.kubectl("rollout", "undo", "deployment/web")
    assert "successfully rolled out" in c.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
    pods = c.running()
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx"}
    assert c.get(f"{RS}/{rs_name}")["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    available = {x["type"]: x for x in _deploy(c)["status"]["conditions"]}
    assert available["Available"]["reason"] == "MinimumReplicasAvailable"
    assert available["Progressing"]["reason"] == "NewReplicaSetAvailable"

    # garbage collection: the Deployment's ReplicaSets and pods go with it
    c.kubectl("delete", "deployment", "web")
    wait_for(lambda: not c.get(RS)["items"] and not c.pods(), 60, "ReplicaSets and pods collected",
             progress=print)


def test_validation_of_deployments(apiserver):
    c = Cluster(apiserver.url, None)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
            "spec": {"selector": {"matchLabels": {"app": "x"}},
                     "template": {"metadata": {"labels": {"app": "y"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    r = c.http.post(apiserver.url + DEPLOY, json=body, timeout=30)
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["field"] == "spec.template.metadata.labels"
    assert "`selector` does not match template `labels`" in r.json()["message"]
    del body["spec"]["selector"]
    r = c.http.post(apiserver.url + DEPLOY, json=body, timeout=30)
    assert r.status_code == 422 and any(x["field"] == "spec.selector" for x in r.json()["details"]["causes"])
    body["spec"]["selector"] = {"matchLabels": {"app": "y"}}
    assert c.http.post(apiserver.url + DEPLOY, json=body, timeout=30).status_code == 201
    patch = {"spec": {"selector": {"matchLabels": {"app": "z"}}, "template": {"metadata": {"labels": {"app": "z"}}}}}
    r = c.http.patch(f"{apiserver.url}{DEPLOY}/bad", json=patch,
                     headers={"Content-Type": "application/merge-patch+json"}, timeout=30)
    assert r.status_code == 422 and "field is immutable" in r.json()["message"]
    r = c.http.patch(f"{apiserver.url}{DEPLOY}/bad/scale", json={"spec": {"replicas": -1}},
                     headers={"Content-Type": "application/merge-patch+json"}, timeout=30)
    assert r.status_code == 422
    assert c.get(f"{DEPLOY}/bad")["spec"]["replicas"] == 1 and c.get(f"{DEPLOY}/bad")["metadata"]["generation"] == 1
