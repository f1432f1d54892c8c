"""Probes and init containers end to end: etcd, API server, `python -m labserver kubelet`, each runtime.

Real containers (Docker) or host processes (busybox), real probes (exec in the
container, HTTP against the pod IP), and the real kubectl reading the columns
the API server prints, compared with what a real cluster shows. No test here restarts
or stops a component, so the module shares them (tests/kubelet/shared_cluster.py): one
API server, one kubelet per runtime, each test in a namespace of its own whose pods are
deleted when it ends.
"""
from __future__ import annotations

import json
import re

import pytest

from labserver.lab.supervise.procs import free_port, wait_for
from shared_cluster import NamespacedCluster, cluster, module_kubelet, runtime_name  # noqa: F401  (fixtures)

pytestmark = pytest.mark.shared_apiserver


def row(cluster: NamespacedCluster, name: str) -> list[str]:
    """`kubectl get pods` cells of one pod: NAME READY STATUS RESTARTS AGE, cut at the header's columns."""
    lines = cluster.kubectl("get", "pods").splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], lines
    starts = [lines[0].index(h) for h in ("NAME", "READY", "STATUS", "RESTARTS", "AGE")]
    line = next((ln for ln in lines[1:] if ln.split()[0] == name), None)
    assert line is not None, lines
    return [line[a:b].strip() for a, b in zip(starts, starts[1:] + [len(line)])]


def wait_row(cluster: NamespacedCluster, name: str, ready: str, status: str, timeout: float = 30) -> list[str]:
    """Poll `kubectl get pods` until the pod shows READY and STATUS; the pod failing otherwise ends the wait."""
    return wait_for(lambda: (r := row(cluster, name))[1:3] == [ready, status] and r, timeout,
                    f"kubectl get pods: {name} {ready} {status}", interval=0.5)


def busybox(name: str, script: str, **fields) -> dict:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **fields}


def pod(cluster: NamespacedCluster, name: str, containers: list[dict], init: list[dict] | None = None,
        **spec) -> dict:
    """A pod of these containers (and init containers), on the cluster's node."""
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": cluster.node, "containers": containers, "terminationGracePeriodSeconds": 2,
                     **spec}}
    if init:
        body["spec"]["initContainers"] = init
    return body


def events(cluster: NamespacedCluster, name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for e in cluster.events(cluster.pod(name)):
        found.setdefault(e["reason"], []).append(e["message"])
    return found


def test_readiness_probe_holds_ready_until_a_file_appears(cluster):
    probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}
    cluster.create(pod(cluster, "ready", [busybox("app", "sleep 3600", readinessProbe=probe)]))
    cluster.wait_pod("ready", lambda p: p["status"].get("phase") == "Running", "Running")
    wait_for(lambda: "Unhealthy" in events(cluster, "ready"), 20, "a failed readiness probe")
    assert row(cluster, "ready")[1:4] == ["0/1", "Running", "0"]
    ready = {c["type"]: c["status"] for c in cluster.pod("ready")["status"]["conditions"]}
    assert ready["Ready"] == ready["ContainersReady"] == "False"
    message = events(cluster, "ready")["Unhealthy"][0]
    assert message.startswith("Readiness probe failed: cat: ") and "/tmp/ready" in message, message
    cluster.kubectl("exec", "ready", "--", "touch", "/tmp/ready")
    wait_row(cluster, "ready", "1/1", "Running", 15)
    described = cluster.kubectl("describe", "pod", "ready")
    assert re.search(r"Readiness:\s+exec \[cat /tmp/ready\] delay=0s timeout=1s period=1s successThreshold=1 failureThreshold=3",
                     described), described
    assert "Warning  Unhealthy" in described.split("Events:")[1], described


