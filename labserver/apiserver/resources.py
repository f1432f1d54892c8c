"""The resources this API server serves: one table, read by routing, storage and discovery.

A ResourceInfo says what Kubernetes' discovery documents say about a resource
(name, kind, group/version, namespaced, verbs, short names, subresources) plus
where its objects live in etcd, below the storage's root (`--etcd-prefix`,
`/registry` by default). Kubernetes keeps nodes under the legacy
`/registry/minions/` prefix, and so do we.

RESOURCES are stored in etcd. REVIEWS are upstream's "virtual" resources:
create-only questions to the server (may I? who am I?) whose answer is
computed, returned and never stored.
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
    etcd_prefix: str = ""       # "/pods": below the storage root, so /registry/pods
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
        """The etcd key of one object, relative to the storage root."""
        if self.namespaced:
            return f"{self.etcd_prefix}/{namespace}/{name}"
        return f"{self.etcd_prefix}/{name}"

    def prefix(self, namespace: str | None = None) -> str:
        """The etcd key prefix of a list (all namespaces when namespace is None), relative to the root."""
        if self.namespaced and namespace:
            return f"{self.etcd_prefix}/{namespace}/"
        return f"{self.etcd_prefix}/"


RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo("namespaces", "namespace", "Namespace", False, etcd_prefix="/namespaces",
                 short_names=("ns",), verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
                 subresources=("status", "finalize")),
    ResourceInfo("nodes", "node", "Node", False, etcd_prefix="/minions",
                 short_names=("no",), subresources=("status",)),
    ResourceInfo("pods", "pod", "Pod", True, etcd_prefix="/pods",
                 short_names=("po",), subresources=("status", "log", "eviction", "binding", "exec", "attach", "portforward"),
                 categories=("all",)),
    ResourceInfo("events", "event", "Event", True, etcd_prefix="/events", short_names=("ev",)),
    ResourceInfo("configmaps", "configmap", "ConfigMap", True, etcd_prefix="/configmaps",
                 short_names=("cm",)),
    ResourceInfo("secrets", "secret", "Secret", True, etcd_prefix="/secrets"),
    ResourceInfo("serviceaccounts", "serviceaccount", "ServiceAccount", True,
                 etcd_prefix="/serviceaccounts", short_names=("sa",)),
    ResourceInfo("leases", "lease", "Lease", True, group="coordination.k8s.io",
                 etcd_prefix="/leases"),
    ResourceInfo("services", "service", "Service", True, etcd_prefix="/services/specs",
                 short_names=("svc",), subresources=("status",), categories=("all",)),
    ResourceInfo("deployments", "deployment", "Deployment", True, group="apps",
                 etcd_prefix="/deployments", short_names=("deploy",), subresources=("status", "scale"),
                 categories=("all",)),
    ResourceInfo("replicasets", "replicaset", "ReplicaSet", True, group="apps",
                 etcd_prefix="/replicasets", short_names=("rs",), subresources=("status", "scale"),
                 categories=("all",)),
    # One object per allocated ClusterIP, written with its Service in one transaction
    # (upstream's MultiCIDRServiceAllocator); read-only here.
    ResourceInfo("ipaddresses", "ipaddress", "IPAddress", False, group="networking.k8s.io",
                 etcd_prefix="/ipaddresses", short_names=("ip",), verbs=("get", "list", "watch")),
)

REVIEWS: tuple[ResourceInfo, ...] = (
    ResourceInfo("selfsubjectaccessreviews", "selfsubjectaccessreview", "SelfSubjectAccessReview", False,
                 group="authorization.k8s.io", verbs=("create",)),
    ResourceInfo("selfsubjectrulesreviews", "selfsubjectrulesreview", "SelfSubjectRulesReview", False,
                 group="authorization.k8s.io", verbs=("create",)),
    ResourceInfo("selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", False,
                 group="authentication.k8s.io", verbs=("create",)),
)
SERVED = RESOURCES + REVIEWS

BY_GROUP_VERSION: dict[tuple[str, str], dict[str, ResourceInfo]] = {}
for _r in SERVED:
    BY_GROUP_VERSION.setdefault((_r.group, _r.version), {})[_r.name] = _r


def lookup(group: str, version: str, name: str) -> ResourceInfo | None:
    """The resource served at /api(s)/<group>/<version>/<name>, or None."""
    return BY_GROUP_VERSION.get((group, version), {}).get(name)


def by_kind(kind: str) -> ResourceInfo | None:
    return next((r for r in SERVED if r.kind == kind), None)
