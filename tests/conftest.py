"""Shared fixtures: real etcd, API server and kubelet processes on free loopback ports.

Every process is started in a temp dir and stopped when its fixture ends, even
when the test fails. Nothing here fakes etcd.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from labserver.lab.supervise.components import start_apiserver, start_controller_manager, start_kubelet
from labserver.lab.supervise.etcd import start_etcd
from labserver.lab.supervise.procs import pid_alive, stop_pid, wait_for

# Every process the test session starts inherits this mark in its environment,
# so the session can prove at the end that it left nothing running.
SESSION_MARK = "LABSERVER_TEST_SESSION"


def pytest_configure(config):
    os.environ.setdefault(SESSION_MARK, uuid.uuid4().hex)


def _processes_started_by_this_session() -> list[tuple[int, str]]:
    mark = f"{SESSION_MARK}={os.environ[SESSION_MARK]}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if mark in (proc / "environ").read_bytes().split(b"\0") and pid_alive(int(proc.name)):
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append((int(proc.name), cmd.strip()))
        except OSError:
            continue
    return found


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if any process a test started is still running; then stop those (ours only)."""
    if not Path("/proc").is_dir():
        return
    try:
        wait_for(lambda: not _processes_started_by_this_session(), 10, "test processes to exit")
    except TimeoutError:
        leaked = _processes_started_by_this_session()
        lines = "\n".join(f"  pid {pid}: {cmd[:160]}" for pid, cmd in leaked)
        print(f"\nFAILED: {len(leaked)} process(es) started by the tests were still running:\n{lines}")
        for pid, _ in leaked:
            stop_pid(pid, timeout=5)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def etcd(tmp_path):
    """A fresh single-member etcd; yields its Server handle (client_url, host, port)."""
    server = start_etcd(tmp_path / "etcd-data")
    yield server
    server.stop()


@pytest.fixture
def etcd_client(etcd):
    """An etcd3-API client (pyetcd) on the fixture's etcd."""
    import pyetcd
    client = pyetcd.client(etcd.host, etcd.port)
    yield client
    client.close()


@pytest.fixture
def apiserver(etcd, tmp_path):
    """`python -m labserver apiserver` on a free port, backed by the etcd fixture."""
    server = start_apiserver(etcd.client_url, tmp_path / "apiserver.log")
    yield server
    server.stop()


@pytest.fixture
def kubelet_factory(apiserver, tmp_path):
    """Start kubelets against the apiserver fixture; all are stopped at the end."""
    started = []

    def start(hostname="lab-node", runtime="process", extra_args=None):
        root = tmp_path / f"kubelet-{hostname}"
        server = start_kubelet(apiserver.url, root, tmp_path / f"kubelet-{hostname}.log",
                               hostname=hostname, runtime=runtime, extra_args=extra_args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def controller_manager(apiserver, tmp_path):
    """`python -m labserver controller-manager` on the apiserver fixture, /healthz on a free port."""
    server = start_controller_manager(apiserver.url, tmp_path / "controller-manager.log")
    yield server
    server.stop()
