"""POST of a new object (endpoints/handlers/create.go + rest.BeforeCreate + NamespaceLifecycle admission).

Order matters: decode and check the body against the URL, check unknown
fields, let the strategy default and validate (the name is validated here,
before any etcd key exists), make sure the namespace exists and is not
being terminated, then one etcd transaction that fails if the key is taken.

The namespace is read from etcd on every create, never from a per-process
cache, and the create's transaction also requires the namespace's key to be
still at the revision read: several API server processes (--workers) can
never let an object into a namespace that has meanwhile begun terminating.
"""
from __future__ import annotations

from flask import Response

from ..errors import forbidden, method_not_allowed
from ..resources import lookup
from ..storage import GuardChanged
from ..strategies.namespace import is_terminating
from .request import Scope, check_fields, dry_run, object_body, respond_object, storage

NAMESPACES = lookup("", "v1", "namespaces")


def admit_namespace(scope: Scope, name: str) -> int:
    """NamespaceLifecycle: 404 when the namespace is missing, 403 while it terminates; its revision."""
    ns = storage().get(NAMESPACES, None, scope.namespace)   # raises namespaces "x" not found
    if is_terminating(ns):
        why = f"unable to create new content in namespace {scope.namespace} because it is being terminated"
        raise forbidden(scope.resource.name, name, why, scope.resource.group,
                        causes=[{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                 "message": f"namespace {scope.namespace} is being terminated"}])
    return int(ns["metadata"]["resourceVersion"])


def create(scope: Scope, obj: dict | None = None) -> Response:
    """201 Created with the stored object; 409 AlreadyExists when the name is taken."""
    if scope.resource.namespaced and scope.namespace is None:
        raise method_not_allowed()
    if obj is None:
        obj = object_body(scope)
        check_fields(scope, obj)
    scope.strategy.before_create(obj)
    name = obj["metadata"]["name"]
    for attempt in range(16):
        guard = None
        if scope.resource.namespaced:
            guard = (storage().key(NAMESPACES, None, scope.namespace), admit_namespace(scope, name))
        try:
            created = scope.strategy.create(storage(), scope.namespace, name, obj, dry_run=dry_run(), guard=guard)
        except GuardChanged:
            continue   # the namespace changed since we read it: admit again
        return respond_object(scope, created, 201)
    raise AssertionError("the namespace kept changing")
