"""The namespace controller, for real: etcd, the API server, a kubelet (process runtime) and
`python -m labserver controller-manager` as processes, driven with HTTP, kubectl 1.37 and the CLI.

Deleting a namespace with a running pod in it ends with the pod's processes
stopped on the node, the namespace gone and nothing left in etcd under it.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from labserver.client import APIClient, APIStatusError
from labserver.lab.notebook.manifests import post_pod
from labserver.lab.supervise.procs import free_port, pid_alive, stop_pid, wait_for

NODE = "lab-node"
KUBECTL = str(Path(sys.executable).parent / "kubectl")


def _process_runtime_missing() -> str | None:
    from labserver.lab.machine.sysdeps import install_hint
    return install_hint("process") or None


def _gone(client: APIClient, path: str) -> bool:
    try:
        client.get(path)
        return False
    except APIStatusError as e:
        return e.code == 404


def _keys_under(etcd_client, namespace: str, etcd_prefix: str) -> list[str]:
    """Every etcd key of an object in `namespace`, and the namespace's own key (below the test's prefix)."""
    keys = []
    for _, meta in etcd_client.get_prefix(f"{etcd_prefix}/"):
        key = meta.key.decode()
        rel = key[len(etcd_prefix):].split("/")   # ['', resource(, 'specs'), namespace, name]
        if (len(rel) >= 4 and rel[-2] == namespace) or key == f"{etcd_prefix}/namespaces/{namespace}":
            keys.append(key)
    return keys


def test_namespace_deletion_stops_its_pod_and_leaves_nothing(apiserver, kubelet_factory, controller_manager,
                                                             etcd_client, etcd_prefix, tmp_path):
    """DELETE of a namespace with a running pod, a lease and an event: Terminating (creates refused),
    then the controller deletes the pod gracefully (the kubelet stops its processes), the rest at once,
    finalizes the namespace, and etcd holds nothing under it."""
    missing = _process_runtime_missing()
    if missing:
        pytest.skip(missing)
    client = APIClient(apiserver.url)
    client.post("/api/v1/namespaces", {"metadata": {"name": "dev"}})
    kubelet_factory(hostname=NODE, runtime="process")
    client.post("/api/v1/namespaces/dev/pods", post_pod(node=NODE))
    client.post("/apis/coordination.k8s.io/v1/namespaces/dev/leases", {"metadata": {"name": "lock"}, "spec": {}})
    client.post("/api/v1/namespaces/dev/events", {"metadata": {"name": "note"}, "reason": "Test",
                                                  "involvedObject": {"kind": "Pod", "namespace": "dev"}})

    def running():
        pod = client.get("/api/v1/namespaces/dev/pods/nginx")
        statuses = pod["status"].get("containerStatuses") or []
        return pod if len(statuses) == 2 and all(s["ready"] for s in statuses) else None
    pod = wait_for(running, 60, "pod dev/nginx running 2/2")
    uid = pod["metadata"]["uid"]
    pids = [json.loads(p.read_text())["pid"]
            for p in (tmp_path / f"kubelet-{NODE}").glob(f"pods/{uid}/containers/*/state.json")]
    assert len(pids) == 2 and all(pid_alive(pid) for pid in pids)

    ns = client.delete("/api/v1/namespaces/dev")
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    refused = requests.post(f"{apiserver.url}/api/v1/namespaces/dev/pods", json=post_pod("late", node=NODE),
                            timeout=10)
    assert refused.status_code == 403
    assert refused.json()["message"] == ('pods "late" is forbidden: unable to create new content in namespace dev '
                                         'because it is being terminated')

    wait_for(lambda: _gone(client, "/api/v1/namespaces/dev"), 90, "namespace dev gone")
    assert not [pid for pid in pids if pid_alive(pid)], "the pod's processes still run"
    assert _keys_under(etcd_client, "dev", etcd_prefix) == []
    log = (tmp_path / "controller-manager.log").read_text()
    assert "namespace dev: all content deleted; finalized" in log


def test_kubectl_delete_namespace_returns_once_it_is_gone(apiserver, controller_manager, tmp_path):
    """`kubectl delete namespace dev` (it waits by default) ends with the namespace gone, its pods with it."""
    def kubectl(*args):
        return subprocess.run([KUBECTL, f"--server={apiserver.url}", f"--cache-dir={tmp_path / 'kube-cache'}",
                               *args], capture_output=True, text=True, timeout=90,
                              env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    client = APIClient(apiserver.url)
    client.post("/api/v1/namespaces", {"metadata": {"name": "dev"}})
    client.post("/api/v1/namespaces/dev/pods", post_pod("unbound"))   # no node: deleted at once
    out = kubectl("delete", "namespace", "dev")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'namespace "dev" deleted'
    assert _gone(client, "/api/v1/namespaces/dev")
    missing = kubectl("get", "namespace", "dev")
    assert missing.returncode == 1 and 'namespaces "dev" not found' in missing.stderr


def test_conditions_say_what_remains_while_a_finalizer_holds_a_pod(apiserver, controller_manager):
    """A pod held by a finalizer keeps its namespace Terminating with upstream's conditions; removing
    the finalizer lets the controller finish."""
    client = APIClient(apiserver.url)
    client.post("/api/v1/namespaces", {"metadata": {"name": "held"}})
    pod = post_pod("kept")
    pod["metadata"]["finalizers"] = ["example.com/hold"]
    client.post("/api/v1/namespaces/held/pods", pod)
    client.delete("/api/v1/namespaces/held")

    def remaining():
        ns = client.get("/api/v1/namespaces/held")
        conditions = {c["type"]: c for c in ns["status"].get("conditions") or []}
        c = conditions.get("NamespaceFinalizersRemaining")
        return conditions if c and c["status"] == "True" else None
    conditions = wait_for(remaining, 30, "NamespaceFinalizersRemaining True")
    assert conditions["NamespaceContentRemaining"]["reason"] == "SomeResourcesRemain"
    assert conditions["NamespaceContentRemaining"]["message"] == \
        "Some resources are remaining: pods has 1 resource instances"
    assert conditions["NamespaceFinalizersRemaining"]["message"] == \
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    assert conditions["NamespaceDeletionDiscoveryFailure"]["status"] == "False"
    assert conditions["NamespaceDeletionDiscoveryFailure"]["reason"] == "ResourcesDiscovered"
    client.patch("/api/v1/namespaces/held/pods/kept", {"metadata": {"finalizers": None}})
    wait_for(lambda: _gone(client, "/api/v1/namespaces/held"), 30, "namespace held gone")


def test_cli_kubeconfig_and_unreachable_api_server(apiserver, tmp_path):
    """--kubeconfig names the server as kubectl's does; an unreachable server is one line and exit 1."""
    refused = subprocess.run([sys.executable, "-m", "labserver", "controller-manager",
                              f"--master=http://127.0.0.1:{free_port()}", "--port=0"],
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]
    assert refused.stderr.startswith("controller-manager: cannot reach the API server")
    config = tmp_path / "kubeconfig"
    config.write_text(f"apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster: {{server: '{apiserver.url}'}}\n"
                      "contexts:\n- name: lab\n  context: {cluster: lab}\ncurrent-context: lab\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "labserver", "controller-manager", f"--kubeconfig={config}",
                             f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).text == "ok", 20,
                 "controller-manager /healthz ok")
    finally:
        stop_pid(proc.pid, group=False)
        proc.wait(10)
