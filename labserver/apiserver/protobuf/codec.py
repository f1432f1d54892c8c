"""Kubernetes protobuf bodies <-> the JSON objects this server stores.

A protobuf body is `k8s\\x00` then a runtime.Unknown: typeMeta (apiVersion,
kind) names the kind, raw holds that kind's message (k8s/*.proto). Turning the
message into JSON follows what the real API server does when it decodes the
protobuf into a Go struct and writes it as JSON; the one fact per field that
this needs (omitempty, pointer, always, inline) is the gotags.json option:

- Go's protobuf code writes every non-pointer scalar, zero or not, so a zero
  string/number/bool of an `omitempty` field is left out of the JSON;
- a pointer field is kept whenever it was sent, even as 0 or false;
- a field without omitempty, or a non-pointer struct, is always in the JSON
  (a zero metav1.Time as null, a zero Quantity as "0");
- an embedded struct's fields are flattened into its parent;
- an `omitzero` struct (metadata.creationTimestamp) is left out when zero.

Time is RFC 3339 to the second (its nanos are dropped, as upstream's decoder
does), MicroTime to the microsecond; Quantity is its string, IntOrString a
bare int or string, FieldsV1 a JSON document, a user's ExtraValue a list of
strings, bytes (Secret data, ConfigMap binaryData) base64. Lists' `items` are
always a list.

Nothing is lost silently: a protobuf field this server has no definition for
makes decode() fail, and so does a JSON field with no protobuf field in encode().
"""
from __future__ import annotations

import base64
import binascii
import calendar
import functools
import json
import time
from datetime import datetime

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from .k8s import (apps_pb2, authentication_pb2, authorization_pb2, autoscaling_pb2, binding_pb2, coordination_pb2,
                  core_pb2, gotags_pb2, meta_pb2, networking_pb2, policy_pb2, runtime_pb2, service_pb2)

MAGIC = b"k8s\x00"

OMITEMPTY, POINTER, ALWAYS, INLINE, OMITZERO = (gotags_pb2.OMITEMPTY, gotags_pb2.POINTER, gotags_pb2.ALWAYS,
                                                gotags_pb2.INLINE, gotags_pb2.OMITZERO)
TIME = "k8s.io.apimachinery.pkg.apis.meta.v1.Time"
MICRO_TIME = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime"
QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
FIELDS_V1 = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1"
EXTRA_VALUE = "k8s.io.api.authentication.v1.ExtraValue"
TYPE_META = ("kind", "apiVersion")


class ProtobufError(ValueError):
    """A body or object that cannot be converted; the message says where."""


def _kinds() -> dict[tuple[str, str], type[Message]]:
    core = {"Namespace", "NamespaceList", "Node", "NodeList", "Pod", "PodList", "Event", "EventList",
            "ConfigMap", "ConfigMapList", "Secret", "SecretList", "ServiceAccount", "ServiceAccountList"}
    kinds = {("v1", k): getattr(core_pb2, k) for k in core}
    for version in ("v1", "meta.k8s.io/v1"):   # typed clients send meta types under their own group
        kinds[(version, "Status")] = meta_pb2.Status
        kinds[(version, "DeleteOptions")] = meta_pb2.DeleteOptions
    kinds[("coordination.k8s.io/v1", "Lease")] = coordination_pb2.Lease
    kinds[("coordination.k8s.io/v1", "LeaseList")] = coordination_pb2.LeaseList
    kinds[("policy/v1", "Eviction")] = policy_pb2.Eviction
    kinds[("policy/v1", "DeleteOptions")] = meta_pb2.DeleteOptions
    for api_version, module, names in (
            ("v1", service_pb2, ("Service", "ServiceList")),
            ("v1", binding_pb2, ("Binding",)),
            ("networking.k8s.io/v1", networking_pb2, ("IPAddress", "IPAddressList")),
            ("authorization.k8s.io/v1", authorization_pb2, ("SelfSubjectAccessReview", "SelfSubjectRulesReview")),
            ("authentication.k8s.io/v1", authentication_pb2, ("SelfSubjectReview",))):
        kinds.update({(api_version, name): getattr(module, name) for name in names})
    kinds.update({("apps/v1", k): getattr(apps_pb2, k)
                  for k in ("Deployment", "DeploymentList", "ReplicaSet", "ReplicaSetList")})
    kinds[("autoscaling/v1", "Scale")] = autoscaling_pb2.Scale
    return kinds


