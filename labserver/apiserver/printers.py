"""Server-side printing: list results as meta.k8s.io/v1 Tables, the way `kubectl get` wants them.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints
whatever columns the server sends; given a plain list it can only show NAME
and AGE. The real API server builds the rows in
pkg/printers/internalversion/printers.go (always "wide": kubectl hides the
priority-1 columns unless `-o wide`), and ages with
k8s.io/apimachinery/pkg/util/duration.HumanDuration. This module is a port of
the parts for the resources we serve, so `kubectl get pods` looks as it does
against a real cluster. A stored object that does not have the shape of its
type (written before the type checks, or straight into etcd) still gets a row:
its name and `<unknown>` cells, and a line in the server log.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable

from labserver.apiserver.resources import ResourceInfo

_NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, although some "
             "resources may allow a client to request the generation of an appropriate name automatically. "
             "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
             "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was created. "
            "It is not guaranteed to be set in happens-before order across separate operations. Clients may "
            "not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. "
            "Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
            "api-conventions.md#metadata")


def _col(name: str, description: str = "", priority: int = 0, fmt: str = "", typ: str = "string") -> dict:
    return {"name": name, "type": typ, "format": fmt, "description": description, "priority": priority}


NAME_COLUMN = _col("Name", _NAME_DOC, fmt="name")
AGE_COLUMN = _col("Age", _AGE_DOC)


# -- Accept negotiation ------------------------------------------------------

def wants_table(accept: str | None) -> bool:
    """Whether an Accept header asks for a meta.k8s.io Table (as kubectl get does)."""
    for media_range in (accept or "").split(","):
        params = {}
        for part in media_range.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            params[key.strip().lower()] = value.strip()
        if (params.get("as") == "Table" and params.get("g") == "meta.k8s.io"
                and params.get("v") in ("v1", "v1beta1")):
            return True
    return False


# -- ages ------------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """apimachinery duration.HumanDuration: `5s`, `3m20s`, `28m`, `3h4m`, `10h`, `2d3h`, `50d`, `2y30d`."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp (`2015-09-02T14:46:34Z`, optionally with fractions) or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def since(value: str | None, now: datetime | None = None) -> str:
    """translateTimestampSince: the age of a timestamp, `<unknown>` when unset."""
    when = parse_time(value)
    if when is None:
        return "<unknown>"
    now = now or datetime.now(timezone.utc)
    return human_duration((now - when).total_seconds())


# -- pods ----------------------------------------------------------------------

POD_COLUMNS = [
    NAME_COLUMN,
    _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", "The aggregate status of the containers in this pod."),
    _col("Restarts", "The number of times the containers in this pod have been restarted and when the last "
                     "container in this pod has restarted."),
    AGE_COLUMN,
    _col("IP", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
               "allocated.", 1),
    _col("Node", "NodeName indicates in which node this pod is scheduled.", 1),
    _col("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node, but it "
                           "cannot be scheduled right away as preemption victims receive their graceful "
                           "termination periods.", 1),
    _col("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness. A pod is "
                            "ready when all its containers are ready AND all conditions specified in the "
                            "readiness gates have status equal to \"True\". More info: "
                            "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates", 1),
]


def _restartable(container: dict | None) -> bool:
    return bool(container) and container.get("restartPolicy") == "Always"


def _later(a: str | None, b: str | None) -> str | None:
    ta, tb = parse_time(a), parse_time(b)
    if tb is None:
        return a
    return b if ta is None or tb > ta else a


