"""`python -m labserver apiserver --workers=N`: N gunicorn workers serve one port and stop together."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from labserver.lab.supervise.components import start_apiserver
from labserver.lab.supervise.etcd import start_etcd
from labserver.lab.supervise.procs import free_port, pid_alive, wait_for

pytestmark = pytest.mark.integration   # starts processes itself (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]


def _worker_pids(log: Path, count: int = 2) -> list[int]:
    """The pids of the last `count` workers the API server log says it started."""
    def started():
        pids = re.findall(r"worker \d+ started \(pid (\d+)\)", log.read_text())
        return pids if len(pids) >= count else None
    return [int(pid) for pid in wait_for(started, 10, "the workers' pids in the API server log")[-count:]]


@pytest.fixture
def two_workers(etcd, etcd_prefix, tmp_path):
    """An API server with --workers=2; yields (server, worker pids, log path)."""
    log = tmp_path / "api.log"
    server = start_apiserver(etcd.client_url, log, extra_args=["--workers=2", f"--etcd-prefix={etcd_prefix}"])
    yield server, _worker_pids(log), log
    server.stop()


def test_workers_below_one_is_one_line_error():
    """--workers=0: exit 1 and one line on stderr naming the flag."""
    r = subprocess.run([sys.executable, "-m", "labserver", "apiserver", "--etcd-servers=http://127.0.0.1:2379",
                        "--service-cluster-ip-range=10.0.0.0/16", "--workers=0"],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "--workers=0" in lines[0], r.stderr


def test_workers_share_state_through_etcd(two_workers):
    """Concurrent connections (spread over both workers) see each other's writes: all state is in etcd."""
    server, pids, _ = two_workers
    assert all(pid_alive(pid) for pid in pids)
    sessions = [requests.Session() for _ in range(4)]
    for i, s in enumerate(sessions):
        r = s.post(server.url + "/api/v1/namespaces", json={"metadata": {"name": f"shared-{i}"}})
        assert r.status_code == 201, r.text
    for s in sessions:
        names = {item["metadata"]["name"] for item in s.get(server.url + "/api/v1/namespaces").json()["items"]}
        assert {f"shared-{i}" for i in range(4)} <= names
        s.close()


def test_sigterm_to_parent_stops_every_worker(two_workers):
    """SIGTERM to the parent alone: exit 0, both workers gone, the port free again."""
    server, pids, log = two_workers
    server.process.popen.send_signal(signal.SIGTERM)
    assert server.process.popen.wait(15) == 0
    assert not any(pid_alive(pid) for pid in pids)
    assert "apiserver: stopped" in log.read_text()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/healthz", timeout=2)


def test_a_dead_worker_is_replaced(two_workers):
    """A worker killed from outside: gunicorn starts a new one and the server keeps serving."""
    server, pids, log = two_workers
    os.kill(pids[0], signal.SIGKILL)
    wait_for(lambda: len(re.findall(r"worker \d+ started", log.read_text())) == 3, 15, "a replacement worker")
    replacement = _worker_pids(log, 3)[-1]
    assert replacement not in pids and pid_alive(replacement) and pid_alive(pids[1])
    assert server.process.alive()
    for i in range(10):   # new connections, whichever worker takes them
        assert requests.post(server.url + "/api/v1/namespaces", json={"metadata": {"name": f"after-kill-{i}"}},
                             timeout=10).status_code == 201


def test_port_in_use_is_one_line_error(etcd):
    """--workers=2 on a port already taken: one clear line, exit 1, no worker started."""
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        r = subprocess.run([sys.executable, "-m", "labserver", "apiserver", f"--etcd-servers={etcd.client_url}",
                            "--service-cluster-ip-range=10.0.0.0/16", f"--insecure-port={port}", "--workers=2"],
                           cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith(f"apiserver: cannot listen on 127.0.0.1:{port}: "), r.stderr


def test_every_worker_recovers_after_etcd_restarts(tmp_path):
    """etcd stopped and started again: each worker reconnects on its own and fresh connections all succeed."""
    client_port, peer_port = free_port(), free_port()
    etcd = start_etcd(tmp_path / "etcd", client_port=client_port, peer_port=peer_port)
    server = start_apiserver(etcd.client_url, tmp_path / "api.log", extra_args=["--workers=2"])
    try:
        url = server.url + "/api/v1/namespaces"
        etcd.stop()
        assert requests.get(url, timeout=15).status_code == 503
        etcd = start_etcd(tmp_path / "etcd", client_port=client_port, peer_port=peer_port)
        names = iter(range(1000))

        def ten_creates_in_a_row():   # each on a new connection, which either worker may accept
            return all(requests.post(url, json={"metadata": {"name": f"back-{next(names)}"}},
                                     timeout=10).status_code == 201 for _ in range(10))
        wait_for(ten_creates_in_a_row, 20, "both workers serving again")
    finally:
        server.stop()
        etcd.stop()
