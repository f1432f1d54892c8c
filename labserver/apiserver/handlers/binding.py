"""POST of a Binding: how a scheduler puts a pod on a node (pkg/registry/core/pod/storage BindingREST).

A scheduler never updates a pod: it creates a `v1 Binding` naming the pod and
its target node, at `/api/v1/namespaces/NS/pods/NAME/binding` (or, the legacy
way, at `/api/v1/namespaces/NS/bindings` with the pod's name in the body).
The API server then, in one read-modify-write transaction on the pod's etcd
revision (assignPod):

- refuses a pod that is being deleted or already has a node
  (409 `pod NAME is already assigned to node "X"`): a pod is bound once;
- honours the Binding's `metadata.uid` / `resourceVersion` as preconditions;
- sets `spec.nodeName`, merges the Binding's annotations, and records the
  `PodScheduled=True` condition.

The answer is a Success Status (201), as upstream; `?dryRun=All` checks all
of it and writes nothing.
"""
from __future__ import annotations

from flask import Response, request

from .. import typecheck
from ..errors import bad_request, conflict, invalid, method_not_allowed, not_found
from ..resources import lookup
from ..strategies import now_rfc3339
from ..strategies import validation as v
from .request import decode, dry_run, read_body, respond, storage


def _binding_body(namespace: str) -> dict:
    """The request body as a v1 Binding (400 for another kind, 422 for a bad target)."""
    body = decode(read_body(), request.headers.get("Content-Type"))
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if api_version and api_version != "v1":
        raise bad_request(f"the API version in the data ({api_version}) does not match the expected "
                          f"API version (v1)")
    if kind and kind != "Binding":
        raise bad_request(f"the kind in the data ({kind}) does not match the expected kind (Binding)")
    typecheck.admit_as("", "v1", "Binding", body, request.args.get("fieldValidation") or "Warn")
    meta = v.expect(body.get("metadata"), dict, "Binding", "Binding.metadata") or {}
    if meta.get("namespace") and meta["namespace"] != namespace:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    target = v.expect(body.get("target"), dict, "Binding", "Binding.target") or {}
    causes = []
    if not target.get("name"):
        causes.append(v.required("target.name"))
    if target.get("kind") not in (None, "", "Node"):
        causes.append(v.not_supported("target.kind", target.get("kind"), ("Node",)))
    if causes:
        raise invalid("Binding", meta.get("name") or "", causes)
    body["metadata"], body["target"] = meta, target
    return body


def _precondition_failed(key: str, what: str, wanted: str, actual: str) -> str:
    # upstream's storage.NewInvalidObjError text, wrapped in a Conflict on pods
    return (f"StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: "
            f"Precondition failed: {what} in precondition: {wanted}, {what} in object meta: {actual}")


def assign_pod(namespace: str, name: str, binding: dict) -> None:
    """Bind pod `name` to `binding.target.name` once, in one transaction on the pod's revision."""
    pods = lookup("", "v1", "pods")
    meta, node = binding["metadata"], binding["target"]["name"]
    key = pods.key(namespace, name)

    def mutate(pod: dict) -> dict:
        pod_meta, spec = pod["metadata"], pod.setdefault("spec", {})
        if meta.get("uid") and meta["uid"] != pod_meta.get("uid"):
            raise conflict("pods", name, why=_precondition_failed(key, "UID", meta["uid"], pod_meta.get("uid")))
        if meta.get("resourceVersion") and meta["resourceVersion"] != pod_meta["resourceVersion"]:
            raise conflict("pods", name, why=_precondition_failed(key, "ResourceVersion", meta["resourceVersion"],
                                                                  pod_meta["resourceVersion"]))
        if pod_meta.get("deletionTimestamp"):
            raise conflict("pods/binding", name, why=f"pod {name} is being deleted, cannot be assigned to a host")
        if spec.get("nodeName"):
            raise conflict("pods/binding", name, why=f'pod {name} is already assigned to node "{spec["nodeName"]}"')
        spec["nodeName"] = node
        if meta.get("annotations"):
            pod_meta.setdefault("annotations", {}).update(meta["annotations"])
        set_condition(pod.setdefault("status", {}), "PodScheduled", "True")
        return pod

    if dry_run():
        mutate(storage().get(pods, namespace, name))
        return
    storage().guaranteed_update(pods, namespace, name, mutate)


def set_condition(status: dict, type_: str, value: str) -> None:
    """UpdatePodCondition: replace the condition, keeping lastTransitionTime when the status is unchanged."""
    conditions = status.setdefault("conditions", [])
    old = next((c for c in conditions if c.get("type") == type_), None)
    new = {"type": type_, "status": value, "lastProbeTime": None,
           "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") == value
           and old.get("lastTransitionTime") else now_rfc3339()}
    if old is None:
        conditions.append(new)
    else:
        conditions[conditions.index(old)] = new


def _success() -> Response:
    return respond({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)


def create_pod_binding(scope) -> Response:
    """POST /api/v1/namespaces/NS/pods/NAME/binding."""
    binding = _binding_body(scope.namespace)
    if binding["metadata"].get("name") not in (None, "", scope.name):
        raise bad_request("name in URL does not match name in Binding object")
    assign_pod(scope.namespace, scope.name, binding)
    return _success()


def create_legacy_binding(namespace: str) -> Response:
    """POST /api/v1/namespaces/NS/bindings: the pod is the Binding's metadata.name."""
    if request.method != "POST":
        raise method_not_allowed()
    binding = _binding_body(namespace)
    name = binding["metadata"].get("name")
    if not name:
        raise invalid("Binding", "", [v.required("metadata.name", "name or generateName is required")])
    if not v.is_dns1123_label(namespace) or not v.is_dns1123_subdomain(name):
        raise not_found("pods", name)
    assign_pod(namespace, name, binding)
    return _success()
