"""POST of a new object (endpoints/handlers/create.go + rest.BeforeCreate).

Order matters: decode and check the body against the URL, check unknown
fields, let the strategy default and validate (the name is validated here,
before any etcd key exists), make sure the namespace exists, then one etcd
transaction that fails if the key is taken.
"""
from __future__ import annotations

import time

from flask import Response, current_app

from ..errors import method_not_allowed
from ..resources import lookup
from .request import Scope, check_fields, dry_run, object_body, respond_object, storage

NAMESPACE_CACHE_SECONDS = 5.0


def ensure_namespace(namespace: str) -> None:
    """404 when the namespace does not exist (positive answers are cached a few seconds)."""
    cache = current_app.extensions.setdefault("labserver.namespaces", {})
    now = time.monotonic()
    if cache.get(namespace, 0) > now:
        return
    storage().get(lookup("", "v1", "namespaces"), None, namespace)  # raises 404
    cache[namespace] = now + NAMESPACE_CACHE_SECONDS


def forget_namespace(namespace: str) -> None:
    current_app.extensions.setdefault("labserver.namespaces", {}).pop(namespace, None)


def create(scope: Scope, obj: dict | None = None) -> Response:
    """201 Created with the stored object; 409 AlreadyExists when the name is taken."""
    if scope.resource.namespaced and scope.namespace is None:
        raise method_not_allowed()
    if obj is None:
        obj = object_body(scope)
        check_fields(scope, obj)
    scope.strategy.before_create(obj)
    meta = obj["metadata"]
    if scope.resource.namespaced:
        ensure_namespace(scope.namespace)
    created = scope.strategy.create(storage(), scope.namespace, meta["name"], obj, dry_run=dry_run())
    return respond_object(scope, created, 201)
