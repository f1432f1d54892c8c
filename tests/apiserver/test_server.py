"""`python -m labserver apiserver`: flag errors are one line and exit 1; SIGTERM stops it cleanly."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from labserver.lab.components import start_apiserver
from labserver.lab.procs import free_port

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labserver", "apiserver", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("args,needle", [
    (["--service-cluster-ip-range=10.0.0.0/16"], "--etcd-servers"),
    (["--etcd-servers=http://127.0.0.1:2379"], "--service-cluster-ip-range"),
    (["--etcd-servers=http://127.0.0.1:2379", "--service-cluster-ip-range=10.0.0.0/33"], "not a valid CIDR"),
    (["--etcd-servers=127.0.0.1:2379", "--service-cluster-ip-range=10.0.0.0/16"], "bad etcd server URL"),
])
def test_bad_flags_exit_1_with_one_line(args, needle):
    """A missing flag, a bad CIDR or a bad etcd URL: exit 1 and one line on stderr naming it."""
    r = _run(*args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and needle in lines[0], r.stderr


def test_etcd_unreachable_exits_after_short_wait():
    """No etcd: progress lines while waiting, then one clear error line and exit 1."""
    url = f"http://127.0.0.1:{free_port()}"
    r = _run(f"--etcd-servers={url}", "--service-cluster-ip-range=10.0.0.0/16", f"--insecure-port={free_port()}")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1
    assert lines[-1] == f"apiserver: cannot start: etcd at {url} is unreachable after 8s"
    assert any("waiting for etcd" in line for line in lines[:-1])


def test_sigterm_stops_cleanly(etcd, tmp_path):
    """SIGTERM ends the server with exit code 0 and its port is free again, even with a watch open."""
    server = start_apiserver(etcd.client_url, tmp_path / "api.log")
    watch = requests.get(server.url + "/api/v1/pods?watch=true", stream=True, timeout=10)
    server.process.popen.terminate()
    assert server.process.popen.wait(10) == 0
    watch.close()
    assert "apiserver: stopped" in (tmp_path / "api.log").read_text()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/healthz", timeout=2)
