"""Bodies the API server tests share: the post's nginx pod and a minimal pod."""
from __future__ import annotations

from labserver.lab.notebook.manifests import post_pod

NGINX_POD = post_pod()  # the post's pod, from notebooks/nginx.yaml


def pod(name: str, node: str | None = None, labels: dict | None = None, **spec) -> dict:
    """A minimal valid pod."""
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}
    if node:
        body["spec"]["nodeName"] = node
    if labels:
        body["metadata"]["labels"] = labels
    return body
