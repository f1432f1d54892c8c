"""Protobuf bodies, as kubectl's typed clients send them (application/vnd.kubernetes.protobuf).

kubectl 1.37 sends built-in kinds (`create namespace`, `create service`, `auth can-i`,
`auth whoami`, drain's evictions and deletes) as protobuf and does not fall back to JSON.
`k8s/*.proto` hold our own definitions of the messages we serve, with
upstream's field numbers; `codec` converts them to and from the JSON objects
the rest of the server works with. The `*_pb2.py` modules are generated and
committed; after editing a .proto, regenerate them with `make protobuf`.
"""
from __future__ import annotations

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

__all__ = ["MEDIA_TYPE", "ProtobufError", "can_encode", "decode", "encode", "int_bits"]


def __getattr__(name: str):
    """The codec is loaded on first use (PEP 562): its generated message
    descriptors cost 2-3 MB of resident memory that an API server only JSON
    clients talk to never needs; the media type alone is known at once."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import codec
    value = getattr(codec, name)
    globals()[name] = value
    return value
