"""The resources this API server serves: one table, read by routing, storage and discovery.

A ResourceInfo says what Kubernetes' discovery documents say about a resource
(name, kind, group/version, namespaced, verbs, short names, subresources) plus
where its objects live in etcd. Kubernetes keeps nodes under the legacy
`/registry/minions/` prefix, and so do we.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceInfo:
    name: str                   # plural, as in URLs: "pods"
    singular: str               # "pod"
    kind: str                   # "Pod"
    namespaced: bool
    group: str = ""             # "" is the core group
    version: str = "v1"
    etcd_prefix: str = ""       # "/registry/pods"
    short_names: tuple = ()
    verbs: tuple = ALL_VERBS
    subresources: tuple = ()    # ("status", "log")
    categories: tuple = field(default=())

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def key(self, namespace: str | None, name: str) -> str:
        """The etcd key of one object."""
        if self.namespaced:
            return f"{self.etcd_prefix}/{namespace}/{name}"
        return f"{self.etcd_prefix}/{name}"

    def prefix(self, namespace: str | None = None) -> str:
        """The etcd key prefix of a list (all namespaces when namespace is None)."""
        if self.namespaced and namespace:
            return f"{self.etcd_prefix}/{namespace}/"
        return f"{self.etcd_prefix}/"


RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo("namespaces", "namespace", "Namespace", False, etcd_prefix="/registry/namespaces",
                 short_names=("ns",), verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
                 subresources=("status",)),
    ResourceInfo("nodes", "node", "Node", False, etcd_prefix="/registry/minions",
                 short_names=("no",), subresources=("status",)),
    ResourceInfo("pods", "pod", "Pod", True, etcd_prefix="/registry/pods",
                 short_names=("po",), subresources=("status", "log", "exec", "attach", "portforward"),
                 categories=("all",)),
    ResourceInfo("events", "event", "Event", True, etcd_prefix="/registry/events", short_names=("ev",)),
    ResourceInfo("leases", "lease", "Lease", True, group="coordination.k8s.io",
                 etcd_prefix="/registry/leases"),
)

BY_GROUP_VERSION: dict[tuple[str, str], dict[str, ResourceInfo]] = {}
for _r in RESOURCES:
    BY_GROUP_VERSION.setdefault((_r.group, _r.version), {})[_r.name] = _r


def lookup(group: str, version: str, name: str) -> ResourceInfo | None:
    """The resource served at /api(s)/<group>/<version>/<name>, or None."""
    return BY_GROUP_VERSION.get((group, version), {}).get(name)


def by_kind(kind: str) -> ResourceInfo | None:
    return next((r for r in RESOURCES if r.kind == kind), None)
