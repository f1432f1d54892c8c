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

In parallel (`make test-unit`: pytest-xdist, `--dist loadgroup`) each test
module is one unit of work for one worker (its etcd is started once); the long
poles are handed out first (LONG_POLES). The tests on the post's fixed ports
(marker `posts_ports`, see POSTS_PORTS) are left out there: `make test` runs
them after the notebooks, one after another, beside the other tests. Process-runtime kubelets get pod ranges of
their worker's own (pod_ranges.py), and the leak check runs once, on the
controller, after every worker has ended.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from labserver.lab.supervise.components import (start_apiserver, start_controller_manager, start_kubelet,
                                                start_scheduler)
from labserver.lab.supervise.etcd import start_etcd
from labserver.lab.supervise.procs import pid_alive, stop_pid, wait_for
from labserver.lab.supervise.teardown import node_runtime, remove_pods
from pod_ranges import pod_cidr, worker_index
from runtimes_available import runtime_skip

# Every process the test session starts inherits this mark in its environment,
# so the session can prove at the end that it left nothing running.
SESSION_MARK = "LABSERVER_TEST_SESSION"


# Fixtures that start (or need) a real process: a test using any of them is an integration test.
PROCESS_FIXTURES = {"etcd", "etcd_client", "etcd_prefix", "apiserver", "kubelet_factory", "app", "client", "api",
                    "revision", "make_env", "env", "lab", "etcd_cluster", "storage", "engine",
                    "component_factory", "module_apiserver", "namespace"}


# The marker of a module whose tests share one API server (the `apiserver` fixture), each in its own namespace.
SHARED_APISERVER = "shared_apiserver"


def pytest_configure(config):
    os.environ.setdefault(SESSION_MARK, uuid.uuid4().hex)
    os.environ.setdefault(GROUPS_FILE, str(Path(tempfile.gettempdir()) / f"labserver-test-groups-{os.environ[SESSION_MARK]}"))
    config.addinivalue_line("markers", "integration: starts real processes (etcd, API server, kubelet, ...); "
                                       "`make test-fast` leaves these out")
    config.addinivalue_line("markers", f"{SHARED_APISERVER}: the module's tests share one API server process, "
                                       "each test in its own namespace (the `namespace` fixture)")
    config.addinivalue_line("markers", f"{POSTS_PORTS}: uses the post's fixed ports under the notebooks' lock; "
                                       "`make test-fixed-ports` runs these, `make test-unit` leaves them out")


# The marker of the tests that use the post's fixed ports (2379/8080/10250), as the notebooks do, with
# the checkout's .lab/, under the notebooks' lock: never beside the notebooks or each other. `make
# test-unit` leaves them out (-m "not posts_ports") and `make test-fixed-ports` runs them, after the
# notebooks, so no test worker waits on the lock. The `lab` fixture's tests are not among them: each
# has a temp state dir and free ports, and shares only the lab's pod ranges (127.1.0.0/16, 127.2.0.0/16
# ...) with the others: every kubelet starts at a random address of its /16 and skips one in use.
POSTS_PORTS = "posts_ports"
# Units of work that take longest (the slowest first), started first in parallel runs so that
# none of them is left to run alone at the end; the other modules follow in collection order.
LONG_POLES = ["tests/kubelet/test_streaming.py", "tests/kubelet/test_e2e.py",
              "tests/kubelet/test_e2e_pod_config.py", "tests/scheduler/test_scheduling.py",
              "tests/kubelet/test_e2e_probes.py", "tests/scheduler/test_scheduler_e2e.py",
              "tests/apiserver/test_etcd_cluster.py", "tests/apiserver/test_fuzz.py", "tests/lab/test_teardown.py",
              "tests/lab/test_cluster.py"]


# Where each worker writes its {nodeid: group} after collection, for the controller's scheduler.
GROUPS_FILE = "LABSERVER_TEST_GROUPS"


def _xdist_group(item) -> str | None:
    mark = item.get_closest_marker("xdist_group")
    return (mark.args[0] if mark.args else mark.kwargs.get("name")) if mark else None


