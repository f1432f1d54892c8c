"""The process runtime runs the post's pod with the host's nginx, busybox and bubblewrap.

These tests drive ProcessRuntime directly (no kubelet): real processes on
loopback pod IPs, real files in the pod's emptyDir. They skip, with the
command to run, only when the Debian packages are not installed.
"""
import ipaddress
import os
import signal
import socket

import pytest
import requests

from labserver.kubelet import process_images
from labserver.kubelet.pod_ips import PodIPs
from labserver.kubelet.runtime import ImagePullError, PodRef, RuntimeError_
from labserver.kubelet.runtime_process import ProcessRuntime, _hand_over
from labserver.lab.machine import sysdeps
from labserver.lab.supervise.procs import pid_alive, wait_for
from pod_ranges import pod_cidr

pytestmark = [
    pytest.mark.integration,
    pytest.mark.process,
    pytest.mark.skipif(bool(sysdeps.missing("process")), reason=sysdeps.install_hint("process")),
]

TRUNCATOR = ["/bin/sh", "-c", "while true; do cat /dev/null > /logdir/access.log; sleep 10; done"]


def process_runtime(root) -> ProcessRuntime:
    """A ProcessRuntime on `root` handing out this xdist worker's own pod IPs (pod_ranges.py)."""
    return ProcessRuntime(root, pod_cidr=pod_cidr())


@pytest.fixture
def runtime(tmp_path):
    """A ProcessRuntime in a temp root; every pod it still holds is removed at the end."""
    rt = process_runtime(tmp_path / "root")
    yield rt
    for sandbox in process_runtime(tmp_path / "root").list_sandboxes():
        rt.remove_pod(sandbox.pod)


def nginx_spec(mount="/var/log/nginx"):
    return {"name": "nginx", "image": "nginx",
            "volumeMounts": [{"name": "nginx-logs", "mountPath": mount}]}


def busybox_spec(command, name="log-truncator", mount="/logdir"):
    return {"name": name, "image": "busybox", "command": command[:1], "args": command[1:],
            "volumeMounts": [{"name": "nginx-logs", "mountPath": mount}]}


def start_pod(rt, name, *specs, uid=None):
    """Sandbox, the nginx-logs emptyDir and the given containers, as the kubelet does."""
    pod = PodRef("default", name, uid or f"uid-{name}")
    sandbox = rt.run_sandbox(pod)
    volumes = {"nginx-logs": rt.pod_volume_dir(pod, "nginx-logs")}
    states = [rt.start_container(pod, sandbox, spec, volumes, 0) for spec in specs]
    return pod, sandbox, volumes["nginx-logs"], states


def current(rt, pod, name):
    return next(c for c in rt.list_containers(pod) if c.name == name)


def exited(rt, pod, name):
    state = current(rt, pod, name)
    return state if state.state == "exited" else None


