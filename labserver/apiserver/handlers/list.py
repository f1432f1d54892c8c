"""LIST of a collection, paged and filtered, or a WATCH of it (endpoints/handlers/get.go ListResource).

`?watch=true` (or the legacy `/watch/` path) turns the same URL into a
stream of events; everything else is one consistent read at one etcd
revision, split into pages by `limit`/`continue`, filtered by label and
field selectors, and printed as a Table when kubectl asks for one (or cut
down to a PartialObjectMetadataList when a client asks for that).

A JSON list (no Table, no PartialObjectMetadataList, no protobuf) is joined
from each object's JSON as encoded.py keeps it, and selected on what it keeps
of each object's labels and fields: the same bytes as the general path, which
decodes every object and encodes the list again (that took most of a LIST's
time), and which Tables and PartialObjectMetadataLists still take.
"""
from __future__ import annotations

import logging
from typing import Callable

from flask import Response, request

from .. import partial
from ..printers import to_table, wants_table
from ..selectors import parse_field_selector, parse_label_selector, selectable
from ..storage import ListResult, dumps
from . import watch
from .request import JSON, Scope, int_arg, protobuf_only, respond, storage

CHUNK_PARTS = 96   # pieces per chunk of a joined list: about 32 objects, 40 KiB for a typical pod


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
    continue_token = request.args.get("continue") or None
    accept = request.headers.get("Accept")
    if plain_json(accept):
        resource = scope.resource
        result = storage().list_encoded(resource, scope.namespace, lambda obj: selectable(obj, resource),
                                        limit=limit, continue_token=continue_token, predicate=predicate)
        return encoded_list(scope, result)
    result = storage().list(scope.resource, scope.namespace, limit=limit, continue_token=continue_token,
                            predicate=predicate)
    if wants_table(accept):
        table = to_table(scope.resource, result.items, result.resource_version,
                         request.args.get("includeObject") or "Metadata", continue_token=result.continue_token)
        if result.remaining:
            table["metadata"]["remainingItemCount"] = result.remaining
        return respond(table)
    version = partial.requested(accept, "PartialObjectMetadataList")
    if version:
        return respond(partial.list_of(result.items, list_meta(result), version))
    return respond({"kind": scope.resource.list_kind, "apiVersion": scope.resource.group_version,
                    "metadata": list_meta(result), "items": result.items})


def list_meta(result: ListResult) -> dict:
    meta = {"resourceVersion": result.resource_version}
    if result.continue_token:
        meta["continue"] = result.continue_token
    if result.remaining:
        meta["remainingItemCount"] = result.remaining
    return meta


def plain_json(accept: str | None) -> bool:
    """Whether the answer is the list as JSON: no Table, no PartialObjectMetadataList, no protobuf."""
    return not (wants_table(accept) or partial.requested(accept, "PartialObjectMetadataList")
                or protobuf_only(accept))


def encoded_list(scope: Scope, result: ListResult) -> Response:
    """The JSON list from its items' JSON pieces (Storage.list_encoded): the bytes respond() gives for
    the same list of decoded items, without a dict per item or a copy per item. It is sent in chunks of
    CHUNK_PARTS pieces: each chunk comes from the heap, where one buffer of the whole list would be a
    fresh mmap (limits.return_big_buffers_to_the_os) paid for again, page by page, on every LIST."""
    head = dumps({"kind": scope.resource.list_kind, "apiVersion": scope.resource.group_version,
                  "metadata": list_meta(result)})
    parts = [head[:-1], b',"items":[']
    extend, append = parts.extend, parts.append
    for item in result.items:
        extend(item)
        append(b",")
    if result.items:
        parts.pop()
    append(b"]}")
    join = b"".join
    chunks = [join(parts[i:i + CHUNK_PARTS]) for i in range(0, len(parts), CHUNK_PARTS)]
    return Response(chunks, mimetype=JSON)   # a list: werkzeug sets its Content-Length