def test_liveness_probe_restarts_a_container_that_stops_answering(cluster):
    port = free_port()
    script = (f"mkdir -p /tmp/www && echo ok > /tmp/www/healthz && "
              f"httpd -f -p 0.0.0.0:{port} -h /tmp/www & sleep 3; kill $!; sleep 3600")
    probe = {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 1, "failureThreshold": 2}
    cluster.create(pod(cluster, "live", [busybox("app", script, livenessProbe=probe)]))
    first = cluster.wait_pod("live", lambda p: p["status"].get("phase") == "Running", "Running")
    ip = first["status"]["podIP"]
    restarted = cluster.wait_pod("live", lambda p: cluster.container_status(p, "app")["restartCount"] >= 1,
                                 "restarted by the liveness probe", 30)
    status = cluster.container_status(restarted, "app")
    assert status["lastState"]["terminated"]["containerID"] == cluster.container_status(first, "app")["containerID"]
    wait_for(lambda: "Killing" in events(cluster, "live"), 10, "Killing event")
    found = events(cluster, "live")
    assert "Container app failed liveness probe, will be restarted" in found["Killing"]
    assert (f'Liveness probe failed: Get "http://{ip}:{port}/healthz": dial tcp {ip}:{port}: '
            f"connect: connection refused") in found["Unhealthy"], found["Unhealthy"]
    cells = row(cluster, "live")
    assert cells[3].startswith(("1 (", "2 (", "3 (")) and cells[3].endswith(" ago)"), cells


def test_init_containers_run_in_order_before_the_app(cluster):
    """Two init containers, each waiting for a go-file in the shared emptyDir, then append to it in order."""
    volume = [{"name": "work", "mountPath": "/work"}]
    init = [busybox("first", "until [ -e /work/go1 ]; do sleep 0.2; done; echo first >> /work/order",
                    volumeMounts=volume),
            busybox("second", "until [ -e /work/go2 ]; do sleep 0.2; done; echo second >> /work/order",
                    volumeMounts=volume)]
    app = busybox("app", "cat /work/order; sleep 3600", volumeMounts=volume)
    created = cluster.create(pod(cluster, "init", [app], init, volumes=[{"name": "work", "emptyDir": {}}]))
    wait_row(cluster, "init", "0/1", "Init:0/2")
    work = cluster.volume_dir(created["metadata"]["uid"], "work")
    p = cluster.pod("init")
    assert p["status"]["phase"] == "Pending"
    assert cluster.container_status(p, "app")["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert {c["type"]: c.get("reason") for c in p["status"]["conditions"]}["Initialized"] == "ContainersNotInitialized"
    (work / "go1").touch()
    wait_row(cluster, "init", "0/1", "Init:1/2")
    assert not (work / "order").exists() or (work / "order").read_text() == "first\n"
    (work / "go2").touch()
    wait_row(cluster, "init", "1/1", "Running")
    wait_for(lambda: cluster.kubectl("logs", "init") == "first\nsecond\n", 10, "the app saw both lines in order")
    statuses = cluster.pod("init")["status"]["initContainerStatuses"]
    assert [(s["name"], s["state"]["terminated"]["reason"], s["ready"]) for s in statuses] == \
        [("first", "Completed", True), ("second", "Completed", True)]


def test_failing_init_container_shows_init_error_and_crash_loop(cluster):
    """Retried (restartPolicy Always): Init:CrashLoopBackOff; not retried (Never): Init:Error and Failed."""
    cluster.create(pod(cluster, "broken", [busybox("app", "sleep 3600")], [busybox("setup", "echo no; exit 3")]))
    cluster.create(pod(cluster, "once", [busybox("app", "sleep 3600")], [busybox("setup", "exit 3")],
                       restartPolicy="Never"))
    wait_row(cluster, "broken", "0/1", "Init:CrashLoopBackOff", 40)
    p = cluster.pod("broken")
    assert p["status"]["phase"] == "Pending" and "running" not in cluster.container_status(p, "app")["state"]
    setup = p["status"]["initContainerStatuses"][0]
    assert setup["lastState"]["terminated"]["exitCode"] == 3 and setup["restartCount"] >= 1, (json.dumps(setup), events(cluster, "broken"))
    assert "Back-off restarting failed container setup in pod" in " ".join(events(cluster, "broken")["BackOff"])
    wait_row(cluster, "once", "0/1", "Init:Error")
    once = cluster.pod("once")
    assert once["status"]["phase"] == "Failed"
    assert once["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_sidecar_runs_beside_the_app(cluster):
    init = [busybox("side", "sleep 3600", restartPolicy="Always")]
    cluster.create(pod(cluster, "sidecar", [busybox("app", "sleep 3600")], init))
    wait_row(cluster, "sidecar", "2/2", "Running")
    side = cluster.pod("sidecar")["status"]["initContainerStatuses"][0]
    assert side["started"] and side["ready"] and "running" in side["state"]
