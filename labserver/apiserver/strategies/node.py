"""Nodes: cluster-scoped, status kept apart from spec (pkg/registry/core/node/strategy.go).

A kubelet registers its node with a full status in the create, so, as
upstream, the status given on create is kept; after that only `nodes/status`
changes it.
"""
from __future__ import annotations

from . import Strategy


class NodeStrategy(Strategy):
    has_status = True

    def default(self, node: dict) -> None:
        node.setdefault("spec", {})
        status = node.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("daemonEndpoints", {"kubeletEndpoint": {"Port": 0}})
            status.setdefault("nodeInfo", {k: "" for k in (
                "architecture", "bootID", "containerRuntimeVersion", "kernelVersion", "kubeProxyVersion",
                "kubeletVersion", "machineID", "operatingSystem", "osImage", "systemUUID")})
