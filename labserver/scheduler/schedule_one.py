"""One scheduling cycle, top to bottom (pkg/scheduler/schedule_one.go), in the framework's phases.

    pod = queue.pop()
    PreFilter       what the pod asks for, computed once
    Filter          every node: does the pod fit? (plugins.FILTERS; the first "no" decides)
    PostFilter      nothing fits: say why, as "0/3 nodes are available: ..." plus what
                    preemption would say; FailedScheduling event, PodScheduled=False
    Score           every feasible node, each score plugin (plugins.SCORES)
    NormalizeScore  a plugin may rescale its scores to 0..100, then the weighted sum
    select host     the best total, a random one among ties
    Reserve         assume the pod on that node in the cache (the next cycle sees it)
    Bind            POST a Binding (in a worker thread: the next cycle does not wait);
                    Scheduled event, or on failure forget the assumption and retry

Preemption is not built: no pod is evicted to make room. Every pod here has
priority 0, so upstream's DefaultPreemption would find no victims either, and
the PostFilter message says what it would say.
"""
from __future__ import annotations

import logging
import random
from collections import Counter
from typing import TYPE_CHECKING

from . import plugins
from .cache import NodeInfo, pod_key
from ..client import APIStatusError

if TYPE_CHECKING:
    from .scheduler import Scheduler

log = logging.getLogger("scheduler")

NO_NODES = "no nodes available to schedule pods"


def schedule_one(sched: "Scheduler", pod: dict) -> None:
    """Run one pod through the scheduling cycle; hand the binding cycle to a worker."""
    state = plugins.pre_filter(pod)                                          # PreFilter
    with sched.cache.lock:
        nodes = sched.cache.node_infos()
        if not nodes:
            sched.unschedulable(pod, NO_NODES)
            return
        feasible, rejected = find_nodes_that_fit(state, nodes)               # Filter
        if not feasible:
            sched.unschedulable(pod, fit_error(len(nodes), rejected) + " " + post_filter(pod, rejected))
            return
        totals = prioritize_nodes(state, feasible)                           # Score, NormalizeScore
        host = select_host(totals)
        sched.cache.assume(pod, host)                                        # Reserve
    sched.binder.submit(binding_cycle, sched, pod, host)                     # Bind


def find_nodes_that_fit(state: plugins.CycleState, nodes: list[NodeInfo]):
    """Feasible nodes, and for each other node the Rejection of the first filter that said no."""
    feasible, rejected = [], {}
    for info in nodes:
        for filter_ in plugins.FILTERS:
            rejection = filter_(state, info)
            if rejection is not None:
                rejected[info.name] = rejection
                break
        else:
            feasible.append(info)
    return feasible, rejected


def _histogram(reasons) -> str:
    """"2 Insufficient cpu, 1 node(s) were unschedulable": counts per reason, sorted as strings."""
    return ", ".join(sorted(f"{n} {reason}" for reason, n in Counter(reasons).items()))


def fit_error(num_nodes: int, rejected: dict[str, plugins.Rejection]) -> str:
    """FitError.Error(): "0/N nodes are available: <histogram>."."""
    return f"0/{num_nodes} nodes are available: {_histogram(r for rej in rejected.values() for r in rej.reasons)}."


def post_filter(pod: dict, rejected: dict[str, plugins.Rejection]) -> str:
    """What DefaultPreemption says when it finds no node where evicting pods would help.

    Only nodes rejected for resources could be helped by evicting pods; with no
    lower-priority pod on them there are no victims. Upstream wraps that second
    FitError (which ends in ".") in another " %v." and so ends the message "..".
    """
    if (pod.get("spec") or {}).get("preemptionPolicy") == "Never":
        return "preemption: not eligible due to preemptionPolicy=Never."
    reasons = ["No preemption victims found for incoming pod" if rej.resolvable
               else "Preemption is not helpful for scheduling" for rej in rejected.values()]
    return f"preemption: 0/{len(rejected)} nodes are available: {_histogram(reasons)}.."


def prioritize_nodes(state: plugins.CycleState, feasible: list[NodeInfo]) -> dict[str, int]:
    """Each score plugin over all feasible nodes, normalized, weighted and summed per node."""
    totals = Counter({info.name: 0 for info in feasible})
    for plugin in plugins.SCORES:
        scores = {info.name: plugin.score(state, info) for info in feasible}
        if plugin.normalize is not None:
            scores = plugin.normalize(scores)
        for name, score in scores.items():
            totals[name] += score * plugin.weight
    return dict(totals)


def select_host(totals: dict[str, int]) -> str:
    """The node with the highest score; among equals, one at random."""
    best = max(totals.values())
    return random.choice([name for name, score in totals.items() if score == best])


def binding_cycle(sched: "Scheduler", pod: dict, host: str) -> None:
    """POST the Binding; on success a Scheduled event, on failure undo the Reserve and retry later."""
    meta = pod["metadata"]
    namespace, name = meta.get("namespace", "default"), meta["name"]
    body = {"apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace, "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": host}}
    try:
        sched.client.post(f"/api/v1/namespaces/{namespace}/pods/{name}/binding", body)
    except APIStatusError as e:
        sched.cache.forget(pod)
        if e.code == 404 or (e.code == 409 and "already assigned" in e.message):
            log.info("pod %s: %s; dropped", pod_key(pod), e.message)     # gone, or bound by someone else
            sched.queue.done(pod)
            return
        log.warning("binding %s to %s failed: %s", pod_key(pod), host, e)
        sched.failed(pod, f"binding rejected: running Bind plugin \"DefaultBinder\": {e.message}",
                     reason="SchedulerError")
        return
    except Exception as e:    # the API server away, or anything else: try again later
        sched.cache.forget(pod)
        log.warning("binding %s to %s failed: %s", pod_key(pod), host, e)
        sched.queue.error(pod)
        return
    sched.queue.done(pod)
    sched.bound(pod, host)
    sched.events.event(pod, "Normal", "Scheduled", "Binding", f"Successfully assigned {namespace}/{name} to {host}")
