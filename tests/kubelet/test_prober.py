"""Probe logic without processes: handlers, thresholds, startup gating, and what the status says.

The runtime is the fake one with a scripted exec (no process is started); the
HTTP and TCP handlers talk to a real server thread on loopback.
"""
from __future__ import annotations

import datetime
import http.server
import threading

import pytest

from fake_runtime import FakeRuntime
from labserver.apiserver.printers import pod_cells
from labserver.kubelet import timefmt
from labserver.kubelet.prober import (FAILURE, SUCCESS, ProbeManager, ProbeSpec, http_probe, run_probe,
                                      tcp_probe)
from labserver.kubelet.runtime import ContainerState, PodRef, RuntimeError_
from labserver.kubelet.status_manager import container_status, pod_phase, pod_status
from labserver.kubelet.streams import STDOUT, StreamSession
from labserver.lab.supervise.procs import free_port, wait_for


class ScriptedExec(StreamSession):
    """An exec that 'ran' already: its output and exit code come from the test."""

    def __init__(self, code: int, output: bytes):
        super().__init__()
        self.code = code
        chunks = [(STDOUT, output)] if output else []
        self.pump(lambda: chunks.pop(0) if chunks else None)

    def wait(self, timeout):
        return self.code

    def kill(self):
        pass


class HangingExec(StreamSession):
    """An exec that never ends (until killed)."""

    def __init__(self):
        super().__init__()
        self.killed = threading.Event()
        self.pump(lambda: (self.killed.wait(), None)[1])

    def wait(self, timeout):
        return None

    def kill(self):
        self.killed.set()


class ProbeRuntime(FakeRuntime):
    """Exec answers from `answers[command[0]]` (exit code, output) and is counted per command."""

    def __init__(self, root):
        super().__init__(root)
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.calls: dict[str, int] = {}

    def exec(self, container_id, command, tty, stdin):
        self.calls[command[0]] = self.calls.get(command[0], 0) + 1
        if command[0] == "hang":
            return HangingExec()
        if command[0] == "gone":
            raise RuntimeError_(f"container {container_id} is not running", "NotFound")
        return ScriptedExec(*self.answers.get(command[0], (1, b"no answer\n")))


class Recorder:
    def __init__(self):
        self.events: list[tuple[str, str, str]] = []

    def event(self, pod, type_, reason, message, container=None):
        self.events.append((reason, message, container))


def exec_probe_spec(cmd: str, **fields) -> dict:
    return {"exec": {"command": [cmd]}, "periodSeconds": 1, **fields}


def make_pod(**probes) -> dict:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"containers": [{"name": "app", "image": "busybox", **probes}]}}


def running(cid: str = "c1", started_ago: float = 0.0) -> ContainerState:
    started = timefmt.rfc3339(timefmt.now() - datetime.timedelta(seconds=started_ago))
    return ContainerState(id=cid, name="app", pod=PodRef("default", "p", "u1"), image="busybox",
                          image_id="fake://busybox", state="running", started_at=started)


@pytest.fixture
def probes(tmp_path):
    runtime = ProbeRuntime(tmp_path)
    recorder = Recorder()
    changes = []
    manager = ProbeManager(runtime, recorder, on_change=changes.append)
    manager.changes = changes
    yield manager
    manager.stop()


def test_probe_defaults_are_upstreams():
    spec = ProbeSpec.from_v1({"httpGet": {"port": 80}})
    assert (spec.initial_delay, spec.period, spec.timeout, spec.success_threshold, spec.failure_threshold) == \
        (0, 10, 1, 1, 3)
    spec = ProbeSpec.from_v1({"tcpSocket": {"port": 80}, "periodSeconds": 2, "failureThreshold": 5,
                              "initialDelaySeconds": 4, "timeoutSeconds": 3, "successThreshold": 2})
    assert (spec.initial_delay, spec.period, spec.timeout, spec.success_threshold, spec.failure_threshold) == \
        (4, 2, 3, 2, 5)


