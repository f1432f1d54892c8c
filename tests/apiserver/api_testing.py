"""Bodies the API server tests share: the post's nginx pod and a minimal pod."""
from __future__ import annotations

NGINX_POD = {  # the post's pod, as JSON
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"},
    "spec": {
        "containers": [
            {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}],
             "volumeMounts": [{"mountPath": "/var/log/nginx", "name": "nginx-logs"}]},
            {"name": "log-truncator", "image": "busybox",
             "command": ["/bin/sh"],
             "args": ["-c", "while true; do cat /dev/null > /logdir/access.log; sleep 10; done"],
             "volumeMounts": [{"mountPath": "/logdir", "name": "nginx-logs"}]},
        ],
        "volumes": [{"name": "nginx-logs", "emptyDir": {}}],
    },
}


def pod(name: str, node: str | None = None, labels: dict | None = None, **spec) -> dict:
    """A minimal valid pod."""
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}
    if node:
        body["spec"]["nodeName"] = node
    if labels:
        body["metadata"]["labels"] = labels
    return body