KINDS = _kinds()
_KIND_MESSAGES = {cls.DESCRIPTOR.full_name for cls in KINDS.values()}


def can_encode(obj: dict) -> bool:
    return (obj.get("apiVersion"), obj.get("kind")) in KINDS


# -- the envelope ---------------------------------------------------------------------------

def decode(data: bytes) -> dict:
    """A `k8s\\x00` + runtime.Unknown body as the JSON object the real server would read."""
    if not data.startswith(MAGIC):
        raise ProtobufError(f"provided data does not appear to be a protobuf message, expected prefix "
                            f"{list(MAGIC)}")
    envelope = runtime_pb2.Unknown()
    try:
        envelope.ParseFromString(data[len(MAGIC):])
    except DecodeError as e:
        raise ProtobufError(f"unable to decode the protobuf envelope: {e}") from None
    if envelope.contentEncoding:
        raise ProtobufError(f"unsupported protobuf content encoding {envelope.contentEncoding!r}")
    api_version, kind = envelope.typeMeta.apiVersion, envelope.typeMeta.kind
    if not kind:
        raise ProtobufError("Object 'Kind' is missing in the protobuf envelope")
    cls = KINDS.get((api_version, kind))
    if cls is None:
        raise ProtobufError(f'no kind "{kind}" is registered for version "{api_version}" in protobuf')
    message = cls()
    try:
        message.ParseFromString(envelope.raw)
    except DecodeError as e:
        raise ProtobufError(f"unable to decode {kind}: {e}") from None
    unknown = list(unknown_fields(message))
    if unknown:
        raise ProtobufError(f"{kind} carries protobuf fields this server does not know "
                            f"(they would be lost): {', '.join(unknown)}")
    obj = {"kind": kind, "apiVersion": api_version}
    obj.update(to_json(message))
    return obj