def test_readiness_gates_ready_until_the_probe_succeeds(probes):
    """Readiness starts false, turns true on success, false again after a failure; each failure is an event."""
    pod = make_pod(readinessProbe=exec_probe_spec("cat", failureThreshold=1))
    probes.runtime.answers["cat"] = (1, b"cat: can't open '/tmp/ready': No such file or directory\n")
    state = running()
    probes.update(pod, {"app": state}, "127.1.0.2")
    wait_for(lambda: probes.runtime.calls.get("cat", 0) >= 1, 5, "first readiness probe")
    assert not probes.ready("u1", "app", "c1") and probes.started("u1", "app", "c1")
    status = probes.container_status("u1", container_status(pod["spec"]["containers"][0], state, None, None, "fake"),
                                     state, regular_init=False)
    assert status["started"] is True and status["ready"] is False
    probes.runtime.answers["cat"] = (0, b"")
    wait_for(lambda: probes.ready("u1", "app", "c1"), 5, "ready after the file appeared")
    assert "u1" in probes.changes
    probes.runtime.answers["cat"] = (1, b"gone\n")
    wait_for(lambda: not probes.ready("u1", "app", "c1"), 5, "unready again")
    unhealthy = [e for e in probes.recorder.events if e[0] == "Unhealthy"]
    assert ("Unhealthy", "Readiness probe failed: cat: can't open '/tmp/ready': No such file or directory\n",
            "app") in unhealthy


def test_liveness_fails_after_failure_threshold_and_a_new_attempt_starts_over(probes):
    pod = make_pod(livenessProbe=exec_probe_spec("check", failureThreshold=2))
    probes.runtime.answers["check"] = (1, b"")
    probes.update(pod, {"app": running("c1")}, "127.1.0.2")
    wait_for(lambda: probes.runtime.calls.get("check", 0) >= 1, 5, "first liveness probe")
    assert probes.failed("u1", "app", "c1") is None  # one failure is below the threshold
    wait_for(lambda: probes.failed("u1", "app", "c1") == "liveness", 5, "liveness failure")
    assert probes.runtime.calls["check"] == 2
    worker = probes._workers[("u1", "app", "Liveness")]
    assert worker.on_hold
    steps = worker.steps
    worker.trigger.set()
    wait_for(lambda: worker.steps > steps, 5, "the worker looked again")
    assert probes.runtime.calls["check"] == 2, "a failed container is not probed again"
    probes.runtime.answers["check"] = (0, b"")
    probes.update(pod, {"app": running("c2")}, "127.1.0.2")
    assert probes.failed("u1", "app", "c2") is None
    wait_for(lambda: probes.runtime.calls["check"] >= 3, 5, "the new attempt probed")
    assert probes.failed("u1", "app", "c2") is None


def test_exec_timeout_fails_and_an_exec_error_keeps_the_result(probes):
    pod = make_pod(livenessProbe=exec_probe_spec("hang", failureThreshold=1),
                   readinessProbe=exec_probe_spec("gone"))
    probes.update(pod, {"app": running()}, "127.1.0.2")
    wait_for(lambda: probes.failed("u1", "app", "c1") == "liveness", 5, "liveness failed by timing out")
    messages = {m for r, m, _ in probes.recorder.events}
    assert 'Liveness probe failed: command timed out: "hang" timed out after 1s' in messages
    wait_for(lambda: "Readiness probe errored and resulted in unknown state: container c1 is not running"
             in {m for r, m, _ in probes.recorder.events}, 5, "errored readiness probe")
    assert not probes.ready("u1", "app", "c1")   # still its initial Failure


def test_startup_probe_gates_liveness_and_readiness(probes):
    pod = make_pod(startupProbe=exec_probe_spec("startup", failureThreshold=30),
                   livenessProbe=exec_probe_spec("live"), readinessProbe=exec_probe_spec("ready"))
    probes.runtime.answers.update({"startup": (1, b"not yet"), "live": (0, b""), "ready": (0, b"")})
    probes.update(pod, {"app": running()}, "127.1.0.2")
    wait_for(lambda: probes.runtime.calls.get("startup", 0) >= 2, 5, "startup probes")
    assert not probes.started("u1", "app", "c1") and not probes.ready("u1", "app", "c1")
    assert "live" not in probes.runtime.calls and "ready" not in probes.runtime.calls
    probes.runtime.answers["startup"] = (0, b"")
    # liveness and readiness each have their own worker: once started, both run, in either order
    wait_for(lambda: probes.ready("u1", "app", "c1") and probes.runtime.calls.get("live", 0) >= 1, 5,
             "ready, and a liveness probe run")
    assert probes.started("u1", "app", "c1")


