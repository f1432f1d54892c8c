"""A 3-member etcd cluster behind one API server: --etcd-servers lists them all; losing any one is harmless."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from api_testing import pod
from labserver.lab.supervise.components import start_apiserver
from labserver.lab.supervise.etcd import etcd_binary, is_healthy
from labserver.lab.supervise.procs import LabError, Process, free_port, start_process, wait_for

PODS = "/api/v1/namespaces/default/pods"


@dataclass
class Member:
    name: str
    client_url: str
    args: list
    log: Path
    process: Process | None = None

    def start(self):
        self.process = start_process(self.args, self.log, name=self.name)
        self.wait_healthy()

    def wait_healthy(self):
        """Wait for /health; a member that exited fails the wait at once, with its log's end."""
        def healthy():
            if not self.process.alive():
                raise LabError(f"etcd member {self.name} exited:\n{self.process.log_tail(5)}")
            return is_healthy(self.client_url)
        wait_for(healthy, 30, f"etcd member {self.name}")

    def stop(self):
        if self.process:
            self.process.stop()


def _members(tmp_path: Path, attempt: int) -> list[Member]:
    specs = [(f"m{i}", f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}") for i in range(3)]
    initial = ",".join(f"{name}={peer}" for name, _, peer in specs)
    return [Member(name, client, [etcd_binary(), "--name", name, "--data-dir", str(tmp_path / f"{name}-{attempt}"),
                                  "--listen-client-urls", client, "--advertise-client-urls", client,
                                  "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                  "--initial-cluster", initial, "--log-level", "warn"],
                   tmp_path / f"{name}-{attempt}.log") for name, client, peer in specs]


@pytest.fixture
def etcd_cluster(tmp_path):
    """Three etcd members on loopback, all started; each can be stopped and started again.

    The six ports are picked free before the first member starts, and a member
    binds its two only once it runs: on a busy machine another process (often an
    outgoing connection's ephemeral port) can take one in between, and that member
    exits with "address already in use". etcd cannot be handed a bound socket, so
    then the whole cluster starts again on new ports (a few times at most).
    """
    for attempt in range(3):
        members = _members(tmp_path, attempt)
        try:
            for m in members:   # all three start before any can become healthy (quorum)
                m.process = start_process(m.args, m.log, name=m.name)
            for m in members:
                m.wait_healthy()
        except BaseException as e:
            for m in members:
                m.stop()
            if isinstance(e, LabError) and "address already in use" in str(e) and attempt < 2:
                continue
            raise
        try:
            yield members
        finally:
            for m in members:
                m.stop()
        return


def test_api_server_survives_losing_any_member(etcd_cluster, tmp_path):
    """With all three listed, writes and reads go on while each member in turn is down."""
    server = start_apiserver(",".join(m.client_url for m in etcd_cluster), tmp_path / "api.log")
    try:
        names = []
        for m in etcd_cluster:
            m.stop()
            for i in range(4):   # more requests than the API server has etcd channels
                names.append(f"{m.name}-{i}")
                r = requests.post(server.url + PODS, json=pod(names[-1]), timeout=20)
                assert r.status_code == 201, r.text
            items = requests.get(server.url + PODS, timeout=20).json()["items"]
            assert [p["metadata"]["name"] for p in items] == sorted(names)
            m.start()
    finally:
        server.stop()
