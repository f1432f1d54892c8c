"""PartialObjectMetadata: objects cut down to their metadata, for clients that need nothing more.

Garbage collectors, namespace cleaners and kopf-style operators list and watch
many kinds only for names, labels, owners and finalizers. They ask with
`Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`
on a list (`as=PartialObjectMetadata` on a get or a watch) and get
`meta.k8s.io` objects holding only apiVersion, kind and metadata
(upstream: endpoints/handlers/response.go, transformResponseObject).
The first media range the server can serve wins, as in upstream's negotiation:
a Table asked for first stays a Table.
"""
from __future__ import annotations

KINDS = ("PartialObjectMetadata", "PartialObjectMetadataList")
VERSIONS = ("v1", "v1beta1")


def requested(accept: str | None, kind: str) -> str | None:
    """The meta.k8s.io version of `kind` (PartialObjectMetadata or ...List) the Accept header asks for first.

    None when an earlier media range asks for something else we serve (a Table,
    plain JSON) or when none asks for `kind`.
    """
    for media_range in (accept or "").split(","):
        mime, *params = [p.strip() for p in media_range.split(";")]
        options = dict(p.partition("=")[::2] for p in params)
        if mime not in ("application/json", "application/*", "*/*"):
            continue   # protobuf and others: not a form this negotiation serves
        as_ = options.get("as")
        if as_ is None:
            return None           # plain JSON comes first
        if as_ == kind and options.get("g") == "meta.k8s.io" and options.get("v") in VERSIONS:
            return options["v"]
        if as_ == "Table":
            return None
    return None


def of(obj: dict, version: str = "v1") -> dict:
    """One object as a PartialObjectMetadata."""
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
            "metadata": obj.get("metadata") or {}}


def list_of(items: list[dict], list_meta: dict, version: str = "v1") -> dict:
    """A list's items as a PartialObjectMetadataList, with the list's metadata (resourceVersion, continue)."""
    return {"kind": "PartialObjectMetadataList", "apiVersion": f"meta.k8s.io/{version}",
            "metadata": list_meta, "items": [of(i, version) for i in items]}
