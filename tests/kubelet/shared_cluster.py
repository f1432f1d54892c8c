"""One cluster for a whole end-to-end module: the module's API server and one kubelet per runtime.

test_e2e.py's `cluster` starts an API server and a kubelet for every test (~0.5 s of CPU each, mostly
imports). A module whose tests neither restart nor stop a component, nor need kubelet flags of their
own, shares them instead: mark it `pytest.mark.shared_apiserver` (tests/conftest.py: one API server,
`module_apiserver`) and import the fixtures here,

    from shared_cluster import cluster, module_kubelet, runtime_name  # noqa: F401  (fixtures)

Then `runtime_name` is module-scoped over [process, docker] (pytest runs all of one runtime's tests,
then the other's), `module_kubelet` is that runtime's one kubelet (node `lab-node-<runtime>`), and
`cluster` is a NamespacedCluster: test_e2e's Cluster seen from the test's own namespace (the
`namespace` fixture), whose pods are deleted when the test ends. A test that needs a private cluster
stays in a module that imports test_e2e's fixtures instead.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from kubelet_testing import nginx_pod, running_ready
from labserver.kubelet.client import APIClient
from labserver.lab.supervise.components import start_kubelet
from labserver.lab.supervise.procs import wait_for
from labserver.lab.supervise.teardown import node_runtime, remove_pods
from pod_ranges import pod_cidr
from runtimes_available import runtime_skip
from test_e2e import Cluster


class NamespacedCluster(Cluster):
    """The module's API server and one runtime's kubelet (test_e2e's Cluster without a kubelet of its
    own), seen from one test's namespace: pods are created and looked up there, events read there,
    and kubectl runs with --namespace."""

    def __init__(self, apiserver, kubelet, runtime: str, namespace: str, tmp_path: Path):
        self.apiserver, self.kubelet, self.runtime, self.namespace = apiserver, kubelet, runtime, namespace
        self.node, self.root, self.tmp = kubelet.flags["hostname-override"], Path(kubelet.flags["root-dir"]), tmp_path
        self.client = APIClient(apiserver.url)

    def start_kubelet(self):
        raise AssertionError("the module's kubelet is shared: a test that restarts one needs a private cluster")

    def create(self, pod: dict, namespace: str | None = None) -> dict:
        return super().create(pod, namespace or self.namespace)

    def pod(self, name: str, namespace: str | None = None) -> dict | None:
        return super().pod(name, namespace or self.namespace)

    def events(self, pod: dict) -> list[dict]:
        uid = pod["metadata"]["uid"]
        return [e for e in self.client.get(f"/api/v1/namespaces/{self.namespace}/events")["items"]
                if e["involvedObject"].get("uid") == uid]

    def kubectl(self, *args: str, timeout: float = 60) -> str:
        return super().kubectl(f"--namespace={self.namespace}", *args, timeout=timeout)

    def run_nginx(self, name: str = "nginx") -> dict:
        self.create(nginx_pod(name, node=self.node))
        return self.wait_pod(name, running_ready, "Running with both containers ready")


@pytest.fixture(scope="module", params=["process", "docker"])
def runtime_name(request):
    """The runtime under test, module-scoped: pytest runs all of one runtime's tests, then the other's."""
    reason = runtime_skip(request.param)
    if reason:
        pytest.skip(reason)
    return request.param


@pytest.fixture(scope="module")
def module_kubelet(module_apiserver, runtime_name, tmp_path_factory):
    """One kubelet of this runtime (node `lab-node-<runtime>`, the flags test_e2e's cluster gives its
    own) on the module's API server, for all the runtime's tests; at the end it is stopped and what its
    runtime still holds is removed (as kubelet_factory does: a stopped kubelet leaves its pods running)."""
    tmp = tmp_path_factory.mktemp(f"kubelet-{runtime_name}")
    node = f"lab-node-{runtime_name}"
    extra = ["--restart-backoff=1s", *([f"--pod-cidr={pod_cidr(1)}"] if runtime_name == "process" else [])]
    kubelet = start_kubelet(module_apiserver.url, tmp / f"kubelet-{node}", tmp / f"kubelet-{node}.log",
                            hostname=node, runtime=runtime_name, extra_args=extra)
    try:
        yield kubelet
    finally:
        kubelet.stop()
        flags = kubelet.flags
        remove_pods(node_runtime(flags["runtime"], flags["root-dir"], flags.get("container-runtime-endpoint")),
                    say=lambda line: None)


@pytest.fixture
def cluster(request, module_apiserver, module_kubelet, runtime_name, namespace, tmp_path):
    """The module's cluster in this test's namespace; the test's pods are deleted when it ends."""
    assert request.node.get_closest_marker("shared_apiserver"), \
        "shared_cluster's fixtures need the module marked pytest.mark.shared_apiserver (its namespace is made there)"
    c = NamespacedCluster(module_apiserver, module_kubelet, runtime_name, namespace, tmp_path)
    yield c
    pods = f"/api/v1/namespaces/{namespace}/pods"
    for pod in c.client.get(pods)["items"]:  # leave no containers behind on the shared kubelet
        c.client.delete(f"{pods}/{pod['metadata']['name']}", {"gracePeriodSeconds": 1})
    wait_for(lambda: not c.client.get(pods)["items"], 60, "pods deleted")
