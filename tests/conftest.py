"""Shared fixtures: real etcd, API server and kubelet processes on free loopback ports.

Every process is started in a temp dir and stopped when its fixture ends, even
when the test fails. Nothing here fakes etcd.

Two tiers. A test that uses none of the PROCESS_FIXTURES (and whose module is
not marked `integration`) is a unit test: `make test-fast` runs only those
(`-m "not integration"`), and one that starts a process anyway fails.
Integration tests share one etcd per module (starting etcd was most of the
suite's time); each test gets its own key prefix (`etcd_prefix`, the API
server's --etcd-prefix), so tests stay independent: every test sees an empty
cluster with only the system namespaces.
"""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from labserver.lab.supervise.components import (start_apiserver, start_controller_manager, start_kubelet,
                                                start_scheduler)
from labserver.lab.supervise.etcd import start_etcd
from labserver.lab.supervise.procs import pid_alive, stop_pid, wait_for
from labserver.lab.supervise.teardown import node_runtime, remove_pods

# Every process the test session starts inherits this mark in its environment,
# so the session can prove at the end that it left nothing running.
SESSION_MARK = "LABSERVER_TEST_SESSION"


# Fixtures that start (or need) a real process: a test using any of them is an integration test.
PROCESS_FIXTURES = {"etcd", "etcd_client", "etcd_prefix", "apiserver", "kubelet_factory", "app", "client", "api",
                    "revision", "make_env", "env", "lab", "etcd_cluster", "storage", "engine",
                    "component_factory"}


def pytest_configure(config):
    os.environ.setdefault(SESSION_MARK, uuid.uuid4().hex)
    config.addinivalue_line("markers", "integration: starts real processes (etcd, API server, kubelet, ...); "
                                       "`make test-fast` leaves these out")


def pytest_collection_modifyitems(config, items):
    """Mark `integration` every test that uses a process fixture or needs Docker or the process
    runtime's programs (markers `docker`, `process`); the rest are unit tests."""
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())) or \
                item.get_closest_marker("docker") or item.get_closest_marker("process"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """A unit test that starts a process fails, saying so: mark its module `integration` instead."""
    if request.node.get_closest_marker("integration"):
        return

    def refuse(*args, **kwargs):
        raise AssertionError(f"unit test {request.node.nodeid} started a process ({args[1] if len(args) > 1 else kwargs.get('args')!r}): "
                             f"use a process fixture or mark it `pytest.mark.integration`")
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


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


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    """One single-member etcd per test module; yields its Server handle (client_url, host, port).

    Tests share it through their own key prefixes (`etcd_prefix`); a test that
    needs an etcd of its own (to stop it, say) starts one with start_etcd.
    """
    server = start_etcd(tmp_path_factory.mktemp("etcd") / "etcd-data")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def etcd_client(etcd):
    """An etcd3-API client (pyetcd) on the module's etcd."""
    import pyetcd
    client = pyetcd.client(etcd.host, etcd.port)
    yield client
    client.close()


@pytest.fixture
def etcd_prefix(request):
    """This test's own root in the shared etcd (the API server's --etcd-prefix), e.g. `/t-1a2b3c4d/registry`."""
    return f"/t-{uuid.uuid4().hex[:8]}/registry"


@pytest.fixture
def apiserver(etcd, etcd_prefix, tmp_path):
    """`python -m labserver apiserver` on a free port, on the shared etcd under this test's prefix."""
    server = start_apiserver(etcd.client_url, tmp_path / "apiserver.log", extra_args=[f"--etcd-prefix={etcd_prefix}"])
    yield server
    server.stop()


@pytest.fixture
def kubelet_factory(apiserver, tmp_path):
    """Start kubelets against the apiserver fixture; at the end all are stopped and what their runtimes
    still hold is removed (a stopped kubelet leaves its pods running, as upstream's does)."""
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
    for flags in {s.flags["root-dir"]: s.flags for s in started}.values():
        remove_pods(node_runtime(flags["runtime"], flags["root-dir"], flags.get("container-runtime-endpoint")),
                    say=lambda line: None)


@pytest.fixture
def component_factory(apiserver, tmp_path):
    """start("scheduler" | "controller-manager", *flags): that component on the apiserver fixture,
    its log in tmp_path; every one started is stopped at the end."""
    starters = {"scheduler": start_scheduler, "controller-manager": start_controller_manager}
    started = []

    def start(name: str, *flags: str):
        server = starters[name](apiserver.url, tmp_path / f"{name}.log", extra_args=list(flags))
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def controller_manager(component_factory):
    """`python -m labserver controller-manager` on the apiserver fixture, /healthz on a free port."""
    return component_factory("controller-manager")
