"""Shared fixtures: real etcd, API server and kubelet processes on free loopback ports.

Every process is started in a temp dir and stopped when its fixture ends, even
when the test fails. Nothing here fakes etcd.
"""
from __future__ import annotations

import pytest

from labserver.lab.components import start_apiserver, start_kubelet
from labserver.lab.etcd import start_etcd


@pytest.fixture
def etcd(tmp_path):
    """A fresh single-member etcd; yields the EtcdServer (client_url, host, port)."""
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
