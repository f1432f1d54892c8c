"""The supervision primitives: waits that stop when the awaited thing failed, pids, the one handle."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from labserver.lab.supervise.procs import LabError, Process, Server, pid_alive, wait_for


def test_wait_for_stops_at_once_when_the_thing_failed():
    """A LabError from the check ends the wait with that reason, long before the deadline."""
    calls = []

    def check():
        calls.append(1)
        raise LabError("etcd exited: bad flag")

    start = time.monotonic()
    with pytest.raises(LabError, match="etcd exited: bad flag"):
        wait_for(check, 30, "etcd /health")
    assert time.monotonic() - start < 1 and len(calls) == 1


def test_wait_for_treats_other_errors_as_not_yet():
    """A connection error is 'not yet': the wait goes on and its timeout names the last error."""
    def check():
        raise ConnectionError("refused")

    with pytest.raises(TimeoutError, match=r"thing: not ready after 0.2s \(last error: refused\)"):
        wait_for(check, 0.2, "thing")


@pytest.mark.integration
def test_pid_alive_reaps_an_exited_child():
    """A child that exited is not alive, and is reaped (no zombie left in /proc)."""
    child = subprocess.Popen(["true"])
    stat = Path(f"/proc/{child.pid}/stat")
    wait_for(lambda: not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", 10,
             "the child to exit")
    assert pid_alive(child.pid) is False
    assert not os.path.exists(f"/proc/{child.pid}")


@pytest.mark.integration
def test_one_handle_for_every_server(tmp_path):
    """etcd's client_url and any server's host and port come from the one URL it answers on."""
    proc = Process(subprocess.Popen(["true"]), tmp_path / "log")
    server = Server("etcd", proc, "http://127.0.0.1:23790", {"data-dir": "x"})
    assert (server.client_url, server.host, server.port) == ("http://127.0.0.1:23790", "127.0.0.1", 23790)
    server.stop()
    assert not proc.alive()