def pytest_collection_modifyitems(config, items):
    """Mark `integration` every test that uses a process fixture or needs Docker or the process
    runtime's programs (markers `docker`, `process`); the rest are unit tests.

    Give each test its xdist group: its module's path, unless it names one.
    On an xdist worker, put the LONG_POLES first (every worker sorts alike) and write the
    groups down for GroupScheduling on the controller."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if PROCESS_FIXTURES & fixtures or item.get_closest_marker("docker") or item.get_closest_marker("process"):
            item.add_marker(pytest.mark.integration)
        if _xdist_group(item) is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    if worker_index() is not None:
        rank = {group: i for i, group in enumerate(LONG_POLES)}
        order = {id(item): (rank.get(_xdist_group(item), len(rank)), i) for i, item in enumerate(items)}
        items.sort(key=lambda item: order[id(item)])
        path = Path(f"{os.environ[GROUPS_FILE]}.gw{worker_index()}")
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps({item.nodeid: _xdist_group(item) for item in items}))
        tmp.replace(path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup`, keeping each xdist_group on one worker.

    xdist 3.8's own loadgroup tells the controller a test's group by appending `@group` to its
    node id, which pytest 9.2's structured node ids ignore: every test would be scheduled alone
    (pytest-dev/pytest-xdist#1386). Here the workers write the groups to a file instead."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        groups: dict[str, str] = {}

        def _split_scope(self, nodeid: str) -> str:
            if nodeid not in self.groups:   # every worker has collected (and written) by the time this is asked
                files = sorted(Path(os.environ[GROUPS_FILE]).parent.glob(Path(os.environ[GROUPS_FILE]).name + ".gw*"))
                self.groups = json.loads(files[0].read_text()) if files else {}
            return self.groups.get(nodeid) or nodeid.split("::")[0]
    config.option.loadscopereorder = False   # keep the collection order: the long poles first
    return GroupScheduling(config, log)


@pytest.fixture(scope="module")
def jupytext_imported():
    """jupytext, for the tests that read the notebooks' text sources. Imported here, once per module and
    before the guard below, not at collection (with nbformat it costs every xdist worker ~1 s of CPU):
    its import asks `pandoc --version`, which is not a process the test starts."""
    import jupytext
    return jupytext


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


@pytest.hookimpl(trylast=True)   # on the xdist controller: after its workers have been ended
def pytest_sessionfinish(session, exitstatus):
    """Fail the run if any process a test started is still running; then stop those (ours only).

    Every xdist worker has the session's mark too (the controller set it before starting them), and
    the processes of each: only the controller looks, once all workers are gone."""
    if worker_index() is not None:
        return
    for path in Path(os.environ[GROUPS_FILE]).parent.glob(Path(os.environ[GROUPS_FILE]).name + ".gw*"):
        path.unlink(missing_ok=True)
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


def _shares_apiserver(request) -> bool:
    return request.node.get_closest_marker(SHARED_APISERVER) is not None


@pytest.fixture
def etcd_prefix(request):
    """This test's own root in the shared etcd (the API server's --etcd-prefix), e.g. `/t-1a2b3c4d/registry`;
    in a module marked shared_apiserver, the module's API server's root."""
    if _shares_apiserver(request):
        return request.getfixturevalue("module_apiserver").flags["etcd-prefix"]
    return f"/t-{uuid.uuid4().hex[:8]}/registry"


@pytest.fixture(scope="module")
def module_apiserver(etcd, tmp_path_factory):
    """One API server for a whole module marked shared_apiserver (its tests get it as `apiserver`)."""
    prefix = f"/m-{uuid.uuid4().hex[:8]}/registry"
    server = start_apiserver(etcd.client_url, tmp_path_factory.mktemp("apiserver") / "apiserver.log",
                             extra_args=[f"--etcd-prefix={prefix}"])
    server.flags["etcd-prefix"] = prefix
    yield server
    server.stop()


@pytest.fixture
def apiserver(request, etcd, etcd_prefix, tmp_path):
    """`python -m labserver apiserver` on a free port, on the shared etcd under this test's prefix.

    A module marked `pytest.mark.shared_apiserver` gets one API server for all its tests (starting one
    costs ~0.5 s of CPU, most of it imports): each of its tests then works in its own `namespace`,
    and names any node or other cluster-wide object it creates after that namespace."""
    if _shares_apiserver(request):
        yield request.getfixturevalue("module_apiserver")
        return
    server = start_apiserver(etcd.client_url, tmp_path / "apiserver.log", extra_args=[f"--etcd-prefix={etcd_prefix}"])
    yield server
    server.stop()


@pytest.fixture
def namespace(apiserver) -> str:
    """A namespace of this test's own (`t-1a2b3c4d`), created on the API server; nothing deletes it
    (the module's etcd goes with the module)."""
    import requests
    name = f"t-{uuid.uuid4().hex[:8]}"
    r = requests.post(f"{apiserver.url}/api/v1/namespaces", timeout=30,
                      json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name


@pytest.fixture
def kubelet_factory(apiserver, tmp_path):
    """Start kubelets against the apiserver fixture; at the end all are stopped and what their runtimes
    still hold is removed (a stopped kubelet leaves its pods running, as upstream's does).

    A process-runtime kubelet started without --pod-cidr gets node 1's range of this xdist worker
    (pod_ranges.py); a test with more nodes passes each its own pod_cidr(n)."""
    started = []

    def start(hostname="lab-node", runtime="process", extra_args=None):
        reason = runtime_skip(runtime)
        if reason:
            pytest.skip(reason)
        if runtime == "process" and not any(a.startswith("--pod-cidr") for a in extra_args or ()):
            extra_args = [f"--pod-cidr={pod_cidr(1)}", *(extra_args or ())]
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
