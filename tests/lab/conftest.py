"""Fixtures for the lab helpers: a whole lab (state dir, ports) private to one test.

Each `lab` gets its own state dir and free loopback ports, so tests never
touch the workbook's `.lab/` or the post's fixed ports, and everything the
test started is torn down by the lab's own teardown afterwards.
"""
from __future__ import annotations

import pytest

from labserver.lab.supervise import teardown
from labserver.lab import Lab
from labserver.lab.supervise.records import Ports
from labserver.lab.supervise.procs import free_port
from runtimes_available import port_80_skip


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A Lab with the process runtime on free ports and a temp state dir; torn down after."""
    monkeypatch.setenv("LABSERVER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LAB_RUNTIME", "process")
    ports = Ports(etcd=free_port(), etcd_peer=free_port(), apiserver=free_port(), kubelet=free_port(),
                  scheduler=free_port(), controller_manager=free_port())
    yield Lab(ports=ports, quiet=True)
    teardown.stop_everything(say=lambda line: None)


@pytest.fixture
def process_runtime_ready():
    """Skip (with the install command) when the process runtime's programs are missing (bubblewrap may
    be: the lab runs pods unsandboxed then), or (with the fix) when a pod cannot listen on port 80."""
    from labserver.lab.machine.sysdeps import install_hint, missing
    if [p for p in missing("process") if p != "bubblewrap"]:
        pytest.skip(install_hint("process"))
    reason = port_80_skip()
    if reason:
        pytest.skip(reason)
