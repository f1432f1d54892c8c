"""The REST routes of every resource, dispatched to one module per verb (endpoints/handlers/).

URLs are resolved against the RESOURCES table (request.resolve): collection
or item, namespaced or cluster-wide, optional subresource. Then:

    collection  GET -> list (or watch)    POST -> create   DELETE -> deletecollection
    item        GET -> get   PUT -> update   PATCH -> patch   DELETE -> delete
    /status     GET -> get   PUT -> update   PATCH -> patch  (status only)
    /log        GET -> the kubelet's container log
    /exec, /attach, /portforward   GET (WebSocket) or POST (SPDY) -> relayed to the kubelet

Any other method on a served path is 405 MethodNotAllowed.
"""
from __future__ import annotations

from flask import Blueprint

from ..errors import method_not_allowed
from . import create, delete, get, list as list_, log, stream, update
from .request import resolve

bp = Blueprint("resources", __name__)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

COLLECTION = {"GET": list_.list_or_watch, "POST": create.create, "DELETE": delete.delete_collection}
ITEM = {"GET": get.get, "PUT": update.update, "PATCH": update.patch, "DELETE": delete.delete}
SUBRESOURCES = {
    "status": {"GET": get.get, "PUT": update.update, "PATCH": update.patch},
    "log": {"GET": log.log},
    "exec": {"GET": stream.stream, "POST": stream.stream},
    "attach": {"GET": stream.stream, "POST": stream.stream},
    "portforward": {"GET": stream.stream, "POST": stream.stream},
}


def dispatch(group: str, version: str, rest: str):
    from flask import request
    scope = resolve(group, version, rest)
    if scope.subresource:
        table = SUBRESOURCES[scope.subresource]
    elif scope.is_collection:
        table = COLLECTION
    else:
        table = ITEM
    handler = table.get(request.method)
    if handler is None or (scope.watch_path and handler is not list_.list_or_watch):
        raise method_not_allowed()
    return handler(scope)


@bp.route("/api/<version>/<path:rest>", methods=METHODS)
@bp.route("/api/<version>/<path:rest>", methods=["GET"], websocket=True, endpoint="core_websocket")
def core(version: str, rest: str):
    return dispatch("", version, rest)


# websocket=True: werkzeug routes a WebSocket upgrade (exec, attach, portforward) only to such rules.
@bp.route("/apis/<group>/<version>/<path:rest>", methods=METHODS)
@bp.route("/apis/<group>/<version>/<path:rest>", methods=["GET"], websocket=True, endpoint="grouped_websocket")
def grouped(group: str, version: str, rest: str):
    return dispatch(group, version, rest)
