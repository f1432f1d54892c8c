"""pods/log: the API server proxies to the kubelet that runs the pod (registry/core/pod/rest/log.go).

The node's InternalIP and its daemonEndpoints.kubeletEndpoint.Port say where
the kubelet listens; the kubelet answers
`GET /containerLogs/<ns>/<pod>/<container>` with plain text, streamed back as
it comes (so `kubectl logs -f` follows). Everything that can go wrong on the
way is a Status: no such pod (404), no node or container (400), the kubelet
unreachable (503).
"""
from __future__ import annotations

import requests
from flask import Response, request

from ..errors import APIError, bad_request, unavailable
from ..resources import lookup
from .request import Scope, storage

PASS_THROUGH = ("tailLines", "timestamps", "follow", "previous", "sinceSeconds", "sinceTime", "limitBytes")


def _kubelet_address(node: dict) -> tuple[str, int]:
    status = node.get("status") or {}
    ip = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), None)
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    if not ip or not port:
        raise bad_request(f'node "{node["metadata"]["name"]}" does not report an InternalIP address and '
                          f"kubelet port, so its logs cannot be reached")
    return ip, int(port)


def _container(pod: dict) -> str:
    name = pod["metadata"]["name"]
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    wanted = request.args.get("container")
    if not wanted:
        if len(names) == 1:
            return names[0]
        raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                          f"[{' '.join(names)}]")
    if wanted not in names:
        raise bad_request(f"container {wanted} is not valid for pod {name}")
    return wanted


def log(scope: Scope) -> Response:
    pod = storage().get(scope.resource, scope.namespace, scope.name)
    container = _container(pod)
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise bad_request(f"pod {scope.name} does not have a host assigned")
    ip, port = _kubelet_address(storage().get(lookup("", "v1", "nodes"), None, node_name))
    url = f"http://{ip}:{port}/containerLogs/{scope.namespace}/{scope.name}/{container}"
    params = {k: request.args[k] for k in PASS_THROUGH if k in request.args}
    follow = request.args.get("follow") in ("true", "1")
    try:
        upstream = requests.get(url, params=params, stream=True, timeout=(3, None if follow else 30))
    except requests.RequestException as e:
        raise unavailable(f"cannot reach the kubelet of node {node_name} at {ip}:{port} for logs: "
                          f"{type(e).__name__}") from None
    if upstream.status_code != 200:
        text = upstream.text
        upstream.close()
        try:
            status = upstream.json() if text.startswith("{") else None
        except ValueError:
            status = None
        if isinstance(status, dict) and status.get("kind") == "Status":
            raise APIError(upstream.status_code, status.get("reason") or "InternalError",
                           status.get("message") or text, status.get("details"))
        raise APIError(upstream.status_code if upstream.status_code < 600 else 500,
                       "NotFound" if upstream.status_code == 404 else "InternalError",
                       f"kubelet {ip}:{port}: {text.strip() or upstream.reason}")

    def stream():
        try:
            yield from upstream.iter_content(chunk_size=None)
        finally:
            upstream.close()
    return Response(stream(), mimetype="text/plain")