def encode(obj: dict) -> bytes:
    """A JSON object of a registered kind as a `k8s\\x00` + runtime.Unknown body."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    cls = KINDS.get((api_version, kind))
    if cls is None:
        raise ProtobufError(f"{kind} {api_version} has no protobuf form here")
    message = cls()
    try:
        from_json(message, obj)
    except (TypeError, ValueError) as e:     # e.g. a number out of an int32's range
        raise ProtobufError(f"{kind} has no protobuf form: {e}") from None
    envelope = runtime_pb2.Unknown(typeMeta=runtime_pb2.TypeMeta(apiVersion=api_version, kind=kind),
                                   raw=message.SerializeToString(), contentEncoding="", contentType="")
    return MAGIC + envelope.SerializeToString()


def unknown_fields(message: Message, path: str = ""):
    """Paths (`spec.containers[0].#25`) of fields in `message` that no .proto here defines."""
    here = path or message.DESCRIPTOR.name
    for item in UnknownFieldSet(message):
        yield f"{here}.#{item.field_number}"
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        where = f"{path + '.' if path else ''}{field.name}"
        if _is_map(field):
            if field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                for key, item in value.items():
                    yield from unknown_fields(item, f"{where}[{key}]")
        elif _is_repeated(field):
            for i, item in enumerate(value):
                yield from unknown_fields(item, f"{where}[{i}]")
        else:
            yield from unknown_fields(value, where)


# -- protobuf -> JSON -----------------------------------------------------------------------

def _presence(field: FieldDescriptor) -> int:
    options = field.GetOptions()
    return options.Extensions[gotags_pb2.json] if options.HasExtension(gotags_pb2.json) else OMITEMPTY


def _is_repeated(field: FieldDescriptor) -> bool:
    return field.is_repeated if hasattr(field, "is_repeated") else field.label == FieldDescriptor.LABEL_REPEATED


def _is_map(field: FieldDescriptor) -> bool:
    return (field.type == FieldDescriptor.TYPE_MESSAGE and _is_repeated(field)
            and field.message_type.GetOptions().map_entry)


def _scalar_to_json(field: FieldDescriptor, value):
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def _special_to_json(name: str, message: Message):
    if name in (TIME, MICRO_TIME):
        if not message.HasField("seconds") and not message.HasField("nanos"):
            return None     # a zero time.Time
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(message.seconds))
        return f"{stamp}.{message.nanos // 1000:06d}Z" if name == MICRO_TIME else stamp + "Z"
    if name == QUANTITY:
        return message.string or "0"
    if name == INT_OR_STRING:
        return message.strVal if message.type == 1 else message.intVal
    if name == EXTRA_VALUE:
        return list(message.items)
    if name == FIELDS_V1:
        try:
            return json.loads(message.Raw) if message.Raw else {}
        except ValueError as e:
            raise ProtobufError(f"fieldsV1 is not JSON: {e}") from None
    raise KeyError(name)


SPECIAL = (TIME, MICRO_TIME, QUANTITY, INT_OR_STRING, FIELDS_V1, EXTRA_VALUE)


def _message_to_json(message: Message):
    name = message.DESCRIPTOR.full_name
    return _special_to_json(name, message) if name in SPECIAL else to_json(message)


def to_json(message: Message) -> dict:
    """One message as the JSON the real API server writes for the same Go struct."""
    out: dict = {}
    for field in message.DESCRIPTOR.fields:
        presence = _presence(field)
        name = field.name
        if _is_map(field):
            entries = getattr(message, name)
            value_field = field.message_type.fields_by_name["value"]
            if entries:
                out[name] = {k: (_message_to_json(v) if value_field.type == FieldDescriptor.TYPE_MESSAGE
                                 else _scalar_to_json(value_field, v)) for k, v in sorted(entries.items())}
            elif presence == ALWAYS:
                out[name] = {}
        elif _is_repeated(field):
            items = getattr(message, name)
            if items:
                out[name] = [_message_to_json(i) if field.type == FieldDescriptor.TYPE_MESSAGE
                             else _scalar_to_json(field, i) for i in items]
            elif presence == ALWAYS:
                out[name] = []
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if presence == INLINE:
                if message.HasField(name):
                    out.update(to_json(getattr(message, name)))
            elif presence == OMITZERO:
                value = _message_to_json(getattr(message, name))
                if value is not None:       # a zero time (the only omitzero field here) is left out
                    out[name] = value
            elif message.HasField(name) or presence == ALWAYS:
                out[name] = _message_to_json(getattr(message, name))
        elif message.HasField(name):
            value = getattr(message, name)
            if presence in (POINTER, ALWAYS) or value:
                out[name] = _scalar_to_json(field, value)
        elif presence == ALWAYS:
            out[name] = _scalar_to_json(field, field.default_value)
    return out


# -- JSON -> protobuf -----------------------------------------------------------------------

@functools.cache
def _json_fields(descriptor: Descriptor) -> dict[str, tuple[FieldDescriptor, FieldDescriptor | None]]:
    """JSON key -> (field, the inline field holding it or None)."""
    fields = {}
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE and _presence(field) == INLINE:
            for key, (inner, _) in _json_fields(field.message_type).items():
                fields[key] = (inner, field)
        else:
            fields[field.name] = (field, None)
    return fields


def _parse_time(value, micro: bool) -> tuple[int, int]:
    if not isinstance(value, str):
        raise ProtobufError(f"a time must be an RFC 3339 string, not {value!r}")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ProtobufError(f"{value!r} is not an RFC 3339 time") from None
    seconds = calendar.timegm(when.utctimetuple())
    return seconds, (when.microsecond * 1000 if micro else 0)


def _special_from_json(message: Message, value, where: str) -> None:
    name = message.DESCRIPTOR.full_name
    if name in (TIME, MICRO_TIME):
        message.seconds, message.nanos = _parse_time(value, name == MICRO_TIME)
    elif name == QUANTITY:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ProtobufError(f"{where}: a quantity must be a string or number, not {value!r}")
        message.string = value if isinstance(value, str) else str(value)
    elif name == INT_OR_STRING:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ProtobufError(f"{where}: must be an integer or a string, not {value!r}")
        if isinstance(value, int):
            message.type, message.intVal = 0, value
        else:
            message.type, message.strVal = 1, value
    elif name == FIELDS_V1:
        message.Raw = json.dumps(value, separators=(",", ":")).encode()
    elif name == EXTRA_VALUE:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProtobufError(f"{where}: must be a list of strings, not {value!r}")
        message.items.extend(value)


def _scalar_from_json(field: FieldDescriptor, value, where: str):
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        ok = isinstance(value, str)
    elif t == FieldDescriptor.TYPE_BOOL:
        ok = isinstance(value, bool)
    elif t == FieldDescriptor.TYPE_BYTES:
        if not isinstance(value, str):
            raise ProtobufError(f"{where}: bytes must be a base64 string")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as e:
            raise ProtobufError(f"{where}: illegal base64 data: {e}") from None
    else:
        ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok:
        raise ProtobufError(f"{where}: {value!r} does not fit a {field.type} field")
    return value


def _set_message(target: Message, value, where: str) -> None:
    target.SetInParent()
    if target.DESCRIPTOR.full_name in SPECIAL:
        _special_from_json(target, value, where)
    elif isinstance(value, dict):
        from_json(target, value, where)
    else:
        raise ProtobufError(f"{where}: expected an object, not {value!r}")


def from_json(message: Message, obj: dict, path: str = "") -> Message:
    """Fill `message` from a JSON object; a key with no protobuf field is an error."""
    fields = _json_fields(message.DESCRIPTOR)
    is_kind = message.DESCRIPTOR.full_name in _KIND_MESSAGES   # kind, apiVersion live in the envelope
    for key, value in obj.items():
        where = f"{path}.{key}" if path else key
        if value is None or (is_kind and key in TYPE_META):
            continue
        if key not in fields:
            raise ProtobufError(f"{where}: no protobuf field for it in {message.DESCRIPTOR.name}")
        field, inline = fields[key]
        holder = getattr(message, inline.name) if inline else message
        if inline:
            holder.SetInParent()
        target = getattr(holder, field.name)
        if _is_map(field):
            if not isinstance(value, dict):
                raise ProtobufError(f"{where}: expected an object")
            value_field = field.message_type.fields_by_name["value"]
            for k, v in value.items():
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    _set_message(target[k], v, f"{where}.{k}")
                else:
                    target[k] = _scalar_from_json(value_field, v, f"{where}.{k}")
        elif _is_repeated(field):
            if not isinstance(value, list):
                raise ProtobufError(f"{where}: expected a list")
            for i, item in enumerate(value):
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    _set_message(target.add(), item, f"{where}[{i}]")
                else:
                    target.append(_scalar_from_json(field, item, f"{where}[{i}]"))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            _set_message(target, value, where)
        else:
            setattr(holder, field.name, _scalar_from_json(field, value, where))
    return message


@functools.cache
def int_bits(component: str, json_name: str) -> int | None:
    """32 or 64: the Go integer width of a field, as our messages (upstream's generated.proto) declare it;
    None when no message of that OpenAPI component (io.k8s.api.apps.v1.DeploymentSpec) is defined here."""
    if not component.startswith("io.k8s."):
        return None
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName("k8s.io." + component[len("io.k8s."):])
    except KeyError:
        return None
    field = _json_fields(descriptor).get(json_name, (None, None))[0]
    if field is None:
        return None
    return {FieldDescriptor.TYPE_INT32: 32, FieldDescriptor.TYPE_INT64: 64}.get(field.type)
