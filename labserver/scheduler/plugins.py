"""The plugins of the default profile, each as small as its idea (pkg/scheduler/framework/plugins/).

A Filter plugin answers, for one pod and one node, None (fits) or the
reasons it does not, in upstream's words ("Insufficient cpu"); it also says
whether evicting other pods could ever help (only resources can: the rest
are "unresolvable"). A Score plugin gives each feasible node 0..100; its
NormalizeScore may rescale the scores over all nodes before the weighted sum.
"""
from __future__ import annotations

from dataclasses import dataclass

from .cache import NodeInfo, spread_key
from .resources import Resources, pod_requests

MAX_NODE_SCORE = 100


@dataclass
class Rejection:
    reasons: list[str]
    resolvable: bool = False       # could preemption (evicting pods) make it fit?


@dataclass
class CycleState:
    """What PreFilter computed once for the pod, read by the other phases."""

    pod: dict
    requests: Resources
    non_zero_requests: Resources
    spread_key: tuple | None


def pre_filter(pod: dict) -> CycleState:
    return CycleState(pod, pod_requests(pod), pod_requests(pod, non_zero=True), spread_key(pod))


# -- Filter --------------------------------------------------------------------------------------

def tolerates(tolerations: list[dict], taint: dict) -> bool:
    """v1 Toleration.ToleratesTaint for any of the pod's tolerations."""
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists":
            if not t.get("key") or t["key"] == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def node_taints(node: dict) -> list[dict]:
    """The node's taints, plus the one its Ready condition implies.

    Upstream the node lifecycle controller writes `node.kubernetes.io/not-ready`
    (Ready False) or `node.kubernetes.io/unreachable` (Ready Unknown) onto the
    node; until a controller here does, the scheduler derives them itself.
    """
    taints = list((node.get("spec") or {}).get("taints") or [])
    ready = next((c.get("status") for c in (node.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Ready"), "Unknown")
    if ready != "True":
        key = "node.kubernetes.io/not-ready" if ready == "False" else "node.kubernetes.io/unreachable"
        if not any(t.get("key") == key and t.get("effect") == "NoSchedule" for t in taints):
            taints.append({"key": key, "effect": "NoSchedule"})
    return taints


def node_unschedulable(state: CycleState, info: NodeInfo) -> Rejection | None:
    """NodeUnschedulable: `spec.unschedulable` (kubectl cordon) keeps new pods off."""
    if not (info.node.get("spec") or {}).get("unschedulable"):
        return None
    taint = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    if tolerates((state.pod.get("spec") or {}).get("tolerations"), taint):
        return None
    return Rejection(["node(s) were unschedulable"])


def taint_toleration(state: CycleState, info: NodeInfo) -> Rejection | None:
    """TaintToleration: every NoSchedule / NoExecute taint must be tolerated."""
    tolerations = (state.pod.get("spec") or {}).get("tolerations")
    for taint in node_taints(info.node):
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return Rejection([f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"])
    return None


def _expression_matches(expr: dict, value: str | None, present: bool) -> bool:
    op, values = expr.get("operator"), expr.get("values") or []
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        try:
            return int(value) > int(values[0]) if op == "Gt" else int(value) < int(values[0])
        except ValueError:
            return False
    return False


def _term_matches(term: dict, node: dict) -> bool:
    """A NodeSelectorTerm: all its expressions hold (an empty term matches nothing)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    fields = {"metadata.name": node["metadata"]["name"]}
    exprs, field_exprs = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not field_exprs:
        return False
    return (all(_expression_matches(e, labels.get(e.get("key")), e.get("key") in labels) for e in exprs)
            and all(_expression_matches(e, fields.get(e.get("key")), e.get("key") in fields) for e in field_exprs))


def node_affinity(state: CycleState, info: NodeInfo) -> Rejection | None:
    """NodeAffinity: `nodeSelector` labels, and the required node affinity's terms (any one of them)."""
    spec = state.pod.get("spec") or {}
    labels = (info.node.get("metadata") or {}).get("labels") or {}
    fits = all(labels.get(k) == v for k, v in (spec.get("nodeSelector") or {}).items())
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    if fits and required.get("nodeSelectorTerms") is not None:
        fits = any(_term_matches(term, info.node) for term in required["nodeSelectorTerms"])
    return None if fits else Rejection(["node(s) didn't match Pod's node affinity/selector"])


def node_resources_fit(state: CycleState, info: NodeInfo) -> Rejection | None:
    """NodeResourcesFit: one more pod, and its requests, within what the node has left."""
    reasons = []
    if len(info.pods) + 1 > info.max_pods:
        reasons.append("Too many pods")
    free = info.allocatable - info.requested
    if state.requests.milli_cpu and state.requests.milli_cpu > free.milli_cpu:
        reasons.append("Insufficient cpu")
    if state.requests.memory and state.requests.memory > free.memory:
        reasons.append("Insufficient memory")
    return Rejection(reasons, resolvable=True) if reasons else None


FILTERS = (node_unschedulable, taint_toleration, node_affinity, node_resources_fit)


# -- Score ---------------------------------------------------------------------------------------

def least_allocated(state: CycleState, info: NodeInfo) -> int:
    """NodeResourcesFit, LeastAllocated: the emptier the node would be after this pod, the higher."""
    alloc = info.allocatable
    after = info.non_zero_requested + state.non_zero_requests
    scores = []
    for capacity, requested in ((alloc.milli_cpu, after.milli_cpu), (alloc.memory, after.memory)):
        scores.append(0 if capacity == 0 or requested > capacity
                      else (capacity - requested) * MAX_NODE_SCORE // capacity)
    return sum(scores) // len(scores)


def pod_spread(state: CycleState, info: NodeInfo) -> int:
    """Spreading: how many pods of the same controller (or same labels) the node already runs."""
    return info.spread[state.spread_key] if state.spread_key is not None else 0


def pod_spread_normalize(scores: dict[str, int]) -> dict[str, int]:
    """Fewest siblings scores 100, most scores 0 (SelectorSpread's NormalizeScore)."""
    most = max(scores.values(), default=0)
    if most == 0:
        return {name: MAX_NODE_SCORE for name in scores}
    return {name: MAX_NODE_SCORE * (most - count) // most for name, count in scores.items()}


@dataclass(frozen=True)
class ScorePlugin:
    name: str
    score: callable
    normalize: callable = None
    weight: int = 1


SCORES = (
    ScorePlugin("NodeResourcesFit", least_allocated, weight=1),
    ScorePlugin("PodTopologySpread", pod_spread, pod_spread_normalize, weight=2),
)
