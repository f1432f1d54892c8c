"""Per-resource rules, applied around every write (pkg/registry/*/strategy.go + rest.BeforeCreate).

A Strategy says how one resource is defaulted, prepared and validated on
create, on update through its main endpoint and through `/status`, and how it
is deleted (gracefully or at once). The generic steps every object goes
through (server-set metadata, name and label checks) live here, so each
resource module only holds what is special about it.
"""
from __future__ import annotations

import random
import time
import uuid

from ..errors import invalid as invalid_error
from ..limits import copy_json
from ..resources import ResourceInfo
from . import validation as v

# Fields of ObjectMeta only the server sets; a client's values are ignored on create.
SYSTEM_META = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
               "deletionGracePeriodSeconds", "selfLink", "generation")
# Fields an update through the main endpoint cannot change.
IMMUTABLE_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339(offset_seconds: int = 0) -> str:
    """UTC now (plus `offset_seconds`), to the second, as Kubernetes writes timestamps."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(time.time() + offset_seconds)))


class Strategy:
    """The default rules: no status to protect, no grace period, DNS-1123 subdomain names."""

    label_names = False          # names must be DNS-1123 labels (namespaces)
    has_status = False
    graceful_delete = False      # a DELETE may leave the object for a grace period (pods)
    return_deleted_object = False  # DELETE answers with the object (else a Success Status), as upstream's store
    allow_create_on_update = False
    allow_unconditional_update = True

    def __init__(self, resource: ResourceInfo):
        self.resource = resource

    # hooks for subclasses
    def default(self, obj: dict) -> None:
        """Scheme defaulting, applied to every body written (create and update)."""

    def prepare_for_create(self, obj: dict) -> None:
        """Reset what a client may not set on create (e.g. a pod's status)."""

    def prepare_for_update(self, new: dict, old: dict) -> None:
        """Main endpoint: the status is the old one."""
        if self.has_status:
            if "status" in old:
                new["status"] = copy_json(old["status"])
            else:
                new.pop("status", None)

    def prepare_for_status_update(self, new: dict, old: dict) -> None:
        """The /status endpoint: everything but the status is the old object's."""
        status = new.get("status")
        rv = new.get("metadata", {}).get("resourceVersion")
        new.clear()
        new.update(copy_json(old))
        new.pop("status", None)
        if status is not None:
            new["status"] = status
        if rv is not None:
            new["metadata"]["resourceVersion"] = rv

    def validate(self, obj: dict) -> list[dict]:
        return []

    def validate_update(self, new: dict, old: dict) -> list[dict]:
        return self.validate(new)

    def deletion_grace(self, obj: dict, requested: int | None) -> int:
        """Seconds the object lives on after a DELETE (only asked when graceful_delete)."""
        return 0

    def prepare_for_subresource_update(self, subresource: str, new: dict, old: dict) -> None:
        """Other subresources written with PUT (namespaces/finalize)."""
        raise NotImplementedError(subresource)

    def should_delete_during_update(self, new: dict, old: dict) -> bool:
        """An update that empties the finalizers of an object being deleted with no grace left removes it.

        Upstream's Store.shouldDeleteDuringUpdate: the old object has a
        deletionTimestamp and a deletionGracePeriodSeconds of 0 (or none), and
        the new one has no finalizers left.
        """
        old_meta = old.get("metadata") or {}
        if (new.get("metadata") or {}).get("finalizers") or not old_meta.get("deletionTimestamp"):
            return False
        return not old_meta.get("deletionGracePeriodSeconds")

    # storage (registry/generic/registry/store.go): most objects are exactly one etcd key
    def create(self, storage, namespace: str | None, name: str, obj: dict, dry_run: bool = False,
               guard: tuple[str, int] | None = None) -> dict:
        """Store a new object that passed before_create; a dry run stores nothing.

        `guard`: the namespace's key and revision as admitted (storage.GuardChanged when it moved).
        """
        return obj if dry_run else storage.create(self.resource, namespace, name, obj, guard=guard)

    def delete(self, storage, namespace: str | None, name: str, obj: dict, rv: int) -> None:
        """Remove the object if etcd still holds it at `rv` (409 Conflict otherwise)."""
        storage.delete(self.resource, namespace, name, rv)

    # generic steps (rest.BeforeCreate / BeforeUpdate)
    def before_create(self, obj: dict) -> dict:
        """Default, fill server-set metadata, validate; raise 422 Invalid with every cause."""
        meta = obj["metadata"]
        for field in SYSTEM_META:
            meta.pop(field, None)
        if not meta.get("name") and isinstance(meta.get("generateName"), str) and meta["generateName"]:
            meta["name"] = meta["generateName"] + "".join(random.choice(_GENERATE_CHARS) for _ in range(5))
        self.default(obj)
        self.prepare_for_create(obj)
        causes = self.meta_causes(meta) + self.validate(obj)
        if causes:
            raise invalid_error(self.resource.kind, meta.get("name") or "", causes, self.resource.group)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        return obj

    def before_update(self, new: dict, old: dict, subresource: str | None = None) -> dict:
        """Keep server-set metadata, apply the endpoint's rules, validate the result."""
        meta, old_meta = new["metadata"], old["metadata"]
        for field in IMMUTABLE_META:
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if subresource == "status":
            self.prepare_for_status_update(new, old)
        elif subresource:
            self.prepare_for_subresource_update(subresource, new, old)
        else:
            self.default(new)
            self.prepare_for_update(new, old)
        causes = self.meta_causes(new["metadata"]) + v.new_finalizer_causes(new["metadata"], old_meta)
        causes += self.validate_update(new, old)
        if causes:
            raise invalid_error(self.resource.kind, meta.get("name") or "", causes, self.resource.group)
        return new

    def meta_causes(self, meta: dict) -> list[dict]:
        name = meta.get("name")
        if not name:
            return [v.required("metadata.name", "name or generateName is required")]
        causes = v.name_causes(name, label=self.label_names)
        causes += v.label_causes(v.expect(meta.get("labels"), dict, self.resource.kind, "metadata.labels"))
        causes += v.finalizer_causes(v.expect(meta.get("finalizers"), list, self.resource.kind,
                                              "ObjectMeta.metadata.finalizers"))
        v.expect(meta.get("annotations"), dict, self.resource.kind, "metadata.annotations")
        return causes


def strategy_for(resource: ResourceInfo) -> Strategy:
    """The strategy instance for a resource (one per resource, stateless)."""
    return _STRATEGIES[resource.name]


def _build() -> dict[str, Strategy]:
    from ..resources import SERVED
    from .apps import DeploymentStrategy, ReplicaSetStrategy
    from .configmap import ConfigMapStrategy, SecretStrategy, ServiceAccountStrategy
    from .event import EventStrategy
    from .lease import LeaseStrategy
    from .namespace import NamespaceStrategy
    from .node import NodeStrategy
    from .pod import PodStrategy
    from .service import ServiceStrategy
    classes = {"pods": PodStrategy, "nodes": NodeStrategy, "namespaces": NamespaceStrategy,
               "events": EventStrategy, "leases": LeaseStrategy, "configmaps": ConfigMapStrategy,
               "secrets": SecretStrategy, "serviceaccounts": ServiceAccountStrategy,
               "services": ServiceStrategy, "deployments": DeploymentStrategy,
               "replicasets": ReplicaSetStrategy}
    built = {r.name: classes.get(r.name, Strategy)(r) for r in SERVED}
    for name in ("deployments", "replicasets"):
        built[name].pods = built["pods"]
    return built


_STRATEGIES = _build()
