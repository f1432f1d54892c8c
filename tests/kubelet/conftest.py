"""Fixtures for the kubelet's tests: an in-process kubelet on a FakeRuntime against a REAL API server.

The API server and etcd are real processes (tests/conftest.py); only the
container runtime is faked, so these tests are about the kubelet's own logic:
what it asks the runtime to do and what it writes to the API server.
"""
from __future__ import annotations

import pytest

from fake_runtime import FakeRuntime
from kubelet_testing import Env, fast_config
from labserver.kubelet.client import APIClient
from labserver.kubelet.kubelet import Kubelet, KubeletConfig
from labserver.lab.supervise.procs import wait_for


@pytest.fixture
def make_env(apiserver, tmp_path):
    """Start in-process kubelets (FakeRuntime by default); all are stopped at the end."""
    started: list[Kubelet] = []

    def make(runtime: FakeRuntime | None = None, cfg: KubeletConfig | None = None) -> Env:
        runtime = runtime or FakeRuntime(tmp_path / "runtime")
        client = APIClient(apiserver.url)
        kubelet = Kubelet(cfg or fast_config(), runtime, client)
        kubelet.start()
        started.append(kubelet)
        return Env(kubelet, runtime, APIClient(apiserver.url))

    yield make
    for kubelet in started:
        kubelet.stop()


@pytest.fixture
def env(make_env) -> Env:
    """One in-process kubelet on a FakeRuntime, node registered."""
    e = make_env()
    assert e.kubelet.node.registered.wait(15), "node never registered"
    wait_for(lambda: e.kubelet.source.synced.is_set(), 15, "first pod list")
    return e