def proc_state(pid):
    """The process's state letter from /proc (Z for a zombie), None when there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0]
    except OSError:
        return None


def test_two_pods_have_own_ips_and_serve_the_welcome_page(runtime):
    """Two nginx pods get distinct 127.x addresses and both answer on port 80."""
    ips = set()
    for name in ("nginx", "nginx-the-second"):
        _, sandbox, _, states = start_pod(runtime, name, nginx_spec())
        assert states[0].state == "running"
        assert ipaddress.ip_address(sandbox.ip) in ipaddress.ip_network(pod_cidr())   # the runtime's range
        page = requests.get(f"http://{sandbox.ip}/", timeout=5)
        assert page.status_code == 200 and "<title>Welcome to nginx!</title>" in page.text
        ips.add(sandbox.ip)
    assert len(ips) == 2


@pytest.mark.parametrize("sandboxed", [True, False], ids=["bubblewrap", "no-view"])
def test_nginx_logs_each_request_to_stdout_unless_a_volume_holds_its_logs(runtime, sandboxed):
    """As the nginx image (access.log is a link to /dev/stdout): `kubectl logs` shows each request;
    with a volume on /var/log/nginx (the post's pod) the requests go to the file in it instead."""
    runtime._sandboxed = sandboxed and runtime.sandboxed   # no view: as without bubblewrap
    plain = {"name": "nginx", "image": "nginx"}
    _, sandbox, _, (state,) = start_pod(runtime, "plain", plain)
    assert requests.get(f"http://{sandbox.ip}/from-the-test", timeout=5).status_code == 404
    wait_for(lambda: b'"GET /from-the-test HTTP/1.1" 404' in runtime.logs(state.id), 5, "the request in the log")
    _, sandbox, volume, (state,) = start_pod(runtime, "posts", nginx_spec())
    assert requests.get(f"http://{sandbox.ip}/into-the-file", timeout=5).status_code == 404
    wait_for(lambda: b"/into-the-file" in open(os.path.join(volume, "access.log"), "rb").read(), 5, "the file")
    assert b'"GET /into-the-file HTTP/1.1" 404' not in runtime.logs(state.id)   # (the error log is stderr's)


def test_log_truncator_truncates_the_access_log_in_the_shared_volume(runtime):
    """nginx logs to /var/log/nginx, the busybox loop empties it as /logdir/access.log."""
    pod, sandbox, volume, _ = start_pod(runtime, "nginx", nginx_spec())
    requests.get(f"http://{sandbox.ip}/", timeout=5)
    log = os.path.join(volume, "access.log")
    assert '"GET / HTTP/1.1" 200' in wait_for(lambda: open(log).read(), 5, "access log line")
    runtime.start_container(pod, sandbox, busybox_spec(TRUNCATOR), {"nginx-logs": volume}, 0)
    wait_for(lambda: os.path.getsize(log) == 0, 5, "access.log truncated")
    requests.get(f"http://{sandbox.ip}/?again", timeout=5)
    assert "GET /?again" in wait_for(lambda: open(log).read(), 5, "nginx logging again")


def test_new_runtime_instance_adopts_running_containers(runtime, tmp_path):
    """A restarted kubelet's runtime finds the same pod, IP and running processes."""
    pod, sandbox, _, states = start_pod(runtime, "nginx", nginx_spec(), busybox_spec(TRUNCATOR))
    adopted = process_runtime(tmp_path / "root")
    assert [(s.pod, s.ip) for s in adopted.list_sandboxes()] == [(pod, sandbox.ip)]
    seen = {c.name: c for c in adopted.list_containers()}
    assert {n: (c.state, c.id, c.extra["pid"]) for n, c in seen.items()} == {
        s.name: ("running", s.id, s.extra["pid"]) for s in states}
    assert adopted.run_sandbox(pod).ip == sandbox.ip
    assert adopted.run_sandbox(PodRef("default", "other", "uid-other")).ip != sandbox.ip
    adopted.stop_container(seen["nginx"].id, 5)
    assert exited(runtime, pod, "nginx").exit_code == 0  # nginx exits cleanly on SIGTERM


@pytest.mark.parametrize("command, kill, code, reason", [
    (["sleep", "300"], signal.SIGKILL, 137, "Error"),
    (["sleep", "300"], signal.SIGTERM, 143, "Error"),
    (["sh", "-c", "exit 3"], None, 3, "Error"),
    (["true"], None, 0, "Completed"),
])
def test_exit_code_of_an_ended_container(runtime, command, kill, code, reason):
    """A container that ends, or whose main process is killed, reports its exit code."""
    pod, _, _, (state,) = start_pod(runtime, "p", busybox_spec(command, name="main"))
    if kill:
        os.kill(state.extra["pid"], kill)
    ended = wait_for(lambda: exited(runtime, pod, "main"), 5, "container exited")
    assert (ended.exit_code, ended.reason) == (code, reason) and ended.finished_at
    wait_for(lambda: not any(map(pid_alive, (state.extra["pid"], state.extra["pgid"]))), 5,
             "container processes gone")


def test_a_failed_container_reports_the_end_of_its_log(runtime):
    """A container that fails carries the end of its log (CRI lines, timestamps removed) as its message;
    one that succeeds carries none. This is how a pod that cannot bind port 80 says why."""
    pod, _, _, (failed, ok) = start_pod(
        runtime, "p",
        busybox_spec(["sh", "-c", "echo starting; echo 'bind() to 127.1.0.2:80 failed (13: Permission denied)' >&2;"
                                  " printf 'no newline at the end'; exit 1"], name="failed"),
        busybox_spec(["sh", "-c", "echo fine"], name="ok"))
    ended = wait_for(lambda: exited(runtime, pod, "failed"), 5, "the failing container ends")
    assert ended.exit_code == 1
    assert ended.message == ("starting\nbind() to 127.1.0.2:80 failed (13: Permission denied)\n"
                             "no newline at the end")
    assert wait_for(lambda: exited(runtime, pod, "ok"), 5, "the other ends").message is None
    again = next(c for c in process_runtime(runtime.root).list_containers(pod) if c.name == "failed")
    assert again.message == ended.message     # after a kubelet restart too


def test_stop_container_kills_after_the_grace_period(runtime):
    """A container ignoring SIGTERM is SIGKILLed when the grace period ends."""
    pod, _, _, (state,) = start_pod(
        runtime, "stubborn", busybox_spec(["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done"],
                                          name="main"))
    wait_for(lambda: runtime.logs(state.id) == b"ready\n", 5, "TERM ignored")
    runtime.stop_container(state.id, 0.3)
    assert exited(runtime, pod, "main").exit_code == 137


def test_restart_keeps_the_previous_attempt(runtime):
    """A restarted container gets a new id and restart count; the previous attempt and log stay."""
    pod, sandbox, volume, (first,) = start_pod(runtime, "p", busybox_spec(["echo", "first"], name="c"))
    wait_for(lambda: exited(runtime, pod, "c"), 5, "first attempt ends")
    second = runtime.start_container(pod, sandbox, busybox_spec(["echo", "second"], name="c"),
                                     {"nginx-logs": volume}, 1)
    assert second.id != first.id and second.restart_count == 1
    wait_for(lambda: exited(runtime, pod, "c"), 5, "second attempt ends")
    assert runtime.logs(first.id) == b"first\n" and runtime.logs(second.id) == b"second\n"
    attempts = process_runtime(runtime.root).list_containers(pod)  # also after a kubelet restart
    assert [(c.id, c.restart_count, c.state, c.exit_code) for c in attempts] == [
        (second.id, 1, "exited", 0), (first.id, 0, "exited", 0)]


def test_remove_pod_leaves_no_process_and_no_dir(runtime, tmp_path):
    """After remove_pod no recorded PID runs, the pod dir and the IP allocation are gone.

    A killed process whose parent died with it stays a zombie (no memory, files or
    sockets) until the host's init reaps it; that is allowed, a running one is not.
    """
    pod, sandbox, volume, states = start_pod(runtime, "nginx", nginx_spec(), busybox_spec(TRUNCATOR))
    pids = [p for s in states for p in (s.extra["pid"], s.extra["pgid"])]
    assert None not in map(proc_state, pids) and "Z" not in map(proc_state, pids)
    runtime.remove_pod(pod)
    assert [p for p in pids if proc_state(p) not in (None, "Z")] == []
    assert not (tmp_path / "root" / "pods" / pod.uid).exists() and not os.path.exists(volume)
    assert runtime.list_sandboxes() == [] and runtime.list_containers() == []
    assert runtime.ips.get(pod.uid) is None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{sandbox.ip}/", timeout=2)


@pytest.mark.parametrize("image, message", [
    ("redis", 'image "redis" cannot run in the process runtime: it runs only nginx and busybox'),
    ("quay.io/coreos/etcd:v2", "it runs only nginx and busybox"),
])
def test_unknown_image_is_an_image_pull_error(runtime, image, message):
    """Images other than nginx and busybox fail with ErrImagePull and a clear message."""
    with pytest.raises(ImagePullError, match=message) as info:
        runtime.ensure_image(image, "IfNotPresent")
    assert info.value.reason == "ErrImagePull"
    pod = PodRef("default", "p", "uid-p")
    with pytest.raises(ImagePullError):
        runtime.start_container(pod, runtime.run_sandbox(pod), {"name": "c", "image": image}, {}, 0)


def test_view_that_cannot_be_built_is_a_run_container_error(runtime):
    """A mountPath bubblewrap cannot create fails the start with bwrap's own message."""
    spec = busybox_spec(["true"], name="c", mount="/proc/sys/nope")
    with pytest.raises(RuntimeError_, match="did not start: bwrap: Can't mkdir /proc/sys/nope") as info:
        start_pod(runtime, "p", spec)
    assert info.value.reason == "RunContainerError"


def test_missing_host_program_names_the_package(runtime, monkeypatch):
    """With nginx not installed, ensure_image says which package to install."""
    monkeypatch.setattr(process_images, "find_program", lambda name: None)
    with pytest.raises(ImagePullError, match="nginx is not installed: apt-get install nginx-light"):
        runtime.ensure_image("docker.io/library/nginx:1.25", "Always")


def test_known_images_with_registry_and_tag_are_accepted(runtime):
    """nginx and busybox under any registry, tag or digest are the host programs."""
    for image in ("nginx", "nginx:1.25", "docker.io/library/busybox:latest", "busybox@sha256:ab"):
        pulled = runtime.ensure_image(image, "IfNotPresent")
        assert pulled.image_id == f"process://{process_images.image_name(image)}"
        assert pulled.warning is None


def test_logs_return_stdout_and_stderr(runtime):
    """logs() returns what the container printed on both streams; tail limits lines."""
    pod, _, _, (state,) = start_pod(
        runtime, "p", busybox_spec(["sh", "-c", "echo hello; echo oops >&2; hostname"], name="c"))
    wait_for(lambda: exited(runtime, pod, "c"), 5, "container ends")
    assert runtime.logs(state.id) == b"hello\noops\np\n"  # hostname is the pod's name
    assert runtime.logs(state.id, tail=1) == b"p\n"


@pytest.fixture
def broken_bwrap(tmp_path, monkeypatch):
    """A `bwrap` that cannot run (as in a container without namespaces)."""
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    real = process_images.find_program
    monkeypatch.setattr(process_images, "find_program",
                        lambda name: str(fake) if name == "bwrap" else real(name))
    monkeypatch.setattr(process_images, "_bwrap_works", {})


def test_without_bubblewrap_containers_run_with_a_warning(broken_bwrap, runtime):
    """Where bwrap fails its check, nginx still serves and logs into its volume, with a warning."""
    assert "volumes at absolute mountPaths are unavailable" in runtime.ensure_image("busybox", "Never").warning
    _, sandbox, volume, (state,) = start_pod(runtime, "nginx", nginx_spec())
    assert state.extra["sandboxed"] is False
    assert "Welcome to nginx!" in requests.get(f"http://{sandbox.ip}/", timeout=5).text
    wait_for(lambda: os.path.getsize(os.path.join(volume, "access.log")) > 0, 5, "access log")


def test_pod_ips_skip_used_and_reserved_addresses(tmp_path):
    """The allocator never gives 127.0.0.1 or an address with a socket, and persists."""
    ips = PodIPs(tmp_path / "ips.json", "127.0.0.0/29")
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        s.listen()
        got = {ips.allocate(f"u{i}") for i in range(4)}
        with pytest.raises(RuntimeError, match="no free pod IP left in 127.0.0.0/29"):
            ips.allocate("u4")
    assert got == {f"127.0.0.{i}" for i in (3, 4, 5, 6)}
    again = PodIPs(tmp_path / "ips.json", "127.0.0.0/29")
    assert again.get("u0") in got and again.allocate("u0") == again.get("u0")
    again.release("u0")
    assert PodIPs(tmp_path / "ips.json", "127.0.0.0/29").get("u0") is None


def _environ(pid: int) -> dict[str, str]:
    raw = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if b"=" in item)


