"""Probes and init containers through the kubelet's pod sync: fake runtime, real API server.

The fake runtime's exec runs the probe's command on the host, so a probe
`test -e <file>` is steered by creating and removing that file.
"""
from __future__ import annotations

import pytest

from labserver.apiserver.printers import pod_cells
from labserver.lab.supervise.procs import wait_for

# One API server for the module: each test's pods go in its own namespace, bound to its own node
# (env.node, `node-<namespace>`), which only its kubelet runs.
pytestmark = pytest.mark.shared_apiserver


def busybox_pod(node: str, name: str, containers: list[dict], init: list[dict] | None = None, **spec) -> dict:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"nodeName": node, "containers": containers, **spec}}
    if init:
        pod["spec"]["initContainers"] = init
    return pod


def probe_file(path) -> dict:
    return {"exec": {"command": ["test", "-e", str(path)]}, "periodSeconds": 1, "failureThreshold": 1}


def test_readiness_probe_drives_ready_and_conditions(env, tmp_path):
    flag = tmp_path / "ready"
    env.create(busybox_pod(env.node, "r", [{"name": "app", "image": "busybox", "readinessProbe": probe_file(flag)}]))
    pod = env.wait_pod("r", lambda p: p["status"].get("phase") == "Running", "running")
    assert env.container_status(pod, "app")["ready"] is False
    conds = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conds["Ready"]["status"] == "False" and conds["ContainersReady"]["reason"] == "ContainersNotReady"
    assert pod_cells(pod)[0][1:3] == ["0/1", "Running"]
    flag.touch()
    pod = env.wait_pod("r", lambda p: env.container_status(p, "app")["ready"], "ready once the file exists", 10)
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"
    flag.unlink()
    env.wait_pod("r", lambda p: not env.container_status(p, "app")["ready"], "unready again", 10)


def test_liveness_failure_restarts_the_container_with_events(env, tmp_path):
    flag = tmp_path / "alive"
    flag.touch()
    env.create(busybox_pod(env.node, "l", [{"name": "app", "image": "busybox", "livenessProbe": probe_file(flag)}],
                           terminationGracePeriodSeconds=3))
    pod = env.wait_pod("l", lambda p: env.container_status(p, "app").get("started"), "started")
    first = env.container_status(pod, "app")["containerID"]
    flag.unlink()
    pod = env.wait_pod("l", lambda p: env.container_status(p, "app")["restartCount"] >= 1, "restarted", 15)
    status = env.container_status(pod, "app")
    assert status["containerID"] != first and status["lastState"]["terminated"]["startedAt"]
    flag.touch()   # healthy again: it stays up
    env.wait_pod("l", lambda p: env.container_status(p, "app").get("ready"), "running again", 15)
    assert (first.split("://")[1], 3.0) in env.runtime.stopped    # the pod's grace period
    wait_for(lambda: {"Unhealthy", "Killing"} <= {e["reason"] for e in env.events(pod)}, 10, "events")
    events = {e["reason"]: e for e in env.events(pod)}
    assert events["Killing"]["message"] == "Container app failed liveness probe, will be restarted"
    assert events["Unhealthy"]["message"] == "Liveness probe failed: "
    assert events["Unhealthy"]["type"] == "Warning"
    assert events["Killing"]["involvedObject"]["fieldPath"] == "spec.containers{app}"


def test_failed_startup_probe_restarts_the_container(env, tmp_path):
    probe = {**probe_file(tmp_path / "never"), "failureThreshold": 2}
    env.create(busybox_pod(env.node, "st", [{"name": "app", "image": "busybox", "startupProbe": probe}]))
    pod = env.wait_pod("st", lambda p: p["status"].get("containerStatuses")
                       and env.container_status(p, "app")["restartCount"] >= 1, "restarted", 15)
    assert not env.container_status(pod, "app")["started"] and not env.container_status(pod, "app")["ready"]
    wait_for(lambda: "Killing" in {e["reason"] for e in env.events(pod)}, 10, "Killing event")
    assert "Container app failed startup probe, will be restarted" in \
        {e["message"] for e in env.events(pod) if e["reason"] == "Killing"}


def test_init_containers_run_in_order_before_the_app(env):
    env.runtime.exit_on_start.update({"first": 0, "second": 0})
    init = [{"name": "first", "image": "busybox"}, {"name": "second", "image": "busybox"}]
    env.create(busybox_pod(env.node, "i", [{"name": "app", "image": "busybox"}], init))
    pod = env.wait_pod("i", lambda p: p["status"].get("phase") == "Running", "running")
    order = [c for p, c, _ in env.runtime.started if p == "i"]
    assert order == ["first", "second", "app"]
    inits = pod["status"]["initContainerStatuses"]
    assert [s["name"] for s in inits] == ["first", "second"]
    assert all(s["state"]["terminated"]["reason"] == "Completed" and s["ready"] and not s["started"] for s in inits)
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Initialized"] == "True"
    assert pod_cells(pod)[0][1:3] == ["1/1", "Running"]


