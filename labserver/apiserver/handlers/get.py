"""GET of one object or its status (endpoints/handlers/get.go)."""
from __future__ import annotations

from flask import Response

from .request import Scope, respond_object, storage


def get(scope: Scope) -> Response:
    """The object as stored, with its resourceVersion; 404 NotFound when absent."""
    obj = storage().get(scope.resource, scope.namespace, scope.name)
    return respond_object(scope, obj)
