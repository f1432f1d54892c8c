"""Node registration and heartbeats against a real API server (fake runtime)."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kubelet_testing import fast_config
from labserver.kubelet import timefmt
from labserver.kubelet.client import APIClient
from labserver.kubelet.node_status import LEASE_NAMESPACE, NodeStatusManager
from labserver.lab.supervise.components import start_apiserver
from labserver.lab.supervise.procs import free_port, wait_for

# One API server for the module; each test's kubelet registers a node named after the test's namespace.
pytestmark = [pytest.mark.shared_apiserver]


@pytest.fixture
def node_name(namespace) -> str:
    return f"{namespace}-node"


@pytest.fixture
def env(make_env, node_name):
    """The kubelet tests' `env` (one in-process kubelet on a FakeRuntime, node registered), its node this test's."""
    e = make_env(cfg=fast_config(node_name))
    assert e.kubelet.node.registered.wait(15), "node never registered"
    wait_for(lambda: e.kubelet.source.synced.is_set(), 15, "first pod list")
    return e


def test_node_registered_with_labels_info_and_ready(env, node_name):
    """The node has its hostname/os/arch labels, addresses, capacity, full nodeInfo and Ready condition."""
    node = env.client.get(f"/api/v1/nodes/{node_name}")
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == node_name
    assert labels["kubernetes.io/os"] == "linux" and labels["kubernetes.io/arch"]
    status = node["status"]
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    assert {"type": "Hostname", "address": node_name} in status["addresses"]
    assert status["capacity"]["pods"] == "110" and status["allocatable"]["cpu"]
    assert len(status["nodeInfo"]) == 10 and status["nodeInfo"]["containerRuntimeVersion"] == "fake://1.0"
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["reason"] == "KubeletReady"
    assert ready["lastHeartbeatTime"] and ready["lastTransitionTime"]


def test_node_events_shown_by_kubectl_describe(env, node_name):
    """Starting and NodeReady events are recorded on the node, and `kubectl describe node` lists them.

    The node events of this test's kubelet (source.host: other tests' kubelets post theirs too)."""
    env.kubelet.recorder.flush()
    events = [e for e in env.client.get("/api/v1/namespaces/default/events")["items"]
              if e["involvedObject"]["kind"] == "Node" and e["source"].get("host") == node_name]
    assert {"Starting", "NodeReady", "NodeHasSufficientMemory"} <= {e["reason"] for e in events}
    assert all(e["involvedObject"]["name"] == e["involvedObject"]["uid"] == node_name for e in events)
    kubectl = str(Path(sys.executable).parent / "kubectl")
    out = subprocess.run([kubectl, f"--server={env.client.base_url}", "describe", "node", node_name],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Starting kubelet." in out.stdout.split("Events:")[1] and "NodeReady" in out.stdout


def test_lease_renewed(env, node_name):
    """The Lease in kube-node-lease names the node and its renewTime keeps moving."""
    path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{node_name}"
    first = env.client.get(path)
    assert first["spec"]["holderIdentity"] == node_name and first["spec"]["leaseDurationSeconds"] == 40
    assert timefmt.parse(first["spec"]["renewTime"]) is not None
    assert first["spec"]["renewTime"].endswith("Z") and "." in first["spec"]["renewTime"]
    wait_for(lambda: env.client.get(path)["spec"]["renewTime"] != first["spec"]["renewTime"], 10,
             "lease renewal")


def test_registering_again_is_harmless(env, apiserver, node_name):
    """A second registration (a kubelet restart) keeps the node's uid and labels and succeeds."""
    before = env.client.get(f"/api/v1/nodes/{node_name}")
    again = NodeStatusManager(APIClient(apiserver.url), fast_config(node_name).node, "fake://2.0")
    again.register()
    after = env.client.get(f"/api/v1/nodes/{node_name}")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["labels"]["kubernetes.io/hostname"] == node_name
    assert after["status"]["nodeInfo"]["containerRuntimeVersion"] == "fake://2.0"


def test_status_written_on_change_only(env, node_name):
    """An unchanged status is not rewritten; a new runtime version is."""
    mgr = env.kubelet.node
    mgr.stop()  # no background writes during the check
    assert mgr.write_status() is False
    env.runtime.version_text = "fake://3.0"
    assert mgr.write_status() is True
    node = env.client.get(f"/api/v1/nodes/{node_name}")
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == "fake://3.0"


def test_node_not_ready_while_the_runtime_is_down(env, node_name):
    """A runtime that stops answering turns the node NotReady (saying why), and Ready again when it is back."""
    def ready():
        node = env.client.get(f"/api/v1/nodes/{node_name}")
        return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    first = ready()
    env.runtime.down = "cannot connect to the engine"
    down = wait_for(lambda: (lambda c: c if c["status"] == "False" else None)(ready()), 10, "NotReady")
    assert down["reason"] == "KubeletNotReady" and "cannot connect to the engine" in down["message"]
    env.runtime.down = None
    back = wait_for(lambda: (lambda c: c if c["status"] == "True" else None)(ready()), 10, "Ready again")
    assert back["lastTransitionTime"] >= first["lastTransitionTime"]
    env.kubelet.recorder.flush()
    reasons = [e["reason"] for e in env.client.get("/api/v1/namespaces/default/events")["items"]
               if e["involvedObject"]["kind"] == "Node" and e["involvedObject"]["name"] == node_name]
    assert "NodeNotReady" in reasons


def test_registration_waits_for_the_api_server(etcd, tmp_path):
    """Registration retries with back-off until an API server appears on its address.

    A private API server (it must not answer at first), on the etcd's default prefix /registry."""
    port = free_port()
    mgr = NodeStatusManager(APIClient(f"127.0.0.1:{port}"), fast_config("late-node").node, "fake://1.0")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("node", mgr.register()), daemon=True)
    t.start()
    assert not mgr.registered.wait(0.5)  # nothing answers yet
    server = start_apiserver(etcd.client_url, tmp_path / "late-apiserver.log", port=port)
    try:
        t.join(30)
        assert result["node"]["metadata"]["name"] == "late-node"
        assert APIClient(server.url).get("/api/v1/nodes/late-node")["status"]["nodeInfo"]["bootID"]
    finally:
        mgr.stop()
        server.stop()


def test_default_node_name_is_lowercased_hostname():
    """Without --hostname-override the node is named after the host, lowercased."""
    from labserver.kubelet.node_status import default_node_name
    assert default_node_name() == socket.gethostname().lower()
