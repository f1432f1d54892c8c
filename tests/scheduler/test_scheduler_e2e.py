"""A pod with no node runs: scheduler and two real kubelets side by side on one machine.

Two `python -m labserver kubelet` processes (node-1, node-2), each with its own
root dir, port and pod CIDR, and the scheduler. With the process runtime a
pod's IP comes from its node's CIDR (127.1.0.x on node-1, 127.2.0.x on
node-2; under xdist the worker's own block, pod_ranges.py), so the IP says where it runs. With Docker both share one engine.
"""
from __future__ import annotations

import ipaddress
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from kubernetes import client as k8s

from scheduler_testing import PODS
from labserver.lab.supervise.procs import free_port, wait_for
from pod_ranges import pod_cidr
from runtimes_available import runtime_skip

KUBECTL = str(Path(sys.executable).parent / "kubectl")
CIDRS = {"node-1": pod_cidr(1), "node-2": pod_cidr(2)}   # this xdist worker's own
START = 60


@pytest.fixture(params=["process", "docker"])
def two_nodes(request, api, apiserver, kubelet_factory, scheduler):
    """Two kubelets and the scheduler; every pod deleted (and gone) before the kubelets stop."""
    reason = runtime_skip(request.param)
    if reason:
        pytest.skip(reason)
    for name, cidr in CIDRS.items():
        kubelet_factory(hostname=name, runtime=request.param, extra_args=[f"--pod-cidr={cidr}"])
    wait_for(lambda: all(_ready(api, n) for n in CIDRS), 30, "both nodes Ready", progress=print)
    yield request.param
    for pod in api.get(PODS).json()["items"]:
        api.delete(f"{PODS}/{pod['metadata']['name']}", json={"gracePeriodSeconds": 1})
    wait_for(lambda: not api.get(PODS).json()["items"], 60, "pods deleted", progress=print)


def _ready(api, node: str) -> bool:
    r = api.get(f"/api/v1/nodes/{node}")
    return r.ok and any(c["type"] == "Ready" and c["status"] == "True" for c in r.json()["status"]["conditions"])


def _running(api, name: str) -> dict:
    pod = api.get(f"{PODS}/{name}").json()
    return pod if pod["status"].get("phase") == "Running" and pod["status"].get("podIP") else None


def test_python_client_pod_without_node_runs(api, apiserver, two_nodes):
    """The official client's e2e flow: create a pod with no node, wait for Running; its IP says its node."""
    config = k8s.Configuration(host=apiserver.url)
    with k8s.ApiClient(config) as api_client:
        core = k8s.CoreV1Api(api_client)
        body = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="busybox-test"), spec=k8s.V1PodSpec(containers=[
            k8s.V1Container(name="busybox", image="busybox", command=["sh", "-c", "sleep 3600"])]))
        created = core.create_namespaced_pod("default", body)
        assert created.spec.node_name is None and created.status.phase == "Pending"
        deadline = time.monotonic() + START
        while (pod := core.read_namespaced_pod("busybox-test", "default")).status.phase != "Running":
            assert time.monotonic() < deadline, f"not Running after {START}s: {pod.status}"
            time.sleep(0.2)
        assert pod.spec.node_name in CIDRS
        assert any(c.type == "PodScheduled" and c.status == "True" for c in pod.status.conditions)
        if two_nodes == "process":
            assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(CIDRS[pod.spec.node_name])


def _page(url: str) -> bool:
    try:
        return "Welcome to nginx!" in requests.get(url, timeout=5).text
    except requests.ConnectionError:
        return False


def test_kubectl_run_nginx_ends_running(api, apiserver, two_nodes):
    """`kubectl run nginx --image=nginx` is Running (and serving) with no nodeName given."""
    out = subprocess.run([KUBECTL, f"--server={apiserver.url}", "run", "nginx", "--image=nginx"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "pod/nginx created", out.stderr
    pod = wait_for(lambda: _running(api, "nginx"), START, "nginx Running", progress=print)
    # Running is the container started, not nginx listening yet (the pod has no readiness probe)
    wait_for(lambda: _page(f"http://{pod['status']['podIP']}/"), 15, "nginx's welcome page on the pod IP")
    described = subprocess.run([KUBECTL, f"--server={apiserver.url}", "describe", "pod", "nginx"],
                               capture_output=True, text=True, timeout=60).stdout
    assert f"Successfully assigned default/nginx to {pod['spec']['nodeName']}" in described


def test_pods_spread_over_both_kubelets(api, two_nodes):
    """Four pods of one app: two on each node, each running with an IP from its own node's CIDR."""
    for i in range(4):
        r = api.post(PODS, json={"apiVersion": "v1", "kind": "Pod",
                                 "metadata": {"name": f"spread-{i}", "labels": {"app": "spread"}},
                                 "spec": {"containers": [{"name": "c", "image": "busybox",
                                                          "command": ["sh", "-c", "sleep 3600"]}]}})
        assert r.status_code == 201, r.text
    pods = [wait_for(lambda i=i: _running(api, f"spread-{i}"), START, f"spread-{i} Running") for i in range(4)]
    by_node = sorted(p["spec"]["nodeName"] for p in pods)
    assert by_node == ["node-1", "node-1", "node-2", "node-2"]
    if two_nodes == "process":
        for p in pods:
            net = ipaddress.ip_network(CIDRS[p["spec"]["nodeName"]])
            assert ipaddress.ip_address(p["status"]["podIP"]) in net, (p["metadata"]["name"], p["status"]["podIP"])
    else:
        assert len({p["status"]["podIP"] for p in pods}) == 4


def test_a_second_process_kubelet_with_an_overlapping_pod_cidr_refuses_to_start(api, apiserver, kubelet_factory,
                                                                               tmp_path):
    """Two kubelets handing out the same pod IPs would collide: the second says so in one line and exits 1."""
    reason = runtime_skip("process")
    if reason:
        pytest.skip(reason)
    kubelet_factory(hostname="node-1", runtime="process", extra_args=["--pod-cidr=127.1.0.0/24"])
    wait_for(lambda: _ready(api, "node-1"), 30, "node-1 Ready")
    out = subprocess.run([sys.executable, "-m", "labserver", "kubelet", f"--api-servers={apiserver.url}",
                          "--hostname-override=node-2", f"--root-dir={tmp_path / 'node-2'}", "--runtime=process",
                          f"--port={free_port()}", "--pod-cidr=127.1.0.0/16"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        "kubelet: --pod-cidr=127.1.0.0/16 overlaps node node-1 (127.1.0.0/24): give each kubelet on this machine "
        "its own range (e.g. --pod-cidr=127.2.0.0/24)")
    assert not api.get("/api/v1/nodes/node-2").ok