def test_runtime_processes_carry_the_marks_the_program_does_not(runtime, monkeypatch):
    """The wrapper and the log writer carry the kubelet's LABSERVER_* marks (so whoever started the kubelet
    finds them); the program sees only the container's environment."""
    monkeypatch.setenv("LABSERVER_TEST_MARK", "m-1")
    pod, _, _, (state,) = start_pod(runtime, "marked", busybox_spec(["sleep", "3600"], name="sleeper"))
    record = runtime._find(state.id)[1]
    assert _environ(record["pgid"]).get("LABSERVER_TEST_MARK") == "m-1"
    assert _environ(record["log_writer"]).get("LABSERVER_TEST_MARK") == "m-1"
    program = _environ(record["pid"])
    assert "LABSERVER_TEST_MARK" not in program and program["HOSTNAME"] == "marked"
    runtime.remove_pod(pod)
    assert not pid_alive(record["pgid"]) and not pid_alive(record["log_writer"])


def test_one_log_writer_serves_the_pod_and_ends_with_its_last_container(runtime):
    """The pod's containers share one log writer (as containerd's shim is one per pod); a container
    restarted while another runs hands its output to that writer too. Each attempt's log is whole, and
    the writer ends once no container of the pod is left."""
    pod, sandbox, volume, (sleeper, talker) = start_pod(
        runtime, "p", busybox_spec(["sh", "-c", "echo up; sleep 300"], name="sleeper"),
        busybox_spec(["sh", "-c", "echo one; echo two; printf three"], name="talker"))
    records = {s.name: runtime._find(s.id)[1] for s in (sleeper, talker)}
    assert records["sleeper"]["log_writer"] == records["talker"]["log_writer"]
    writer = records["sleeper"]["log_writer"]
    wait_for(lambda: exited(runtime, pod, "talker"), 5, "the talker ends")
    assert runtime.logs(talker.id) == b"one\ntwo\nthree"
    assert pid_alive(writer)   # the sleeper's output still goes through it
    again = runtime.start_container(pod, sandbox, busybox_spec(["echo", "again"], name="talker"),
                                    {"nginx-logs": volume}, 1)
    # a new attempt, even while the ended one's wrapper is still exiting (it once got the old one back)
    assert again.id != talker.id
    assert runtime._find(again.id)[1]["log_writer"] == writer
    wait_for(lambda: exited(runtime, pod, "talker"), 5, "the second attempt ends")
    assert runtime.logs(again.id) == b"again\n" and runtime.logs(talker.id) == b"one\ntwo\nthree"
    wait_for(lambda: runtime.logs(sleeper.id) == b"up\n", 5, "the sleeper's line")
    runtime.stop_container(sleeper.id, 0.5)
    wait_for(lambda: not pid_alive(writer), 5, "the pod's log writer ends with its last container")
    third = runtime.start_container(pod, sandbox, busybox_spec(["echo", "third"], name="talker"),
                                    {"nginx-logs": volume}, 2)
    new_writer = runtime._find(third.id)[1]["log_writer"]
    assert new_writer != writer
    wait_for(lambda: exited(runtime, pod, "talker"), 5, "the third attempt ends")
    assert runtime.logs(third.id) == b"third\n"
    wait_for(lambda: not pid_alive(new_writer), 5, "that writer ends too")


