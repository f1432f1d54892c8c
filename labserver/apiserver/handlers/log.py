"""pods/log: the API server proxies to the kubelet that runs the pod (registry/core/pod/rest/log.go).

The kubelet answers `GET /containerLogs/<ns>/<pod>/<container>` with plain
text, which is streamed back as it comes, so `kubectl logs -f` follows until
the container ends or kubectl goes away. The options (follow, timestamps,
tailLines, sinceSeconds, sinceTime, limitBytes, previous) are checked here and
applied by the kubelet. Where the kubelet is and what may go wrong on the way
(no pod 404, no node or container 400, kubelet unreachable 503, no answer
504): kubelet_proxy.py.
"""
from __future__ import annotations

from urllib.parse import quote, urlencode

from flask import Response, request

from ..errors import bad_request
from ..kubelet_proxy import locate, stream_get
from .request import Scope

PASS_THROUGH = ("tailLines", "timestamps", "follow", "previous", "sinceSeconds", "sinceTime", "limitBytes")
POSITIVE = {"sinceSeconds": "sinceSeconds: Invalid value: must be greater than 0",
            "limitBytes": "limitBytes: Invalid value: must be greater than 0",
            "tailLines": "tailLines: Invalid value: must be greater than or equal to 0"}


def _check_options() -> None:
    """The PodLogOptions validation upstream does before asking the kubelet."""
    for name, message in POSITIVE.items():
        if name in request.args:
            try:
                value = int(request.args[name])
            except ValueError:
                raise bad_request(f"{name}: Invalid value: {request.args[name]!r}: must be an integer") from None
            if value < (0 if name == "tailLines" else 1):
                raise bad_request(message)
    if "sinceSeconds" in request.args and "sinceTime" in request.args:
        raise bad_request("at most one of `sinceTime` or `sinceSeconds` may be specified")


def log(scope: Scope) -> Response:
    _check_options()
    target = locate(scope)
    params = {k: request.args[k] for k in PASS_THROUGH if k in request.args}
    path = "/containerLogs/" + "/".join(quote(p, safe="") for p in (scope.namespace, scope.name, target.container))
    if params:
        path += "?" + urlencode(params)
    return Response(stream_get(target, path, "logs"), mimetype="text/plain")