def test_initial_delay_holds_the_first_probe(probes):
    pod = make_pod(readinessProbe=exec_probe_spec("late", initialDelaySeconds=30))
    probes.update(pod, {"app": running()}, "127.1.0.2")
    worker = probes._workers[("u1", "app", "Readiness")]
    wait_for(lambda: worker.steps >= 1, 5, "the worker's first look")
    assert "late" not in probes.runtime.calls and not probes.ready("u1", "app", "c1")
    assert 28 < worker.delay <= 30, "it waits for the rest of the initial delay"
    pod2 = make_pod(readinessProbe=exec_probe_spec("early", initialDelaySeconds=3))
    pod2["metadata"]["uid"] = "u2"
    probes.runtime.answers["early"] = (0, b"")
    probes.update(pod2, {"app": running("c9", started_ago=5)}, "127.1.0.2")
    wait_for(lambda: probes.ready("u2", "app", "c9"), 5, "probed at once: the delay is over")


def test_a_pod_without_probes_starts_no_worker_and_is_ready_at_once(probes):
    pod = make_pod()
    state = running()
    probes.update(pod, {"app": state}, "127.1.0.2")
    assert not probes._workers and not probes._pods
    status = probes.container_status("u1", container_status(pod["spec"]["containers"][0], state, None, None, "fake"),
                                     state, regular_init=False)
    assert status["ready"] is True and status["started"] is True


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/healthz")
            self.end_headers()
            return
        code = 200 if self.path == "/healthz" else 500
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def web():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_http_probe_results_and_upstream_messages(web):
    assert http_probe(f"http://127.0.0.1:{web}/healthz", {}, 1)[0] == SUCCESS
    assert http_probe(f"http://127.0.0.1:{web}/moved", {}, 1)[0] == SUCCESS
    assert http_probe(f"http://127.0.0.1:{web}/broken", {}, 1) == (FAILURE, "HTTP probe failed with statuscode: 500")
    port = free_port()
    assert http_probe(f"http://127.0.0.1:{port}/healthz", {}, 1) == (
        FAILURE, f'Get "http://127.0.0.1:{port}/healthz": dial tcp 127.0.0.1:{port}: connect: connection refused')


def test_tcp_probe_and_named_ports(web):
    assert tcp_probe("127.0.0.1", web, 1) == (SUCCESS, "")
    port = free_port()
    assert tcp_probe("127.0.0.1", port, 1) == (FAILURE, f"dial tcp 127.0.0.1:{port}: connect: connection refused")
    container = {"name": "app", "ports": [{"name": "http", "containerPort": web}]}
    spec = ProbeSpec.from_v1({"httpGet": {"port": "http", "path": "healthz"}})
    assert run_probe(None, spec, container, running(), "127.0.0.1")[0] == SUCCESS
    spec = ProbeSpec.from_v1({"tcpSocket": {"port": "nope"}})
    assert run_probe(None, spec, container, running(), "127.0.0.1") == ("Unknown", 'strconv.Atoi: parsing "nope": invalid syntax')


# -- init containers in the status and in kubectl's STATUS column ---------------------------------

INIT_POD = {"metadata": {"name": "init-demo", "namespace": "default", "uid": "u3",
                         "creationTimestamp": timefmt.rfc3339()},
            "spec": {"restartPolicy": "Always",
                     "initContainers": [{"name": "first", "image": "busybox"}, {"name": "second", "image": "busybox"}],
                     "containers": [{"name": "app", "image": "busybox"}]}}


