"""Pod status computed from runtime container states (pure functions, no server)."""
from __future__ import annotations

import pytest

from labserver.kubelet.runtime import ContainerState, PodRef
from labserver.kubelet.status_manager import Waiting, container_status, pod_phase, pod_status

POD = {"metadata": {"name": "nginx", "namespace": "default", "uid": "u1"},
       "spec": {"restartPolicy": "Always", "containers": [{"name": "nginx", "image": "nginx"},
                                                          {"name": "log-truncator", "image": "busybox"}]},
       "status": {"phase": "Pending", "qosClass": "BestEffort"}}
REF = PodRef("default", "nginx", "u1")


def state(name="nginx", st="running", code=None, restarts=0, cid="abc"):
    return ContainerState(id=cid, name=name, pod=REF, image="nginx", image_id="docker-pullable://nginx@sha256:1",
                          state=st, restart_count=restarts, started_at="2026-01-01T00:00:00Z",
                          finished_at="2026-01-01T00:00:05Z" if st == "exited" else None, exit_code=code)


def test_running_container_is_ready_with_runtime_container_id():
    """A running container is ready and started, with `<runtime>://<id>` and startedAt."""
    st = container_status({"name": "nginx", "image": "nginx"}, state(), None, None, "docker")
    assert st["ready"] is True and st["started"] is True
    assert st["containerID"] == "docker://abc"
    assert st["state"] == {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    assert st["imageID"] == "docker-pullable://nginx@sha256:1" and st["restartCount"] == 0


def test_not_started_container_is_creating():
    """Before the first start a container is Waiting/ContainerCreating, not ready."""
    st = container_status({"name": "nginx", "image": "nginx"}, None, None, None, "docker")
    assert st["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert st["ready"] is False and st["imageID"] == "" and "containerID" not in st


def test_crashloop_keeps_last_termination():
    """A container held in back-off shows CrashLoopBackOff and its last termination."""
    st = container_status({"name": "nginx", "image": "nginx"}, state(st="exited", code=1, restarts=2), None,
                          Waiting("CrashLoopBackOff", "back-off 20s"), "process")
    assert st["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert st["lastState"]["terminated"]["exitCode"] == 1
    assert st["lastState"]["terminated"]["reason"] == "Error"
    assert st["restartCount"] == 2


def test_restarted_container_has_previous_as_last_state():
    """After a restart, lastState holds the previous attempt's termination."""
    prev = state(st="exited", code=137, cid="old")
    st = container_status({"name": "nginx", "image": "nginx"}, state(restarts=1, cid="new"), prev, None, "docker")
    assert st["state"]["running"] and st["restartCount"] == 1
    assert st["lastState"]["terminated"]["containerID"] == "docker://old"


@pytest.mark.parametrize("states,policy,phase", [
    ([{"waiting": {}}, {"running": {}}], "Always", "Pending"),
    ([{"running": {}}, {"running": {}}], "Always", "Running"),
    ([{"terminated": {"exitCode": 0}}, {"terminated": {"exitCode": 0}}], "Never", "Succeeded"),
    ([{"terminated": {"exitCode": 0}}, {"terminated": {"exitCode": 1}}], "Never", "Failed"),
    ([{"terminated": {"exitCode": 0}}, {"terminated": {"exitCode": 1}}], "OnFailure", "Running"),
    ([{"terminated": {"exitCode": 0}}], "Always", "Running"),
    ([{"terminated": {"exitCode": 0}}, {"running": {}}], "Never", "Running"),
])
def test_phase_follows_upstream_get_phase(states, policy, phase):
    """pod_phase matches kubelet_pods.go getPhase for each restartPolicy."""
    assert _phase([{"state": s, "lastState": {}} for s in states], policy) == phase


def _phase(statuses: list[dict], policy: str) -> str:
    """pod_phase of a pod with one app container per status, named c0, c1, ..."""
    named = [{**st, "name": f"c{i}"} for i, st in enumerate(statuses)]
    spec = {"restartPolicy": policy, "containers": [{"name": st["name"]} for st in named]}
    return pod_phase(spec, named)


def test_container_without_status_keeps_the_pod_pending():
    """An app container the runtime has not reported yet is unknown: the pod is not Running."""
    spec = {"containers": [{"name": "a"}, {"name": "b"}]}
    assert pod_phase(spec, [{"name": "a", "state": {"running": {}}}]) == "Pending"


def test_crashlooping_container_counts_as_stopped():
    """A waiting container with a last termination does not make the pod Pending."""
    statuses = [{"state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1}}}, {"state": {"running": {}}, "lastState": {}}]
    assert _phase(statuses, "Always") == "Running"


def test_pod_status_ready_conditions_ips_and_kept_fields():
    """Both containers running: Running, Ready/ContainersReady True, IPs set, qosClass and startTime kept."""
    specs = POD["spec"]["containers"]
    statuses = [container_status(specs[0], state(), None, None, "docker"),
                container_status(specs[1], state("log-truncator", cid="def"), None, None, "docker")]
    old = {"qosClass": "BestEffort", "startTime": "2025-01-01T00:00:00Z"}
    status = pod_status(POD, statuses, "10.0.0.1", "172.17.0.2", old)
    conds = {c["type"]: c for c in status["conditions"]}
    assert status["phase"] == "Running"
    assert {"PodScheduled", "Initialized", "ContainersReady", "Ready"} <= set(conds)
    assert all(conds[t]["status"] == "True" for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready"))
    assert all(c["lastProbeTime"] is None and c["lastTransitionTime"] for c in status["conditions"])
    assert status["podIP"] == "172.17.0.2" and status["podIPs"] == [{"ip": "172.17.0.2"}]
    assert status["hostIP"] == "10.0.0.1" and status["hostIPs"] == [{"ip": "10.0.0.1"}]
    assert status["qosClass"] == "BestEffort" and status["startTime"] == "2025-01-01T00:00:00Z"


def test_unready_pod_names_the_unready_containers_and_keeps_transition_time():
    """One container not running: Ready False naming it; an unchanged condition keeps its transition time."""
    specs = POD["spec"]["containers"]
    statuses = [container_status(specs[0], state(), None, None, "docker"),
                container_status(specs[1], None, None, None, "docker")]
    old = {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
    status = pod_status(POD, statuses, "10.0.0.1", "172.17.0.2", old)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert status["phase"] == "Pending"
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [log-truncator]"
    assert ready["lastTransitionTime"] == "2020-01-01T00:00:00Z"


def test_status_patch_replaces_lists_so_no_earlier_state_survives():
    """The kubelet's one strategic-merge PATCH: waiting -> running leaves no `waiting`, other fields stay."""
    import json
    from labserver.apiserver.patch import apply_patch
    from labserver.kubelet.status_manager import status_patch
    creating = pod_status(POD, [container_status(c, None, None, None, "docker") for c in POD["spec"]["containers"]],
                          "127.0.0.1", None, POD["status"])
    stored = {**POD, "status": {**creating, "nominatedNodeName": "kept"}}
    running = pod_status(POD, [container_status(c, state(c["name"]), None, None, "docker")
                               for c in POD["spec"]["containers"]], "127.0.0.1", "10.1.0.5", creating)
    body = status_patch("u1", running)
    assert body["metadata"] == {"uid": "u1"}
    patched = apply_patch(stored, json.dumps(body).encode(), "application/strategic-merge-patch+json")
    assert patched["status"] == {**running, "nominatedNodeName": "kept"}
    assert all(set(s["state"]) == {"running"} for s in patched["status"]["containerStatuses"])
