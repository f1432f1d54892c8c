"""Streaming for real: `kubectl logs -f`, `exec`, `exec -it`, `cp`, `attach`, port-forward, on each runtime.

Real etcd, API server and kubelet processes, the real kubectl 1.37 and the
official Python client, against the post's pod (or a small busybox pod that
talks) run by the process runtime and, when an engine answers, by Docker.

No test here restarts or stops a component, so the module shares them: one API
server (shared_apiserver), and one kubelet per runtime (its node named after the
runtime) that the runtime's tests all use, each test in a namespace of its own
whose pods are deleted when it ends (tests/kubelet/shared_cluster.py).
"""
from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import time

import pytest
import requests

from kubelet_testing import running_ready
from labserver.lab.supervise.procs import free_port, wait_for
from shared_cluster import cluster, module_kubelet, runtime_name  # noqa: F401  (fixtures)
from test_e2e import KUBECTL

pytestmark = pytest.mark.shared_apiserver

TIMESTAMPED = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


def talker(cluster, name: str, script: str, restart: str = "Never") -> dict:
    """A one-container busybox pod running `script`, on the cluster's node."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": cluster.node, "restartPolicy": restart,
                     "containers": [{"name": "talk", "image": "busybox", "command": ["sh", "-c", script]}]}}


def kubectl_cmd(cluster, *args: str) -> list[str]:
    return [KUBECTL, f"--server={cluster.apiserver.url}", f"--namespace={cluster.namespace}", *args]


def run(cluster, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(kubectl_cmd(cluster, *args), input=input, capture_output=True, text=True,
                          timeout=timeout)


def read_until(stream, wanted: bytes, timeout: float) -> bytes:
    """Read a pipe until `wanted` appears; fail (with what came) at the deadline or at EOF."""
    fd, got = stream.fileno(), b""
    deadline = time.monotonic() + timeout
    while wanted not in got:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {wanted!r} within {timeout}s; got {got!r}"
        if select.select([fd], [], [], remaining)[0]:
            chunk = os.read(fd, 4096)
            assert chunk, f"ended before {wanted!r}; got {got!r}"
            got += chunk
    return got


def container_running(cluster, pod: str) -> bool:
    statuses = (cluster.pod(pod) or {}).get("status", {}).get("containerStatuses") or []
    return bool(statuses) and "running" in statuses[0]["state"]


# -- logs -------------------------------------------------------------------------------------

def test_kubectl_logs_of_a_plain_nginx_shows_each_request(cluster):
    """`kubectl run web --image=nginx`, a request, `kubectl logs web`: the request's access-log line, as
    the nginx image sends its logs to the container's output (with no volume on /var/log/nginx)."""
    cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                    "spec": {"nodeName": cluster.node, "containers": [{"name": "web", "image": "nginx"}]}})
    ip = cluster.wait_pod("web", running_ready, "Running and ready")["status"]["podIP"]
    assert requests.get(f"http://{ip}/from-the-test", timeout=5).status_code == 404
    wait_for(lambda: '"GET /from-the-test HTTP/1.1" 404' in run(cluster, "logs", "web").stdout, 10,
             "the request in kubectl logs")


