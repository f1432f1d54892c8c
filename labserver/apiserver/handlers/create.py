"""POST of a new object (endpoints/handlers/create.go + rest.BeforeCreate + NamespaceLifecycle admission).

Order matters: decode and check the body against the URL, check unknown
fields, let the strategy default and validate (the name is validated here,
before any etcd key exists), make sure the namespace exists and is not
being terminated, then one etcd transaction that fails if the key is taken.

NamespaceLifecycle, as upstream (plugin/pkg/admission/namespace/lifecycle):
a namespace this process has seen Active is remembered with its etcd
revision (upstream keeps an informer cache and looks up live on a miss), so
a create is one etcd transaction, not a read and a transaction. What makes
that safe is the transaction itself: it also requires the namespace's key
to be still at the remembered revision. A namespace deleted, recreated, or
marked Terminating since then has another revision (or none), the
transaction fails with GuardChanged, the entry is dropped, and the
namespace is read live and admitted again (404 / 403 as before). So no
process, whatever it remembers, can let an object into a Terminating or
deleted namespace, and several --workers never disagree: etcd decides.
A dry run writes nothing, so nothing checks a remembered revision: it
always reads the namespace live.
"""
from __future__ import annotations

from flask import Response, current_app, request

from ..errors import forbidden, method_not_allowed
from ..resources import lookup
from ..storage import GuardChanged
from ..strategies.namespace import is_terminating
from .request import Scope, check_fields, dry_run, object_body, respond_object, storage

NAMESPACES = lookup("", "v1", "namespaces")
REMEMBERED = 4096    # namespaces remembered per process; beyond that the memory starts again empty
_EXTENSION = "labserver.admitted_namespaces"


def admit_namespace(scope: Scope, name: str) -> int:
    """NamespaceLifecycle: 404 when the namespace is missing, 403 while it terminates; its revision."""
    ns = storage().get(NAMESPACES, None, scope.namespace)   # raises namespaces "x" not found
    if is_terminating(ns):
        why = f"unable to create new content in namespace {scope.namespace} because it is being terminated"
        raise forbidden(scope.resource.name, name, why, scope.resource.group,
                        causes=[{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                 "message": f"namespace {scope.namespace} is being terminated"}])
    return int(ns["metadata"]["resourceVersion"])


def admitted_namespaces() -> dict[str, int]:
    """This app's namespaces seen Active -> the revision they were seen at (one dict per app:
    tests run several apps, on several etcds, in one process)."""
    seen = current_app.extensions.get(_EXTENSION)
    if seen is None:
        seen = current_app.extensions.setdefault(_EXTENSION, {})
    return seen


def create(scope: Scope, obj: dict | None = None) -> Response:
    """201 Created with the stored object; 409 AlreadyExists when the name is taken."""
    if scope.resource.namespaced and scope.namespace is None:
        raise method_not_allowed()
    if obj is None:
        obj = object_body(scope)
        check_fields(scope, obj)
    scope.strategy.before_create(obj)
    name = obj["metadata"]["name"]
    # Only a real write checks the remembered revision (see the module's docstring).
    seen = admitted_namespaces() if scope.resource.namespaced and "dryRun" not in request.args else None
    for attempt in range(16):
        guard = None
        if scope.resource.namespaced:
            revision = seen.get(scope.namespace) if seen is not None and attempt == 0 else None
            if revision is None:
                revision = admit_namespace(scope, name)
                if seen is not None:
                    if len(seen) >= REMEMBERED:
                        seen.clear()
                    seen[scope.namespace] = revision
            guard = (storage().key(NAMESPACES, None, scope.namespace), revision)
        try:
            created = scope.strategy.create(storage(), scope.namespace, name, obj, dry_run=dry_run(), guard=guard)
        except GuardChanged:
            if seen is not None:
                seen.pop(scope.namespace, None)
            continue   # the namespace changed since it was seen: admit again, live
        return respond_object(scope, created, 201)
    raise AssertionError("the namespace kept changing")