def test_a_handover_that_fails_leaves_the_pod_writer_serving(runtime, tmp_path):
    """A pipe whose log cannot be opened is refused (no answer: the runtime would start a writer of its
    own); the writer keeps writing the pod's other logs."""
    pod, _, _, (sleeper,) = start_pod(runtime, "p", busybox_spec(["sh", "-c", "echo up; sleep 300"], name="sleeper"))
    writer = runtime._find(sleeper.id)[1]["log_writer"]
    r, w = os.pipe()
    try:
        assert _hand_over(runtime._log_writer_socket(pod), tmp_path / "no-such-dir" / "c.log", r) is None
    finally:
        os.close(r)
        os.close(w)
    assert pid_alive(writer)
    wait_for(lambda: runtime.logs(sleeper.id) == b"up\n", 5, "the sleeper's line")
    runtime.stop_container(sleeper.id, 0.5)
    wait_for(lambda: not pid_alive(writer), 5, "the writer ends with the pod's last container")


def session_output(session, until: bytes | None = None, timeout: float = 10) -> bytes:
    """An exec's or attach's output, up to its end (or until `until` appears); fails after `timeout`
    seconds of silence."""
    out = b""
    while until is None or until not in out:
        chunk = session.output(timeout=timeout)
        assert chunk is not None, f"no output for {timeout} s (so far: {out!r})"
        if chunk == (0, b""):   # every stream has ended
            break
        out += chunk[1]
    return out


