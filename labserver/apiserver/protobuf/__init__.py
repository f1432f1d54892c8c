"""Protobuf bodies, as kubectl's typed clients send them (application/vnd.kubernetes.protobuf).

kubectl 1.37 sends built-in kinds (`create namespace`, `create service`, `auth can-i`,
`auth whoami`, drain's evictions and deletes) as protobuf and does not fall back to JSON.
`k8s/*.proto` hold our own definitions of the messages we serve, with
upstream's field numbers; `codec` converts them to and from the JSON objects
the rest of the server works with. The `*_pb2.py` modules are generated and
committed; after editing a .proto, regenerate them with `make protobuf`.
"""
from .codec import MEDIA_TYPE, ProtobufError, can_encode, decode, encode, int_bits

__all__ = ["MEDIA_TYPE", "ProtobufError", "can_encode", "decode", "encode", "int_bits"]
