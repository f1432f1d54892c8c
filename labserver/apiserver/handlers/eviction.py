"""POST pods/<name>/eviction: a policy/v1 Eviction deletes the pod gracefully (registry/core/pod/storage/eviction.go).

`kubectl drain` finds `pods/eviction` in discovery (kind Eviction, group
policy, version v1) and evicts each pod on the node with it instead of
deleting it. With no PodDisruptionBudgets to honour, an eviction is a DELETE
with the Eviction's deleteOptions: graceful for a pod on a node, as upstream.
The answer is 201 Created with a Status of Success. dryRun, from the URL or
from deleteOptions, checks everything and deletes nothing.
"""
from __future__ import annotations

from dataclasses import replace

from flask import Response, request

from .. import typecheck
from ..errors import bad_request
from .delete import checked_options, delete_one
from .request import Scope, decode, dry_run, read_body, respond

GROUP_VERSIONS = ("policy/v1", "policy/v1beta1")


def evict(scope: Scope) -> Response:
    eviction = decode(read_body(), request.headers.get("Content-Type"))
    kind, api_version = eviction.get("kind"), eviction.get("apiVersion")
    if kind and kind != "Eviction" or api_version and api_version not in GROUP_VERSIONS:
        raise bad_request(f"the body of an eviction must be a policy/v1 Eviction, not {api_version} {kind}")
    typecheck.admit_as("policy", "v1", "Eviction", eviction, request.args.get("fieldValidation") or "Warn")
    meta = eviction.get("metadata") or {}
    if not isinstance(meta, dict):
        raise bad_request("Eviction.metadata must be an object")
    if meta.get("name") != scope.name:
        raise bad_request("name in URL does not match name in Eviction object")
    if meta.get("namespace") and meta["namespace"] != scope.namespace:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    options = eviction.get("deleteOptions") or {}
    if not isinstance(options, dict):
        raise bad_request("Eviction.deleteOptions must be an object")
    delete_one(replace(scope, subresource=None), checked_options(options, query_dry=dry_run()))
    return respond({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)
