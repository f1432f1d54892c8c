"""Lab(), what the notebooks call, against real etcd, API server, kubelet and kubectl."""
import socket

import pytest
import requests

from labserver.lab.supervise import records, teardown
from labserver.lab.supervise.components import choose_runtime
from labserver.lab.supervise.procs import LabError, pid_alive


def test_start_etcd_twice_reuses_the_running_one(lab, capsys):
    """A second start_etcd (a re-run notebook) says so and keeps the same process."""
    lab.start_etcd()
    pid = records.read_pid("etcd")
    lab.start_etcd()
    out = capsys.readouterr().out
    assert "already running" in out and records.read_pid("etcd") == pid
    assert requests.get(f"{lab.etcd_url}/health", timeout=2).json()["health"] == "true"


def test_start_refuses_a_port_held_by_a_stranger(lab):
    """A port taken by a program the lab did not start is one clear error, and nothing starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", lab.ports.etcd))
        s.listen()
        with pytest.raises(LabError, match=f"port {lab.ports.etcd} is taken by something the lab did not start"):
            lab.start_etcd()
    assert records.read_pid("etcd") is None


def test_apiserver_needs_etcd_first(lab):
    """Starting the API server before etcd says which notebook to run first."""
    with pytest.raises(LabError, match="etcd is not running: run notebook 01 first"):
        lab.start_apiserver()


def test_catch_up_starts_then_reuses(lab, capsys):
    """catch_up starts what is missing; run again, it reports everything already running."""
    lab.catch_up(upto=2)
    first = capsys.readouterr().out
    lab.catch_up(upto=2)
    second = capsys.readouterr().out
    assert first.count("(started now") == 2 and second.count("(already running") == 2
    assert lab.running("etcd") and lab.running("apiserver") and not lab.running("kubelet")


def test_curl_prints_the_command_and_records_the_exchange(lab, capsys):
    """lab.curl shows the curl | jq line, the filtered answer, and records the request."""
    lab.catch_up(upto=2)
    capsys.readouterr()
    answer = lab.curl("GET", "/api/v1/nodes", jq=".items")
    out = capsys.readouterr().out
    assert out.startswith(f"$ curl --silent http://localhost:{lab.ports.apiserver}/api/v1/nodes")
    assert "| jq '.items'" in out and out.rstrip().endswith("[]")
    assert answer.status == 200 and answer.json["kind"] == "NodeList"
    assert (lab.curl.exchanges[-1].method, lab.curl.exchanges[-1].path) == ("GET", "/api/v1/nodes")


def test_sequence_is_drawn_from_a_real_conflict(lab, capsys):
    """Two writers from one resourceVersion: the picture shows the 200 and the 409 that really happened."""
    lab.catch_up(upto=2)
    path = "/apis/coordination.k8s.io/v1/namespaces/default/leases/demo"
    lab.curl("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases",
             {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "demo"}, "spec": {}},
             show=False)
    a = lab.curl("GET", path, who="a", show=False).json
    b = lab.curl("GET", path, who="b", show=False).json
    assert lab.curl("PUT", path, a, who="a", show=False).status == 200
    assert lab.curl("PUT", path, b, who="b", show=False).status == 409
    picture = lab.sequence(who=("a", "b"))
    assert picture.index("200 OK") < picture.index("409 Conflict")
    assert "compare failed: no write" in picture and f"rv {a['metadata']['resourceVersion']}" in picture


def test_kubectl_is_the_venv_kubectl_talking_to_the_lab(lab):
    """lab.kubectl runs kubectl 1.37 through the lab's kubeconfig, never the reader's ~/.kube."""
    lab.catch_up(upto=2)
    out = lab.kubectl("get", "namespaces")
    assert "default" in out and "kube-system" in out
    assert lab.kubectl.env()["HOME"].startswith(str(lab.dir))
    sent = lab.kubectl.requests("get", "pods")
    assert ("GET", "/api", "200 OK") in sent
    assert sent[-1] == ("GET", "/api/v1/namespaces/default/pods?limit=500", "200 OK")


@pytest.mark.parametrize("value", ["podman", "dockerd"])
def test_unknown_runtime_is_refused(monkeypatch, value):
    """LAB_RUNTIME must be process, docker or auto."""
    monkeypatch.setenv("LAB_RUNTIME", value)
    with pytest.raises(LabError, match="use process, docker or auto"):
        choose_runtime()


def test_the_post_end_to_end_then_nothing_left(lab, process_runtime_ready, capsys):
    """Both nginx pods run and serve through the lab; teardown leaves no process or port behind."""
    lab.catch_up(upto=5)
    ips = {lab.get_pod(n)["status"]["podIP"] for n in ("nginx", "nginx-the-second")}
    assert len(ips) == 2
    for ip in ips:
        assert "<title>Welcome to nginx!</title>" in lab.http_get(f"http://{ip}/")
    pids = [records.read_pid(n) for n in ("etcd", "apiserver", "kubelet")]
    stopped = teardown.stop_everything(say=print)
    assert len(stopped) == 2 + 3  # two pods deleted through the API, then three servers
    assert teardown.leftovers() == []
    assert not [pid for pid in pids if pid_alive(pid)]  # exited (an unreaped zombie is reaped here)


def test_the_kubelet_is_told_the_labs_decisions_and_the_lab_reads_them_back(lab, process_runtime_ready):
    """Node name and runtime are passed as flags once; the runtime is read back from the node's status."""
    lab.catch_up(upto=3)
    argv = open(f"/proc/{records.read_pid('kubelet')}/cmdline", "rb").read().decode().split("\0")
    node = socket.gethostname().lower()
    assert f"--hostname-override={node}" in argv and "--runtime=process" in argv
    assert not any(a.startswith("--container-runtime-endpoint") for a in argv)  # only Docker needs an engine
    assert f"--port={lab.ports.kubelet}" in argv
    info = lab.get_node(lab.node_name())["status"]["nodeInfo"]
    assert lab.node_name() == node and info["containerRuntimeVersion"].startswith("process://")
    assert records.kubelet()["runtime"] == "process" and records.kubelet()["node"] == node
