"""The lab's etcd helpers run the real etcd and fail with one clear line."""
import subprocess
import sys

import pytest
import requests

from labserver.lab.supervise.etcd import start_etcd
from labserver.lab.supervise.procs import LabError, free_port, pid_alive

pytestmark = pytest.mark.integration   # starts processes itself (tests/conftest.py)


def test_started_etcd_is_healthy_and_stops(tmp_path):
    """A started etcd answers /health and is gone after stop()."""
    etcd = start_etcd(tmp_path / "etcd")   # its own: the module's shared one must keep running
    assert requests.get(f"{etcd.client_url}/health", timeout=2).json()["health"] == "true"
    pid = etcd.process.pid
    etcd.stop()
    assert not pid_alive(pid)


def test_etcd_is_a_plain_key_value_store(etcd_client):
    """put then get returns the value, and mod_revision grows."""
    etcd_client.put("/lab/hello", "world")
    value, meta = etcd_client.get("/lab/hello")
    assert value == b"world" and meta.mod_revision > 1


def test_port_taken_is_one_clear_error(etcd, tmp_path):
    """Starting a second etcd on a taken port fails before launching anything."""
    with pytest.raises(LabError, match=f"port {etcd.port} .* already in use"):
        start_etcd(tmp_path / "other", client_port=etcd.port)


@pytest.mark.parametrize("args, message", [
    (["--listen-client-urls", "nonsense"], "bad etcd URL"),
    (["--data-dir", "/proc/1/nope"], "unusable"),
])
def test_cli_bad_flags_print_one_line_and_fail(args, message):
    """`python -m labserver etcd` with bad flags prints one line and exits 1."""
    # Free ports first (args may override them): the default 2379 may be in use by another lab (the
    # notebook tests' in a parallel run), and then the port is the one line instead of the data dir.
    ports = ["--listen-client-urls", f"http://127.0.0.1:{free_port()}", "--listen-peer-urls", f"http://127.0.0.1:{free_port()}"]
    r = subprocess.run([sys.executable, "-m", "labserver", "etcd", *ports, *args],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
