"""The REST routes of every resource, dispatched to one module per verb (endpoints/handlers/).

URLs are resolved against the RESOURCES table (request.resolve): collection
or item, namespaced or cluster-wide, optional subresource. Then:

    collection  GET -> list (or watch)    POST -> create   DELETE -> deletecollection
    item        GET -> get   PUT -> update   PATCH -> patch   DELETE -> delete
    /status     GET -> get   PUT -> update   PATCH -> patch  (status only)
    /log        GET -> the kubelet's container log

Any other method on a served path is 405 MethodNotAllowed, and so is a verb the
resource does not serve (namespaces have no deletecollection, as upstream).
"""
from __future__ import annotations

from flask import Blueprint

from ..errors import method_not_allowed
from . import create, delete, get, list as list_, log, update
from .request import resolve

bp = Blueprint("resources", __name__)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

COLLECTION = {"GET": list_.list_or_watch, "POST": create.create, "DELETE": delete.delete_collection}
ITEM = {"GET": get.get, "PUT": update.update, "PATCH": update.patch, "DELETE": delete.delete}
# The discovery verb each method is on a collection and on an item.
VERBS = {"collection": {"GET": "list", "POST": "create", "DELETE": "deletecollection"},
         "item": {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}}
SUBRESOURCES = {
    "status": {"GET": get.get, "PUT": update.update, "PATCH": update.patch},
    "log": {"GET": log.log},
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
    if not scope.subresource:
        verb = VERBS["collection" if scope.is_collection else "item"][request.method]
        if verb not in scope.resource.verbs:
            raise method_not_allowed()
    return handler(scope)


@bp.route("/api/<version>/<path:rest>", methods=METHODS)
def core(version: str, rest: str):
    return dispatch("", version, rest)


@bp.route("/apis/<group>/<version>/<path:rest>", methods=METHODS)
def grouped(group: str, version: str, rest: str):
    return dispatch(group, version, rest)
