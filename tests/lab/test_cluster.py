"""Lab(), what the notebooks call, against real etcd, API server, kubelet and kubectl."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

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


def test_env_file_lets_a_plain_bash_reach_the_lab(lab, capsys, monkeypatch):
    """.lab/env.sh alone (no kernel environment) gives bash the venv's kubectl and etcdctl, on the lab's ports."""
    lab.catch_up(upto=2)
    monkeypatch.chdir(lab.dir)       # shell_setup moves into notebooks/; come back afterwards
    for name in ("PATH", "KUBECONFIG", "KUBECACHEDIR", "ETCDCTL_ENDPOINTS", "LAB_RUNTIME"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
    lab.shell_setup()
    shown = capsys.readouterr().out
    env_file = lab.dir / "env.sh"
    assert env_file.read_text().rstrip() in shown
    script = (f"source {env_file} && command -v kubectl etcdctl && kubectl get namespaces --no-headers "
              f"&& etcdctl get /registry/namespaces/default --keys-only && pwd")
    r = subprocess.run(["bash", "-c", script], env={"HOME": str(lab.dir), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == str(Path(sys.executable).parent / "kubectl")  # the venv's, never the system's
    assert any(line.startswith("kube-system ") for line in lines)
    assert "/registry/namespaces/default" in lines and lines[-1].endswith("/notebooks")
    assert f"ETCDCTL_ENDPOINTS=http://127.0.0.1:{lab.ports.etcd}" in env_file.read_text()


def test_sequence_is_drawn_from_a_real_conflict(lab, tmp_path):
    """Two writers from one resourceVersion: the picture shows the 200 and the 409 that really happened,
    read back from the files the notebook's curls write (what each read, sent and got back)."""
    lab.catch_up(upto=2)
    base = f"{lab.api_url}/apis/coordination.k8s.io/v1/namespaces/default/leases"
    requests.post(base, json={"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                              "metadata": {"name": "demo"}, "spec": {}}, timeout=5)
    read = {w: requests.get(f"{base}/demo", timeout=5).json() for w in ("a", "b")}
    for w in ("a", "b"):
        (tmp_path / f"{w}.json").write_text(json.dumps(read[w]))
        (tmp_path / f"lease-{w}.json").write_text(json.dumps(read[w]))
        (tmp_path / f"{w}-put.json").write_text(requests.put(f"{base}/demo", json=read[w], timeout=5).text)
    picture = lab.sequence(who=("a", "b"), files_dir=tmp_path)
    assert picture.index("200 OK") < picture.index("409 Conflict")
    assert "compare failed: no write" in picture and f"rv {read['a']['metadata']['resourceVersion']}" in picture


def test_kubectl_is_the_venv_kubectl_talking_to_the_lab(lab):
    """lab.kubectl runs kubectl 1.37 through the lab's kubeconfig, never the reader's ~/.kube."""
    lab.catch_up(upto=2)
    out = lab.kubectl.run("get", "namespaces").stdout
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
        assert "<title>Welcome to nginx!</title>" in requests.get(f"http://{ip}/", timeout=5).text
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
