"""The REST routes of every resource, dispatched to one module per verb (endpoints/handlers/).

URLs are resolved against the RESOURCES table (request.resolve): collection
or item, namespaced or cluster-wide, optional subresource. Then:

    collection  GET -> list (or watch)    POST -> create   DELETE -> deletecollection
    item        GET -> get   PUT -> update   PATCH -> patch   DELETE -> delete
    /status     GET -> get   PUT -> update   PATCH -> patch  (status only)
    /log        GET -> the kubelet's container log
    /eviction   POST -> a policy/v1 Eviction (a graceful delete)
    /finalize   PUT -> update of a namespace's spec.finalizers
    /binding    POST -> bind the pod to a node (and the legacy POST .../namespaces/NS/bindings)
    /exec, /attach, /portforward   GET (WebSocket) or POST (SPDY) -> relayed to the kubelet
    /scale      GET, PUT, PATCH -> an autoscaling/v1 Scale of a Deployment or ReplicaSet

Reviews (resources.REVIEWS) only take POST, answered by review.py without etcd.
Any other method on a served path is 405 MethodNotAllowed, and so is a verb the
resource does not serve (namespaces have no deletecollection, as upstream).
"""
from __future__ import annotations

from flask import Blueprint

from ..errors import method_not_allowed
from ..resources import REVIEWS
from . import binding, create, delete, eviction, get, list as list_, log, review, scale, stream, update
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
    "eviction": {"POST": eviction.evict},
    "finalize": {"PUT": update.update},
    "binding": {"POST": binding.create_pod_binding},
    "exec": {"GET": stream.stream, "POST": stream.stream},
    "attach": {"GET": stream.stream, "POST": stream.stream},
    "portforward": {"GET": stream.stream, "POST": stream.stream},
    "scale": {"GET": scale.get, "PUT": scale.update, "PATCH": scale.patch},
}


COLLECTION_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
ITEM_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def dispatch(group: str, version: str, rest: str):
    from flask import request
    parts = rest.split("/")
    if not group and len(parts) == 3 and parts[0] == "namespaces" and parts[2] == "bindings":
        return binding.create_legacy_binding(parts[1])
    scope = resolve(group, version, rest)
    if scope.resource in REVIEWS:
        table = {"POST": review.create} if scope.is_collection and not scope.watch_path else {}
    elif scope.subresource:
        table = SUBRESOURCES[scope.subresource]
    elif scope.is_collection:
        table = COLLECTION
    else:
        table = ITEM
    handler = table.get(request.method)
    verb = None if scope.subresource else (COLLECTION_VERBS if scope.is_collection else ITEM_VERBS).get(request.method)
    if handler is None or (scope.watch_path and handler is not list_.list_or_watch) \
            or (verb and verb not in scope.resource.verbs):
        raise method_not_allowed()
    if not scope.subresource:
        verb = VERBS["collection" if scope.is_collection else "item"][request.method]
        if verb not in scope.resource.verbs:
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