def _status(name, state=None, exit_code=None, waiting=None, last_exit=None, regular_init=True):
    cur = None
    if state:
        cur = ContainerState(id=f"id-{name}", name=name, pod=PodRef("default", "init-demo", "u3"), image="busybox",
                             image_id="x", state=state, exit_code=exit_code, started_at=timefmt.rfc3339(),
                             finished_at=timefmt.rfc3339() if state == "exited" else None,
                             reason=None if exit_code is None else ("Completed" if exit_code == 0 else "Error"))
    prev = None
    if last_exit is not None:
        prev = ContainerState(id="old", name=name, pod=cur.pod if cur else None, image="busybox", image_id="x",
                              state="exited", exit_code=last_exit, reason="Error", started_at=timefmt.rfc3339(),
                              finished_at=timefmt.rfc3339())
    from labserver.kubelet.status_manager import Waiting
    st = container_status({"name": name, "image": "busybox"}, cur, prev, Waiting(waiting) if waiting else None, "fake")
    if cur is None and waiting is None:
        st["state"] = {"waiting": {"reason": "PodInitializing"}}
    if regular_init:
        term = st["state"].get("terminated")
        st["ready"] = bool(term) and term["exitCode"] == 0
        st["started"] = "running" in st["state"]
    return st


def _row(init, app):
    status = pod_status(INIT_POD, app, "127.0.0.1", "127.1.0.9", None, init)
    pod = {**INIT_POD, "status": status}
    cells, _ = pod_cells(pod)
    return status, cells[1], cells[2]


@pytest.mark.parametrize("init,app,phase,ready,column,initialized", [
    ([("first", None, None, None, None), ("second", None, None, None, None)], None,
     "Pending", "0/1", "Init:0/2", False),
    ([("first", "exited", 0, None, None), ("second", "running", None, None, None)], None,
     "Pending", "0/1", "Init:1/2", False),
    ([("first", "exited", 1, None, None), ("second", None, None, None, None)], None,
     "Pending", "0/1", "Init:Error", False),
    ([("first", "exited", 1, "CrashLoopBackOff", None), ("second", None, None, None, None)], None,
     "Pending", "0/1", "Init:CrashLoopBackOff", False),
    ([("first", "exited", 0, None, None), ("second", "exited", 0, None, None)], None,
     "Pending", "0/1", "PodInitializing", True),
    ([("first", "exited", 0, None, None), ("second", "exited", 0, None, None)], "running",
     "Running", "1/1", "Running", True),
])
def test_init_container_status_and_kubectl_column(init, app, phase, ready, column, initialized):
    init_statuses = [_status(n, s, code, w, last) for n, s, code, w, last in init]
    app_status = _status("app", app, regular_init=False)
    status, ready_cell, status_cell = _row(init_statuses, [app_status])
    conds = {c["type"]: c for c in status["conditions"]}
    assert (status["phase"], ready_cell, status_cell) == (phase, ready, column)
    assert (conds["Initialized"]["status"] == "True") is initialized
    if not initialized:
        assert conds["Initialized"]["reason"] == "ContainersNotInitialized"
        assert conds["Initialized"]["message"].startswith("containers with incomplete status: [")
    assert status["initContainerStatuses"] == init_statuses


def test_failed_init_container_fails_a_never_restarting_pod():
    spec = {**INIT_POD["spec"], "restartPolicy": "Never"}
    init = [_status("first", "exited", 1), _status("second")]
    assert pod_phase(spec, [_status("app", regular_init=False)], init) == "Failed"


def test_sidecar_counts_for_readiness_and_total():
    spec = {"restartPolicy": "Always",
            "initContainers": [{"name": "side", "image": "busybox", "restartPolicy": "Always"}],
            "containers": [{"name": "app", "image": "busybox"}]}
    pod = {**INIT_POD, "spec": spec}
    side = _status("side", "running", regular_init=False)
    app = _status("app", "running", regular_init=False)
    status = pod_status(pod, [app], "127.0.0.1", "127.1.0.9", None, [side])
    assert status["phase"] == "Running"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    cells, _ = pod_cells({**pod, "status": status})
    assert cells[1:3] == ["2/2", "Running"]
    side["ready"] = False
    status = pod_status(pod, [app], "127.0.0.1", "127.1.0.9", None, [side])
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["message"] == "containers with unready status: [side]"
