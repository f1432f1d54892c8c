"""pods/exec, pods/attach, pods/portforward: streams relayed to the kubelet's server.

kubectl opens a WebSocket (`v5.channel.k8s.io` for exec and attach, the
port-forward protocols for port-forward) on the pod's subresource; the API
server checks the pod and container, then relays the upgrade to the kubelet
(`/exec/<ns>/<pod>/<container>`, `/attach/...`, `/portForward/<ns>/<pod>`)
with the same query and splices the two connections (kubelet_proxy.py). The
kubelet speaks the protocol (kubelet/remotecommand.py); what it refuses, such
as a SPDY upgrade, comes back as its Status, which kubectl prints.
"""
from __future__ import annotations

from urllib.parse import quote

from flask import Response, request

from ..kubelet_proxy import locate, upgrade_proxy
from .request import Scope

KUBELET_PATHS = {"exec": "exec", "attach": "attach", "portforward": "portForward"}


class _HandedOver(Response):
    """What the WSGI server gets once the connection was spliced to the kubelet: nothing to write.

    werkzeug takes a ConnectionError from the response as a dropped
    connection (and writes nothing); other servers get an empty body.
    """

    def __call__(self, environ, start_response):
        if "werkzeug.socket" in environ:
            raise ConnectionError("the stream was handed over to the kubelet and has ended")
        return iter(())


def stream(scope: Scope) -> Response:
    target = locate(scope, with_container=scope.subresource != "portforward")
    parts = [scope.namespace, scope.name] + ([target.container] if target.container else [])
    path = f"/{KUBELET_PATHS[scope.subresource]}/" + "/".join(quote(p, safe="") for p in parts)
    query = request.query_string.decode("latin-1")
    upgrade_proxy(target, path + (f"?{query}" if query else ""), scope.subresource)
    return _HandedOver()
