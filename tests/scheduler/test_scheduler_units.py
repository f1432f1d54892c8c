"""The scheduler's pure parts: quantities, requests, tolerations, the queue's back-off, upstream's messages."""
from __future__ import annotations

import pytest

from labserver.scheduler import plugins
from labserver.scheduler.cache import NodeInfo
from labserver.scheduler.queue import SchedulingQueue
from labserver.scheduler.resources import Resources, parse_quantity, pod_requests
from labserver.scheduler.schedule_one import fit_error, post_filter


@pytest.mark.parametrize("text, milli, value", [
    ("250m", True, 250), ("2", True, 2000), ("0.5", True, 500), ("1.5", False, 2), ("128Mi", False, 128 << 20),
    ("24684092Ki", False, 24684092 << 10), ("1G", False, 10**9), ("1k", False, 1000), ("1e3", False, 1000),
    (4, True, 4000), ("110", False, 110),
])
def test_parse_quantity(text, milli, value):
    assert parse_quantity(text, milli=milli) == value


@pytest.mark.parametrize("bad", ["", "1KB", "abc", "1kk", "Mi"])
def test_bad_quantity_is_refused(bad):
    with pytest.raises(ValueError):
        parse_quantity(bad)


def test_pod_requests_sum_containers_and_cover_init_containers():
    pod = {"spec": {"containers": [{"resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                                   {"resources": {"requests": {"cpu": "200m"}}}],
                    "initContainers": [{"resources": {"requests": {"cpu": "1", "memory": "1Mi"}}}]}}
    assert pod_requests(pod) == Resources(1000, 64 << 20)
    assert pod_requests({"spec": {"containers": [{}]}}) == Resources(0, 0)
    assert pod_requests({"spec": {"containers": [{}]}}, non_zero=True) == Resources(100, 200 << 20)


@pytest.mark.parametrize("toleration, tolerated", [
    ({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}, True),
    ({"key": "k", "value": "v"}, True),
    ({"key": "k", "operator": "Exists"}, True),
    ({"operator": "Exists"}, True),
    ({"key": "k", "value": "other"}, False),
    ({"key": "k", "operator": "Exists", "effect": "NoExecute"}, False),
])
def test_tolerations(toleration, tolerated):
    assert plugins.tolerates([toleration], {"key": "k", "value": "v", "effect": "NoSchedule"}) is tolerated


def test_ready_condition_implies_taints():
    def with_ready(status):
        return {"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": status}]}}
    assert plugins.node_taints(with_ready("True")) == []
    assert plugins.node_taints(with_ready("False"))[0]["key"] == "node.kubernetes.io/not-ready"
    assert plugins.node_taints(with_ready("Unknown"))[0]["key"] == "node.kubernetes.io/unreachable"


def test_messages_in_upstreams_words():
    rejected = {"a": plugins.Rejection(["Insufficient cpu"], True), "b": plugins.Rejection(["Insufficient cpu"], True)}
    assert fit_error(2, rejected) + " " + post_filter({}, rejected) == (
        "0/2 nodes are available: 2 Insufficient cpu. "
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod..")
    assert post_filter({"spec": {"preemptionPolicy": "Never"}}, rejected) == (
        "preemption: not eligible due to preemptionPolicy=Never.")


def test_node_resources_fit_reports_every_shortage():
    node = {"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "1"}}}
    info = NodeInfo("n")
    info.set_node(node)
    info.add_pod({"metadata": {"uid": "u"}, "spec": {"containers": [{}]}})
    state = plugins.pre_filter({"spec": {"containers": [{"resources": {"requests": {"cpu": "2", "memory": "2Gi"}}}]}})
    assert plugins.node_resources_fit(state, info).reasons == ["Too many pods", "Insufficient cpu",
                                                               "Insufficient memory"]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _pod(name):
    return {"metadata": {"name": name, "namespace": "default", "uid": name}}


def test_queue_unschedulable_waits_for_an_event_then_backs_off():
    clock = Clock()
    q = SchedulingQueue(initial_backoff=1.0, max_backoff=10.0, max_unschedulable=300.0, clock=clock)
    q.add(_pod("a"))
    assert q.pop(timeout=0)["metadata"]["name"] == "a"
    q.unschedulable(_pod("a"))
    assert q.pop(timeout=0) is None and q.pending()["unschedulable"] == 1
    q.move_all()
    assert q.pending()["backoff"] == 1 and q.pop(timeout=0) is None
    clock.now = 1.0
    assert q.pop(timeout=0)["metadata"]["name"] == "a"


def test_queue_event_during_the_cycle_is_not_lost():
    """A node added while the pod was being scheduled sends it to back-off, not to wait for another event."""
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(_pod("a"))
    q.pop(timeout=0)
    q.move_all()
    q.unschedulable(_pod("a"))
    assert q.pending() == {"active": 0, "backoff": 1, "unschedulable": 0}


def test_queue_retries_a_forgotten_unschedulable_pod_after_the_maximum():
    clock = Clock()
    q = SchedulingQueue(max_unschedulable=300.0, clock=clock)
    q.add(_pod("a"))
    q.pop(timeout=0)
    q.unschedulable(_pod("a"))
    clock.now = 299.0
    assert q.pop(timeout=0) is None
    clock.now = 300.0
    assert q.pop(timeout=0)["metadata"]["name"] == "a"


def _affinity_fits(labels: dict, expressions=None, fields=None, selector=None) -> bool:
    info = NodeInfo("node-1")
    info.set_node({"metadata": {"name": "node-1", "labels": labels}, "status": {}})
    term = {k: v for k, v in (("matchExpressions", expressions), ("matchFields", fields)) if v}
    spec = {"nodeSelector": selector or {}}
    if term:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [term]}}}
    return plugins.node_affinity(plugins.pre_filter({"spec": spec}), info) is None


@pytest.mark.parametrize("expr, fits", [
    ({"key": "zone", "operator": "In", "values": ["a", "b"]}, True),
    ({"key": "zone", "operator": "NotIn", "values": ["a"]}, False),
    ({"key": "gpu", "operator": "NotIn", "values": ["x"]}, True),
    ({"key": "zone", "operator": "Exists"}, True),
    ({"key": "zone", "operator": "DoesNotExist"}, False),
    ({"key": "cores", "operator": "Gt", "values": ["4"]}, True),
    ({"key": "cores", "operator": "Lt", "values": ["4"]}, False),
    ({"key": "zone", "operator": "Gt", "values": ["4"]}, False),
])
def test_required_node_affinity_operators(expr, fits):
    assert _affinity_fits({"zone": "a", "cores": "8"}, [expr]) is fits


def test_node_affinity_match_fields_and_node_selector_together():
    name_in = [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]
    assert _affinity_fits({}, fields=name_in)
    assert not _affinity_fits({}, fields=[{**name_in[0], "values": ["node-2"]}])
    assert not _affinity_fits({"disk": "hdd"}, fields=name_in, selector={"disk": "ssd"})


def test_cordoned_node_takes_pods_that_tolerate_unschedulable():
    info = NodeInfo("n")
    info.set_node({"metadata": {"name": "n"}, "spec": {"unschedulable": True}, "status": {}})
    plain = plugins.pre_filter({"spec": {}})
    tolerant = plugins.pre_filter({"spec": {"tolerations": [{"key": "node.kubernetes.io/unschedulable",
                                                             "operator": "Exists", "effect": "NoSchedule"}]}})
    assert plugins.node_unschedulable(plain, info).reasons == ["node(s) were unschedulable"]
    assert plugins.node_unschedulable(tolerant, info) is None