def test_logs_follow_streams_until_the_container_ends(cluster):
    """`kubectl logs -f` prints each line as it is written and returns when the container ends."""
    cluster.create(talker(cluster, "follow", "echo one; sleep 2; echo two; sleep 2; echo three"))
    cluster.wait_pod("follow", lambda p: container_running(cluster, "follow") or
                     p["status"].get("phase") in ("Succeeded", "Failed"), "started")
    proc = subprocess.Popen(kubectl_cmd(cluster, "logs", "-f", "follow"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        read_until(proc.stdout, b"one\n", 10)
        assert container_running(cluster, "follow"), "the first line came only after the container ended"
        read_until(proc.stdout, b"two\n", 10)
        rest = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0 and rest[0] == b"three\n", rest
    assert cluster.wait_pod("follow", lambda p: p["status"]["phase"] == "Succeeded", "Succeeded")


def test_logs_follow_ends_when_killed(cluster):
    """A follower of a quiet container that is killed goes away; the servers go on serving."""
    cluster.create(talker(cluster, "quiet", "echo hello; sleep 3600", restart="Always"))
    cluster.wait_pod("quiet", running_ready, "running")
    proc = subprocess.Popen(kubectl_cmd(cluster, "logs", "-f", "quiet"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        read_until(proc.stdout, b"hello\n", 10)
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    finally:
        proc.kill()
        proc.wait()
    assert run(cluster, "logs", "quiet").stdout == "hello\n"


def test_logs_options(cluster):
    """--tail, --timestamps, --since, --limit-bytes, --previous, as upstream."""
    cluster.create(talker(cluster, "lines", "for i in 1 2 3 4 5; do echo line-$i; done; sleep 3600", restart="Always"))
    cluster.wait_pod("lines", running_ready, "running")
    wait_for(lambda: "line-5" in run(cluster, "logs", "lines").stdout, 15, "all five lines")
    assert run(cluster, "logs", "lines", "--tail=2").stdout == "line-4\nline-5\n"
    stamped = run(cluster, "logs", "lines", "--timestamps").stdout.encode().splitlines(keepends=True)
    assert len(stamped) == 5 and all(TIMESTAMPED.match(line) for line in stamped), stamped
    assert stamped[0].endswith(b" line-1\n")
    assert run(cluster, "logs", "lines", "--since=1h").stdout.count("line-") == 5
    time.sleep(1.1)   # the lines age past the shortest --since kubectl takes (1s)
    assert run(cluster, "logs", "lines", "--since=1s").stdout == ""
    assert run(cluster, "logs", "lines", "--limit-bytes=10").stdout == "line-1\nlin"
    previous = run(cluster, "logs", "lines", "--previous")
    assert previous.returncode != 0 and "previous terminated container" in previous.stderr
    bad = requests.get(f"{cluster.apiserver.url}/api/v1/namespaces/{cluster.namespace}/pods/lines/log?limitBytes=0", timeout=10)
    assert bad.status_code == 400 and bad.json()["message"] == "limitBytes: Invalid value: must be greater than 0"


# -- exec, attach, cp --------------------------------------------------------------------------

@pytest.fixture
def nginx(cluster):
    pod = cluster.run_nginx()
    return cluster, pod


def test_exec_runs_in_the_container(nginx):
    """exec sees the container's own view: the shared volume at each container's mountPath."""
    cluster, pod = nginx
    out = run(cluster, "exec", "nginx", "-c", "log-truncator", "--", "sh", "-c", "echo hi > /logdir/from-exec")
    assert out.returncode == 0, out.stderr
    assert (cluster.volume_dir(pod["metadata"]["uid"]) / "from-exec").read_text() == "hi\n"
    listing = run(cluster, "exec", "nginx", "-c", "nginx", "--", "ls", "/var/log/nginx")
    assert listing.returncode == 0 and "from-exec" in listing.stdout.split(), listing
    assert run(cluster, "exec", "nginx", "-c", "nginx", "--", "hostname").stdout == "nginx\n"
    # The container's own environment: `nginx` is on its PATH, as in the nginx image (the process
    # runtime once gave exec a bare PATH, read back from nginx's overwritten /proc/<pid>/environ).
    version = run(cluster, "exec", "nginx", "-c", "nginx", "--", "nginx", "-v")
    assert version.returncode == 0 and "nginx version: nginx/" in version.stderr, version
    path = run(cluster, "exec", "nginx", "-c", "nginx", "--", "sh", "-c", 'echo "$PATH"').stdout.strip()
    assert "/usr/sbin" in path.split(":"), path


def test_exec_exit_codes_and_stdin(nginx):
    cluster, _ = nginx
    failed = run(cluster, "exec", "nginx", "-c", "nginx", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert failed.returncode == 3 and failed.stdout == "out\n", failed
    assert "err\n" in failed.stderr and "command terminated with exit code 3" in failed.stderr
    piped = run(cluster, "exec", "-i", "nginx", "-c", "log-truncator", "--", "sh", "-c", "cat | wc -c",
                input="hello\n")
    assert piped.returncode == 0 and piped.stdout.strip() == "6", piped


def test_exec_tty_shell(nginx):
    """`kubectl exec -it ... -- sh` on a terminal: type a command, see its output, exit."""
    cluster, _ = nginx
    master, slave = pty.openpty()
    proc = subprocess.Popen(kubectl_cmd(cluster, "exec", "-it", "nginx", "-c", "nginx", "--", "sh"),
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        os.write(master, b"echo hi-$((40+2)); exit\n")
        got, deadline = b"", time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    got += os.read(master, 4096)
                except OSError:
                    break
        assert proc.wait(10) == 0, got
        assert b"hi-42" in got, got
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


def test_cp_into_and_out_of_the_pod(nginx, tmp_path):
    cluster, _ = nginx
    src = tmp_path / "note.txt"
    src.write_text("copied by kubectl cp\n")
    into = run(cluster, "cp", str(src), f"{cluster.namespace}/nginx:/tmp/note.txt", "-c", "nginx")
    assert into.returncode == 0, into.stderr
    back = tmp_path / "back.txt"
    out = run(cluster, "cp", f"{cluster.namespace}/nginx:/tmp/note.txt", str(back), "-c", "nginx")
    assert out.returncode == 0, out.stderr
    assert back.read_text() == "copied by kubectl cp\n"


def test_attach_follows_the_output(cluster):
    cluster.create(talker(cluster, "chatty", "sleep 2; for i in 1 2 3; do echo tick-$i; sleep 1; done"))
    cluster.wait_pod("chatty", lambda p: container_running(cluster, "chatty"), "running")
    attached = run(cluster, "attach", "chatty", "-c", "talk", timeout=60)
    assert "tick-3" in attached.stdout, attached


def test_kubectl_run_interactive_shell(cluster):
    """`kubectl run -i --rm ... -- sh`, the tutorials' throwaway shell: what is typed reaches the shell
    (a `stdin: true` container, attached with stdin), its output comes back, `exit` ends the pod, and
    --rm deletes it. (No scheduler here: the node is given in --overrides.)"""
    out = run(cluster, "run", "-i", "--rm", "--restart=Never", "shell", "--image=busybox",
              f'--overrides={{"spec": {{"nodeName": "{cluster.node}"}}}}', "--", "sh",
              input="echo typed-$((6*7))\nexit\n", timeout=90)
    assert out.returncode == 0 and "typed-42" in out.stdout, out
    assert 'pod "shell" deleted' in out.stdout, out
    wait_for(lambda: cluster.pod("shell") is None, 30, "the pod gone")


def test_python_client_exec(nginx):
    from kubernetes import client as k8s
    from kubernetes.stream import stream
    cluster, _ = nginx
    api = k8s.CoreV1Api(k8s.ApiClient(k8s.Configuration(host=cluster.apiserver.url)))
    out = stream(api.connect_get_namespaced_pod_exec, "nginx", cluster.namespace, container="nginx",
                 command=["sh", "-c", "echo from-python"], stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "from-python\n"


# -- errors ---------------------------------------------------------------------------------------

def test_exec_errors_are_clear(nginx):
    cluster, _ = nginx
    missing = run(cluster, "exec", "nope", "--", "true")
    assert missing.returncode != 0 and 'pods "nope" not found' in missing.stderr
    wrong = run(cluster, "exec", "nginx", "-c", "nope", "--", "true")
    assert wrong.returncode != 0 and "container nope is not valid for pod nginx" in wrong.stderr


def test_port_forward_python_client(nginx):
    """The WebSocket port-forward protocol (the official client's portforward()): nginx's page through it."""
    from kubernetes import client as k8s
    from kubernetes.stream import portforward
    cluster, _ = nginx
    api = k8s.CoreV1Api(k8s.ApiClient(k8s.Configuration(host=cluster.apiserver.url)))
    pf = portforward(api.connect_get_namespaced_pod_portforward, "nginx", cluster.namespace, ports="80")
    try:
        s = pf.socket(80)
        s.setblocking(True)
        s.settimeout(10)
        s.sendall(b"GET / HTTP/1.0\r\nHost: nginx\r\n\r\n")
        page = b""
        while b"</html>" not in page:
            chunk = s.recv(4096)
            assert chunk, page
            page += chunk
        assert b"Welcome to nginx!" in page
        s.close()
        assert pf.error(80) is None
    finally:
        pf.close()


def _port_forward(cluster, *args: str, env: dict | None = None) -> tuple[subprocess.Popen, int]:
    """`kubectl port-forward pod/nginx <free port>:<args>` running, once it says it is forwarding."""
    local = free_port()
    pf = subprocess.Popen(kubectl_cmd(cluster, "port-forward", "pod/nginx", *(f"{local}:{a}" for a in args)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    try:
        read_until(pf.stdout, b"Forwarding from 127.0.0.1:%d" % local, 30)
    except BaseException:
        pf.kill()
        pf.communicate()
        raise
    return pf, local


@pytest.mark.parametrize("websockets", ["true", "false"], ids=["spdy-in-websocket", "bare-spdy-upgrade"])
def test_kubectl_port_forward(nginx, websockets):
    """kubectl 1.37's port-forward: SPDY/3.1 tunneled in a WebSocket (its default), or on a bare SPDY upgrade
    (its fallback; KUBECTL_PORT_FORWARD_WEBSOCKETS=false): nginx's page through it, several connections in
    turn and at once, each its own pair of SPDY streams."""
    cluster, _ = nginx
    pf, local = _port_forward(cluster, "80", env={"KUBECTL_PORT_FORWARD_WEBSOCKETS": websockets})
    try:
        for _ in range(2):
            assert "Welcome to nginx!" in requests.get(f"http://127.0.0.1:{local}/", timeout=10).text
        with requests.Session() as a, requests.Session() as b:
            pages = [s.get(f"http://127.0.0.1:{local}/", timeout=10) for s in (a, b, a, b)]
        assert all(p.status_code == 200 and "Welcome to nginx!" in p.text for p in pages)
        assert pf.poll() is None
    finally:
        pf.terminate()
        _, err = pf.communicate(timeout=10)
    assert b"error" not in err.lower(), err


def test_kubectl_port_forward_to_a_closed_port_says_why(nginx):
    """A port nothing listens on in the pod: kubectl prints the kubelet's reason from the error stream."""
    cluster, _ = nginx
    pf, local = _port_forward(cluster, "81")
    try:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{local}/", timeout=10)
        err = read_until(pf.stderr, b"refused", 15)
    finally:
        pf.terminate()
        pf.communicate(timeout=10)
    assert b"error forwarding port 81 to pod nginx" in err, err