def test_failing_init_container_is_retried_and_holds_the_app(env):
    env.runtime.exit_on_start.update({"first": 0, "second": 1})
    init = [{"name": "first", "image": "busybox"}, {"name": "second", "image": "busybox"}]
    env.create(busybox_pod(env.node, "f", [{"name": "app", "image": "busybox"}], init))
    pod = env.wait_pod("f", lambda p: any(s.get("restartCount", 0) >= 1 for s in
                                          p["status"].get("initContainerStatuses") or []), "init retried", 15)
    assert ("f", "app", 0) not in env.runtime.started
    assert pod["status"]["phase"] == "Pending"
    assert pod_cells(pod)[0][2] in ("Init:Error", "Init:CrashLoopBackOff")
    env.wait_pod("f", lambda p: pod_cells(p)[0][2] == "Init:CrashLoopBackOff", "Init:CrashLoopBackOff", 15)
    assert [c for p, c, _ in env.runtime.started if p == "f"].count("first") == 1, "a completed init is not rerun"


def test_failing_init_container_fails_a_never_restarting_pod(env):
    env.runtime.exit_on_start.update({"only": 2})
    env.create(busybox_pod(env.node, "n", [{"name": "app", "image": "busybox"}],
                           [{"name": "only", "image": "busybox"}], restartPolicy="Never"))
    pod = env.wait_pod("n", lambda p: p["status"].get("phase") == "Failed", "Failed")
    assert pod_cells(pod)[0][2] == "Init:Error"
    assert [c for p, c, _ in env.runtime.started if p == "n"] == ["only"]


def test_sidecar_keeps_running_beside_the_app(env):
    init = [{"name": "side", "image": "busybox", "restartPolicy": "Always"}]
    env.create(busybox_pod(env.node, "s", [{"name": "app", "image": "busybox"}], init))
    pod = env.wait_pod("s", lambda p: pod_cells(p)[0][1:3] == ["2/2", "Running"], "2/2 Running")
    side = pod["status"]["initContainerStatuses"][0]
    assert side["started"] and side["ready"] and "running" in side["state"]
    env.runtime.exit(env.runtime.running("s", "side").id, 1)
    env.wait_pod("s", lambda p: p["status"]["initContainerStatuses"][0]["restartCount"] == 1
                 and "running" in p["status"]["initContainerStatuses"][0]["state"], "sidecar restarted", 15)
    assert [c for p, c, _ in env.runtime.started if p == "s"].count("app") == 1


def test_sidecars_stop_when_the_app_has_finished(env):
    """restartPolicy Never: the app exits 0, the sidecar is stopped and the pod Succeeds (Completed)."""
    init = [{"name": "side", "image": "busybox", "restartPolicy": "Always"}]
    env.create(busybox_pod(env.node, "job", [{"name": "app", "image": "busybox"}], init, restartPolicy="Never"))
    env.wait_pod("job", lambda p: pod_cells(p)[0][1:3] == ["2/2", "Running"], "2/2 Running")
    env.runtime.exit(env.runtime.running("job", "app").id, 0)
    pod = env.wait_pod("job", lambda p: p["status"].get("phase") == "Succeeded", "Succeeded", 15)
    assert "terminated" in pod["status"]["initContainerStatuses"][0]["state"]
    assert pod_cells(pod)[0][1:3] == ["0/2", "Completed"]
    assert [c for p, c, _ in env.runtime.started if p == "job"] == ["side", "app"]


def test_sidecar_startup_probe_holds_the_next_init_container(env, tmp_path):
    flag = tmp_path / "started"
    env.runtime.exit_on_start.update({"after": 0})
    init = [{"name": "side", "image": "busybox", "restartPolicy": "Always",
             "startupProbe": {**probe_file(flag), "failureThreshold": 30}},
            {"name": "after", "image": "busybox"}]
    env.create(busybox_pod(env.node, "gate", [{"name": "app", "image": "busybox"}], init))
    pod = env.wait_pod("gate", lambda p: (p["status"].get("initContainerStatuses") or [{}])[0].get("state", {})
                       .get("running"), "sidecar running")
    assert not pod["status"]["initContainerStatuses"][0]["started"]
    assert pod_cells(pod)[0][2] == "Init:0/2"
    assert [c for p, c, _ in env.runtime.started if p == "gate"] == ["side"]
    flag.touch()
    env.wait_pod("gate", lambda p: pod_cells(p)[0][1:3] == ["2/2", "Running"], "2/2 Running once started", 15)
    assert [c for p, c, _ in env.runtime.started if p == "gate"] == ["side", "after", "app"]
