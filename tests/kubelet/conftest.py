"""Fixtures for the kubelet's tests: an in-process kubelet on a FakeRuntime against a REAL API server.

The API server and etcd are real processes (tests/conftest.py); only the
container runtime is faked, so these tests are about the kubelet's own logic:
what it asks the runtime to do and what it writes to the API server.
"""
from __future__ import annotations

import pytest

from fake_runtime import FakeRuntime
from kubelet_testing import NODE, Env, fast_config
from labserver.kubelet.client import APIClient
from labserver.kubelet.kubelet import Kubelet, KubeletConfig
from labserver.lab.supervise.procs import wait_for


@pytest.fixture
def make_env(request, apiserver, tmp_path):
    """Start in-process kubelets (FakeRuntime by default); all are stopped at the end.

    On an API server of the test's own, the kubelet is node NODE and the Env's pods go in `default`.
    In a module marked shared_apiserver, the Env's pods go in the test's `namespace` and the kubelet
    (unless given a cfg) is a node of the test's own, `node-<namespace>`: it runs only the test's pods."""
    started: list[Kubelet] = []
    if request.node.get_closest_marker("shared_apiserver"):
        namespace = request.getfixturevalue("namespace")
        node = f"node-{namespace}"
    else:
        namespace, node = "default", NODE

    def make(runtime: FakeRuntime | None = None, cfg: KubeletConfig | None = None) -> Env:
        runtime = runtime or FakeRuntime(tmp_path / "runtime")
        client = APIClient(apiserver.url)
        cfg = cfg or fast_config(node)
        kubelet = Kubelet(cfg, runtime, client)
        kubelet.start()
        started.append(kubelet)
        return Env(kubelet, runtime, APIClient(apiserver.url), namespace=namespace, node=cfg.node.name)

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
