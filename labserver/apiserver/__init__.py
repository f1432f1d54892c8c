"""The labserver API server: a Flask app that speaks Kubernetes' REST API over a real etcd.

`create_app(config)` builds it, Flask-tutorial style; `server.main` serves it
as `python -m labserver apiserver`. Whatever goes wrong is answered as a
metav1 Status JSON, never an HTML page or a traceback.
"""
from __future__ import annotations

import logging
import threading

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from .errors import APIError, bad_request, internal, method_not_allowed, too_large, warning_header

DEFAULTS = {
    "ETCD_SERVERS": ["http://127.0.0.1:2379"],     # one or more etcd client URLs
    "SERVICE_CLUSTER_IP_RANGE": "10.0.0.0/16",    # Services get their ClusterIPs from here
    "MAX_BODY": 3 * 1024 * 1024,                  # request bodies above this are 413
    "ETCD_TIMEOUT": 5.0,                          # seconds per etcd call
    "ETCD_PREFIX": "/registry",                   # every key in etcd starts with it (--etcd-prefix)
    "BOOKMARK_INTERVAL": 10.0,                    # seconds between watch bookmarks
    "DEFAULT_NOT_READY_TOLERATION_SECONDS": 300,  # DefaultTolerationSeconds admission, per new pod
    "DEFAULT_UNREACHABLE_TOLERATION_SECONDS": 300,
}

log = logging.getLogger("labserver.apiserver")


def status_response(err: APIError) -> Response:
    from .handlers.request import respond
    return respond(err.status(), err.code)


def create_app(config: dict | None = None) -> Flask:
    """Create the API server app: storage on etcd, resource routes, discovery and OpenAPI.

    `config` overrides DEFAULTS (ETCD_SERVERS, SERVICE_CLUSTER_IP_RANGE,
    MAX_BODY, ...). No etcd call is made here: the server waits for etcd and
    bootstraps the system namespaces before serving (see server.py).
    """
    from . import discovery, metrics, openapi
    from .handlers import bp as resources_bp
    from .limits import return_big_buffers_to_the_os
    from .storage import Storage

    return_big_buffers_to_the_os()

    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    if config:
        app.config.from_mapping(config)
    app.extensions["labserver.storage"] = Storage(app.config["ETCD_SERVERS"], app.config["ETCD_TIMEOUT"],
                                                     root=app.config["ETCD_PREFIX"])
    app.extensions["labserver.shutdown"] = threading.Event()   # set when the server stops: watches end
    app.register_blueprint(discovery.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(resources_bp)
    _register_health(app)
    metrics.init_app(app)

    @app.errorhandler(APIError)
    def api_error(err: APIError):
        return status_response(err)

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        if err.code == 404:
            return status_response(APIError(404, "NotFound", "the server could not find the requested resource", {}))
        if err.code == 405:
            return status_response(method_not_allowed())
        if err.code == 413:
            return status_response(too_large())
        return status_response(APIError(err.code or 500, type(err).__name__, err.description or err.name))

    @app.errorhandler(RecursionError)
    def too_deep(err: RecursionError):
        log.warning("request refused: an object nests too deeply for this server (%s)", err)
        return status_response(bad_request("the object nests too deeply to be processed"))

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        log.exception("unexpected error")
        return status_response(internal(f"{type(err).__name__}: {err}"))

    @app.after_request
    def warnings(response: Response):
        for text in g.get("warnings", ()):
            value = warning_header(text)   # client-go's ParseWarningHeader unescapes \" and \\
            if value is not None:
                response.headers.add("Warning", value)
        if g.get("body_left_unread"):   # the rest of a refused body is on the socket: not reusable
            response.headers["Connection"] = "close"
        return response

    return app


def _register_health(app: Flask) -> None:
    """/healthz, /livez: the process serves; /readyz: and etcd answers."""

    def ok():
        return Response("ok", mimetype="text/plain")

    def ready():
        if app.extensions["labserver.storage"].healthy():
            return ok()
        return Response("[-]etcd failed: etcd is unreachable\nreadyz check failed", status=500,
                        mimetype="text/plain")

    app.add_url_rule("/healthz", "healthz", ok)
    app.add_url_rule("/livez", "livez", ok)
    app.add_url_rule("/readyz", "readyz", ready)
