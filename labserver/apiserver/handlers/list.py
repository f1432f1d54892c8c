"""LIST of a collection, paged and filtered, or a WATCH of it (endpoints/handlers/get.go ListResource).

`?watch=true` (or the legacy `/watch/` path) turns the same URL into a
stream of events; everything else is one consistent read at one etcd
revision, split into pages by `limit`/`continue`, filtered by label and
field selectors, and printed as a Table when kubectl asks for one (or cut
down to a PartialObjectMetadataList when a client asks for that).
"""
from __future__ import annotations

import logging
from typing import Callable

from flask import Response, request

from .. import partial
from ..printers import to_table, wants_table
from ..selectors import parse_field_selector, parse_label_selector
from . import watch
from .request import Scope, int_arg, respond, storage


def predicate_for(scope: Scope) -> Callable[[dict], bool] | None:
    """One predicate for ?labelSelector= and ?fieldSelector= (None when neither is given)."""
    label_text = (request.args.get("labelSelector") or "").strip()
    field_text = (request.args.get("fieldSelector") or "").strip()
    checks = []
    if label_text:
        labels_match = parse_label_selector(label_text)
        checks.append(lambda obj: labels_match((obj.get("metadata") or {}).get("labels") or {}))
    if field_text:
        checks.append(parse_field_selector(field_text, scope.resource))
    if not checks:
        return None

    def predicate(obj: dict) -> bool:
        try:
            return all(check(obj) for check in checks)
        except Exception as e:   # a malformed stored object matches nothing; the listing goes on
            logging.getLogger("labserver.apiserver").warning(
                "%s in etcd does not match its type, skipped by the selector (%s: %s)",
                scope.resource.kind, type(e).__name__, e)
            return False
    return predicate


def list_or_watch(scope: Scope) -> Response:
    predicate = predicate_for(scope)
    if scope.watch_path or request.args.get("watch") in ("true", "1", "True"):
        return watch.serve(scope, predicate)
    limit = int_arg("limit") or None
    result = storage().list(scope.resource, scope.namespace, limit=limit,
                            continue_token=request.args.get("continue") or None, predicate=predicate)
    if wants_table(request.headers.get("Accept")):
        table = to_table(scope.resource, result.items, result.resource_version,
                         request.args.get("includeObject") or "Metadata", continue_token=result.continue_token)
        if result.remaining:
            table["metadata"]["remainingItemCount"] = result.remaining
        return respond(table)
    meta = {"resourceVersion": result.resource_version}
    if result.continue_token:
        meta["continue"] = result.continue_token
    if result.remaining:
        meta["remainingItemCount"] = result.remaining
    version = partial.requested(request.headers.get("Accept"), "PartialObjectMetadataList")
    if version:
        return respond(partial.list_of(result.items, meta, version))
    return respond({"kind": scope.resource.list_kind, "apiVersion": scope.resource.group_version,
                    "metadata": meta, "items": result.items})