def _terminated_reason(term: dict, prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def pod_cells(pod: dict, now: datetime | None = None) -> tuple[list, list | None]:
    """printPod: the row cells (wide) and row conditions of one pod."""
    spec, status, meta = pod.get("spec") or {}, pod.get("status") or {}, pod.get("metadata") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    conditions = status.get("conditions") or []
    for cond in conditions:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(spec.get("containers") or []) + sum(1 for c in init_specs.values() if _restartable(c))
    ready = restarts = sidecar_restarts = 0
    last_restart = last_sidecar_restart = None

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        restarts += cs.get("restartCount", 0)
        finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        last_restart = _later(last_restart, finished)
        sidecar = _restartable(init_specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if term:
            reason = _terminated_reason(term, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True" for c in conditions)
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount", 0)
            finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
            last_restart = _later(last_restart, finished)
            state = cs.get("state") or {}
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif term:
                reason = _terminated_reason(term)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
            reason = "Running" if pod_ready else "NotReady"

    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({since(last_restart, now)} ago)"

    pod_ips = status.get("podIPs") or []
    pod_ip = (pod_ips[0].get("ip") if pod_ips else None) or status.get("podIP") or "<none>"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        by_type = {c.get("type"): c.get("status") for c in conditions}
        true = sum(1 for g in gates if by_type.get(g.get("conditionType")) == "True")
        gates_text = f"{true}/{len(gates)}"
    cells = [meta.get("name", ""), f"{ready}/{total}", reason, restarts_text, since(meta.get("creationTimestamp"), now),
             pod_ip, spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>", gates_text]
    row_conditions = None
    if phase == "Succeeded":
        row_conditions = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                           "message": "The pod has completed successfully."}]
    elif phase == "Failed":
        row_conditions = [{"type": "Completed", "status": "True", "reason": "Failed",
                           "message": "The pod failed."}]
    return cells, row_conditions


# -- nodes -----------------------------------------------------------------------

NODE_COLUMNS = [
    NAME_COLUMN,
    _col("Status", "The status of the node"),
    _col("Roles", "The roles of the node"),
    AGE_COLUMN,
    _col("Version", "Kubelet Version reported by the node."),
    _col("Internal-IP", "List of addresses reachable to the node. Queried from cloud provider, if available. "
                        "More info: https://kubernetes.io/docs/reference/node/node-status/#addresses", 1),
    _col("External-IP", "List of addresses reachable to the node. Queried from cloud provider, if available. "
                        "More info: https://kubernetes.io/docs/reference/node/node-status/#addresses", 1),
    _col("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1),
    _col("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
    _col("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API "
                              "(e.g. containerd://1.4.2).", 1),
]


def node_roles(node: dict) -> list[str]:
    """findNodeRoles: `node-role.kubernetes.io/<role>` labels and the legacy `kubernetes.io/role`."""
    roles = set()
    for key, value in ((node.get("metadata") or {}).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return sorted(roles)


def node_cells(node: dict, now: datetime | None = None) -> tuple[list, None]:
    """printNode: Ready/NotReady/Unknown (+SchedulingDisabled), roles, version, addresses."""
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    states = [] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    states = states or ["Unknown"]
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    info = status.get("nodeInfo") or {}

    def address(kind: str) -> str:
        return next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == kind), "<none>")
    cells = [meta.get("name", ""), ",".join(states), ",".join(node_roles(node)) or "<none>",
             since(meta.get("creationTimestamp"), now), info.get("kubeletVersion", ""),
             address("InternalIP"), address("ExternalIP"), info.get("osImage") or "<unknown>",
             info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>"]
    return cells, None


# -- namespaces, events, leases, anything else -----------------------------------

NAMESPACE_COLUMNS = [NAME_COLUMN, _col("Status", "The status of the namespace"), AGE_COLUMN]


def namespace_cells(ns: dict, now: datetime | None = None) -> tuple[list, None]:
    meta = ns.get("metadata") or {}
    return [meta.get("name", ""), (ns.get("status") or {}).get("phase", ""),
            since(meta.get("creationTimestamp"), now)], None


EVENT_COLUMNS = [
    _col("Last Seen", "Time when last event occurred"),
    _col("Type", "Type of this event (Normal, Warning), new types could be added in the future."),
    _col("Reason", "This should be a short, machine understandable string that gives the reason for this "
                   "event being generated."),
    _col("Object", "The object this Event is about."),
    _col("Subobject", "The subobject this Event is about.", 1),
    _col("Source", "The component reporting this event.", 1),
    _col("Message", "A human-readable description of the status of this operation."),
    _col("First Seen", "The time at which the event was first recorded.", 1),
    _col("Count", "The number of times this event has occurred.", 1),
    _col("Name", _NAME_DOC, 1, fmt="name"),
]


def event_cells(ev: dict, now: datetime | None = None) -> tuple[list, None]:
    """printEvent: last seen, type, reason, kind/name of the object, message (+ wide columns)."""
    first = since(ev.get("firstTimestamp"), now) if ev.get("firstTimestamp") else since(ev.get("eventTime"), now)
    last = since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 1
    series = ev.get("series")
    if series:
        last, count = since(series.get("lastObservedTime"), now), series.get("count", count)
    involved = ev.get("involvedObject") or {}
    target = (involved.get("kind") or "").lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    instance = source.get("host") or ev.get("reportingInstance") or ""
    source_text = f"{component}, {instance}" if instance else component
    return [last, ev.get("type", ""), ev.get("reason", ""), target, involved.get("fieldPath", ""), source_text,
            (ev.get("message") or "").strip(), first, int(count), (ev.get("metadata") or {}).get("name", "")], None


LEASE_COLUMNS = [NAME_COLUMN, _col("Holder", "The holder of the lease"), AGE_COLUMN]


def lease_cells(lease: dict, now: datetime | None = None) -> tuple[list, None]:
    meta = lease.get("metadata") or {}
    return [meta.get("name", ""), (lease.get("spec") or {}).get("holderIdentity") or "",
            since(meta.get("creationTimestamp"), now)], None


# -- configmaps, secrets, serviceaccounts --------------------------------------------

CONFIGMAP_COLUMNS = [NAME_COLUMN, _col("Data", "Data contains the configuration data. Each key must consist of "
                                           "alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte "
                                           "sequences must use the BinaryData field. The keys stored in Data must "
                                           "not overlap with the keys in the BinaryData field, this is enforced "
                                           "during validation process."), AGE_COLUMN]


def configmap_cells(cm: dict, now: datetime | None = None) -> tuple[list, None]:
    """printConfigMap: the number of keys in data and binaryData."""
    meta = cm.get("metadata") or {}
    return [meta.get("name", ""), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}),
            since(meta.get("creationTimestamp"), now)], None


SECRET_COLUMNS = [NAME_COLUMN, _col("Type", "Used to facilitate programmatic handling of secret data. More info: "
                                            "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
                  _col("Data", "Data contains the secret data. Each key must consist of alphanumeric characters, "
                               "'-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, "
                               "representing the arbitrary (possibly non-string) data value here. Described in "
                               "https://tools.ietf.org/html/rfc4648#section-4"), AGE_COLUMN]


def secret_cells(secret: dict, now: datetime | None = None) -> tuple[list, None]:
    """printSecret: type and the number of keys in data."""
    meta = secret.get("metadata") or {}
    return [meta.get("name", ""), secret.get("type", ""), len(secret.get("data") or {}),
            since(meta.get("creationTimestamp"), now)], None


SERVICEACCOUNT_COLUMNS = [NAME_COLUMN, _col("Secrets", "Secrets is a list of the secrets in the same namespace "
                                                       "that pods running using this ServiceAccount are allowed to "
                                                       "use."), AGE_COLUMN]


def serviceaccount_cells(sa: dict, now: datetime | None = None) -> tuple[list, None]:
    """printServiceAccount: the number of secrets listed."""
    meta = sa.get("metadata") or {}
    return [meta.get("name", ""), len(sa.get("secrets") or []), since(meta.get("creationTimestamp"), now)], None


SERVICE_COLUMNS = [
    NAME_COLUMN,
    _col("Type", "The type of the service (ClusterIP, NodePort, LoadBalancer, ExternalName)."),
    _col("Cluster-IP", "The IP address of the service, allocated from the service cluster IP range."),
    _col("External-IP", "The external IPs of the service (or its external name)."),
    _col("Port(s)", "The ports the service serves, as port[:nodePort]/protocol."),
    AGE_COLUMN,
    _col("Selector", "Route service traffic to pods with label keys and values matching this selector.", 1),
]


def _external_ip(spec: dict, status: dict) -> str:
    """getServiceExternalIP: external IPs, the load balancer's ingress, or the external name."""
    kind, external = spec.get("type"), list(spec.get("externalIPs") or [])
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        ingress = [i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or []]
        return ",".join(external + [i for i in ingress if i]) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName") or ""
    return "<unknown>"


def service_cells(svc: dict, now: datetime | None = None) -> tuple[list, None]:
    """printService: type, cluster IP, external IP, `80/TCP` or `80:30080/TCP` ports, age, selector."""
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    ports = ",".join(f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
                     else f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [meta.get("name", ""), spec.get("type", ""), spec.get("clusterIP") or "<none>",
            _external_ip(spec, svc.get("status") or {}), ports or "<none>",
            since(meta.get("creationTimestamp"), now), selector or "<none>"], None


IPADDRESS_COLUMNS = [NAME_COLUMN, _col("ParentRef", "ParentRef references the resource that an IPAddress is "
                                                   "attached to."), AGE_COLUMN]


def ipaddress_cells(ip: dict, now: datetime | None = None) -> tuple[list, None]:
    """printIPAddress: `services/default/web` for the Service that holds the address."""
    meta, ref = ip.get("metadata") or {}, (ip.get("spec") or {}).get("parentRef") or {}
    resource = f"{ref.get('resource', '')}.{ref['group']}" if ref.get("group") else ref.get("resource", "")
    parent = f"{resource}/{ref['namespace']}/{ref.get('name', '')}" if ref.get("namespace") \
        else f"{resource}/{ref.get('name', '')}"
    return [meta.get("name", ""), parent, since(meta.get("creationTimestamp"), now)], None


_CONTAINER_COLUMNS = [
    _col("Containers", "Names of each container in the template.", 1),
    _col("Images", "Images referenced by each container in the template.", 1),
    _col("Selector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be "
                     "the ones affected by this deployment.", 1),
]
DEPLOYMENT_COLUMNS = [
    NAME_COLUMN,
    _col("Ready", "Number of the pod with ready state"),
    _col("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired "
                       "template spec.", typ="integer"),
    _col("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this "
                      "deployment.", typ="integer"),
    AGE_COLUMN,
] + _CONTAINER_COLUMNS
REPLICASET_COLUMNS = [
    NAME_COLUMN,
    _col("Desired", "Replicas is the number of desired replicas.", typ="integer"),
    _col("Current", "Replicas is the most recently observed number of replicas.", typ="integer"),
    _col("Ready", "The number of ready replicas for this replica set.", typ="integer"),
    AGE_COLUMN,
] + _CONTAINER_COLUMNS


def _template_cells(obj: dict) -> list:
    """layoutContainerCells: container names, images, and the selector in `kubectl get -l` form."""
    from ..client import selector_string
    spec = obj.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
            selector_string(spec.get("selector")) or "<none>"]


def deployment_cells(deploy: dict, now: datetime | None = None) -> tuple[list, None]:
    """printDeployment: READY is ready/desired; UP-TO-DATE and AVAILABLE from the status."""
    meta, spec, status = deploy.get("metadata") or {}, deploy.get("spec") or {}, deploy.get("status") or {}
    return [meta.get("name", ""), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0),
            since(meta.get("creationTimestamp"), now)] + _template_cells(deploy), None


def replicaset_cells(rs: dict, now: datetime | None = None) -> tuple[list, None]:
    """printReplicaSet: desired (spec), current and ready (status)."""
    meta, spec, status = rs.get("metadata") or {}, rs.get("spec") or {}, rs.get("status") or {}
    return [meta.get("name", ""), spec.get("replicas", 0), status.get("replicas", 0),
            status.get("readyReplicas", 0), since(meta.get("creationTimestamp"), now)] + _template_cells(rs), None


DEFAULT_COLUMNS = [NAME_COLUMN, _col("Created At", _AGE_DOC, fmt="date")]


def default_cells(obj: dict, now: datetime | None = None) -> tuple[list, None]:
    """DefaultTableConvertor: name and the creation timestamp as RFC 3339."""
    meta = obj.get("metadata") or {}
    return [meta.get("name", ""), meta.get("creationTimestamp", "")], None


PRINTERS: dict[str, tuple[list, Callable]] = {
    "pods": (POD_COLUMNS, pod_cells),
    "nodes": (NODE_COLUMNS, node_cells),
    "namespaces": (NAMESPACE_COLUMNS, namespace_cells),
    "events": (EVENT_COLUMNS, event_cells),
    "leases": (LEASE_COLUMNS, lease_cells),
    "configmaps": (CONFIGMAP_COLUMNS, configmap_cells),
    "secrets": (SECRET_COLUMNS, secret_cells),
    "serviceaccounts": (SERVICEACCOUNT_COLUMNS, serviceaccount_cells),
    "services": (SERVICE_COLUMNS, service_cells),
    "ipaddresses": (IPADDRESS_COLUMNS, ipaddress_cells),
    "deployments": (DEPLOYMENT_COLUMNS, deployment_cells),
    "replicasets": (REPLICASET_COLUMNS, replicaset_cells),
}


def _fallback_cells(resource: ResourceInfo, obj, columns: list, error: Exception) -> list:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name") if isinstance(meta.get("name"), str) else "<unknown>"
    logging.getLogger("labserver.apiserver").warning(
        "%s %s/%s in etcd does not match its type (%s: %s); shown with <unknown> cells", resource.kind,
        meta.get("namespace") or "", name, type(error).__name__, error)
    return [name if c["format"] == "name" else "<unknown>" for c in columns]


def _row_object(resource: ResourceInfo, obj: dict, include_object: str) -> dict | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": meta if isinstance(meta, dict) else {}}


def to_table(resource: ResourceInfo, objects: list[dict], resource_version: str,
             include_object: str = "Metadata", with_columns: bool = True,
             continue_token: str | None = None, now: datetime | None = None) -> dict:
    """A meta.k8s.io/v1 Table of `objects` with the columns kubectl shows for `resource`."""
    columns, cells_of = PRINTERS.get(resource.name, (DEFAULT_COLUMNS, default_cells))
    now = now or datetime.now(timezone.utc)
    rows = []
    for obj in objects:
        try:
            cells, conditions = cells_of(obj, now)
        except Exception as e:   # a malformed stored object: show what we can, never fail the listing
            cells, conditions = _fallback_cells(resource, obj, columns, e), None
        row = {"cells": cells}
        if conditions:
            row["conditions"] = conditions
        payload = _row_object(resource, obj, include_object or "Metadata")
        if payload is not None:
            row["object"] = payload
        rows.append(row)
    metadata = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "columnDefinitions": [dict(c) for c in columns] if with_columns else [], "rows": rows}