def test_exec_gets_the_environment_the_container_started_with(runtime, tmp_path):
    """exec's environment is the container's own (its PATH, the spec's env), kept in env.json (0600: a
    Secret's value may be there), not read back from /proc/<pid>/environ, which nginx overwrites."""
    spec = {**nginx_spec(), "env": [{"name": "GREETING", "value": "hello"}]}
    pod, _, _, [state] = start_pod(runtime, "envy", spec)
    env_file = next((tmp_path / "root").rglob("containers/nginx/env.json"))
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    session = runtime.exec(state.id, ["sh", "-c", 'echo "$GREETING"; command -v nginx'], tty=False, stdin=False)
    out = session_output(session)
    assert session.wait(10) == 0
    greeting, nginx = out.decode().split()
    assert greeting == "hello" and nginx.endswith("/run/bin/nginx"), out   # the image's `nginx`, on its PATH


def test_attach_with_stdin_reaches_a_stdin_true_container(runtime):
    """`stdin: true` (what `kubectl run -i` / `attach -i` need): the program reads what an attach writes,
    and waits, still running, until something comes; without it the program's stdin is at its end."""
    spec = {"name": "sh", "image": "busybox", "command": ["sh"], "stdin": True}
    pod, _, _, [state] = start_pod(runtime, "interactive", spec)
    session = runtime.attach(state.id, stdin=True)
    session.write_stdin(b"echo typed-$((6*7))\n")
    assert b"typed-42" in session_output(session, until=b"typed-42")
    session.close_stdin()   # this client goes; the shell goes on reading
    assert current(runtime, pod, "sh").state == "running"
    session.kill()
    again = runtime.attach(state.id, stdin=True)
    again.write_stdin(b"exit 3\n")
    wait_for(lambda: exited(runtime, pod, "sh"), 10, "the shell ends on `exit 3`")
    assert exited(runtime, pod, "sh").exit_code == 3
    again.kill()
    plain, _, _, _ = start_pod(runtime, "no-stdin", {**spec, "stdin": False})
    wait_for(lambda: exited(runtime, plain, "sh"), 10, "a shell with no stdin ends at once")


def test_a_stdin_fifo_that_cannot_be_made_is_a_clear_run_container_error(runtime, monkeypatch):
    """A root dir on a filesystem without FIFOs: the container does not start, and the reason says why."""
    def no_fifos(path, mode=0o666):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(os, "mkfifo", no_fifos)
    with pytest.raises(RuntimeError_) as e:
        start_pod(runtime, "no-fifo", {"name": "sh", "image": "busybox", "command": ["sh"], "stdin": True})
    assert e.value.reason == "RunContainerError" and "stdin FIFO cannot be made" in str(e.value), e.value
