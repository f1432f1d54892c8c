"""Helpers for the kubelet's tests: the post's pod, short test intervals, an Env around a kubelet."""
from __future__ import annotations

import copy
from dataclasses import dataclass

from labserver.kubelet.client import APIClient, APIStatusError
from labserver.kubelet.kubelet import Kubelet, KubeletConfig
from labserver.kubelet.node_status import NodeConfig
from labserver.kubelet.sync import SyncConfig
from labserver.lab.notebook.manifests import post_pod
from labserver.lab.supervise.procs import wait_for

from fake_runtime import FakeRuntime  # noqa: F401  (re-exported for the tests)

NODE = "test-node"

# The post's pod (notebooks/nginx.yaml), bound to the test node.
NGINX_POD = post_pod(node=NODE)


def nginx_pod(name: str = "nginx", node: str = NODE, **spec) -> dict:
    pod = copy.deepcopy(NGINX_POD)
    pod["metadata"]["name"] = name
    pod["spec"]["nodeName"] = node
    pod["spec"].update(spec)
    return pod


def fast_config(name: str = NODE, **sync) -> KubeletConfig:
    """Short intervals so tests see heartbeats, back-offs and resyncs quickly."""
    return KubeletConfig(
        node=NodeConfig(name=name, node_ip="127.0.0.1", port=10250, lease_interval=0.2,
                        status_interval=0.2, register_backoff=(0.05, 0.5)),
        sync=SyncConfig(node_name=name, **{"restart_backoff": 0.5, "max_backoff": 2.0,
                                           "resync_interval": 1.0, "retry_interval": 0.2, **sync}),
        relist_period=0.1, watch_backoff=(0.05, 0.5))


class PodAPI:
    """Pod helpers over `self.client` (an APIClient on the API server under test), in `self.namespace`
    unless told another."""

    client: APIClient
    wait_timeout: float = 15
    namespace: str = "default"

    def create(self, pod: dict, namespace: str | None = None) -> dict:
        return self.client.post(f"/api/v1/namespaces/{namespace or self.namespace}/pods", pod)

    def pod(self, name: str, namespace: str | None = None) -> dict | None:
        try:
            return self.client.get(f"/api/v1/namespaces/{namespace or self.namespace}/pods/{name}")
        except APIStatusError as e:
            if e.code == 404:
                return None
            raise

    def wait_pod(self, name: str, check, what: str, timeout: float | None = None) -> dict:
        """Poll the pod from the API server until check(pod) holds; return it."""
        def ok():
            pod = self.pod(name)
            return pod if pod is not None and check(pod) else None
        return wait_for(ok, timeout or self.wait_timeout, f"pod {name}: {what}")

    @staticmethod
    def container_status(pod: dict, container: str) -> dict:
        return next(s for s in pod["status"].get("containerStatuses", []) if s["name"] == container)

    def events(self, pod: dict) -> list[dict]:
        uid, namespace = pod["metadata"]["uid"], pod["metadata"].get("namespace") or self.namespace
        return [e for e in self.client.get(f"/api/v1/namespaces/{namespace}/events")["items"]
                if e["involvedObject"].get("uid") == uid]


@dataclass
class Env(PodAPI):
    """A running in-process kubelet, its fake runtime, and a client on the same API server; the test's pods
    go in `namespace`, bound to `node` (the kubelet's node)."""

    kubelet: Kubelet
    runtime: FakeRuntime
    client: APIClient
    namespace: str = "default"
    node: str = NODE


def running_ready(pod: dict) -> bool:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return pod["status"].get("phase") == "Running" and statuses and all(s["ready"] for s in statuses)
