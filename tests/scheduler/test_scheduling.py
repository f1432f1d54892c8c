"""The scheduler binds pods, says why when nothing fits, and retries when the cluster changes.

The module's tests share one API server (shared_apiserver), each in its own namespace. A test's
scheduler sees every namespace's pending pods and every node, so each test names its nodes after
its namespace (the `n` fixture) and, at its end (after its scheduler stopped), deletes its pods and
nodes: the next test's scheduler finds an empty cluster, whatever the order."""
from __future__ import annotations

import collections
import uuid

import pytest
import requests

from scheduler_testing import PODS, add_nodes, create, events_of, node, pod, wait_bound, wait_event
from labserver.lab.supervise.procs import wait_for

pytestmark = [pytest.mark.shared_apiserver]

@pytest.fixture
def n(namespace):
    """n("node-1"): the name of this test's node-1 (cluster-scoped: prefixed with the namespace)."""
    return lambda name: f"{namespace}-{name}"


def test_binds_a_pending_pod_with_a_scheduled_event(api, namespace, n, scheduler):
    """A pod with no node is bound through pods/binding; Scheduled event; PodScheduled=True."""
    add_nodes(api, node(n("node-2")))
    create(api, pod("nginx"))
    assert wait_bound(api, "nginx") == n("node-2")
    event = wait_event(api, "nginx", "Scheduled")
    assert event["message"] == f"Successfully assigned {namespace}/nginx to {n('node-2')}"
    assert (event["type"], event["source"]["component"], event["reportingComponent"], event["action"]) == (
        "Normal", "default-scheduler", "default-scheduler", "Binding")
    conditions = api.get(f"{PODS}/nginx").json()["status"]["conditions"]
    assert {"type": "PodScheduled", "status": "True"}.items() <= conditions[0].items()


def test_pods_of_another_scheduler_are_left_alone(api, n, scheduler):
    add_nodes(api, node(n("node-1")))
    create(api, pod("mine"), pod("theirs", schedulerName="other-scheduler"))
    wait_bound(api, "mine")
    assert "nodeName" not in api.get(f"{PODS}/theirs").json()["spec"]
    assert events_of(api, "theirs") == []


def start_scheduler_knowing_the_nodes(component_factory):
    """The scheduler, started once the test's nodes (and bound pods) exist: its first lists hold them all.

    For a test whose assertion is about the pod's first try: started before, its node watch could still
    be short of a node when the pod's event comes (two watches, no order between them), and the pod's
    first try would see fewer nodes ("no nodes available to schedule pods", or the fuller node only)."""
    return component_factory("scheduler", "--pod-initial-backoff=0.2", "--pod-max-backoff=1")


# Each filter: node-bad fails it, node-good passes; every pod must land on node-good.
FILTER_CASES = {
    "unschedulable (cordoned)": (dict(unschedulable=True), {}),
    "not Ready": (dict(ready="False"), {}),
    "Ready Unknown": (dict(ready="Unknown"), {}),
    "NoSchedule taint": (dict(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]), {}),
    "NoExecute taint": (dict(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]), {}),
    "nodeSelector": (dict(labels={"disk": "hdd"}), {"spec": {"nodeSelector": {"disk": "ssd"}}}),
    "required node affinity": (dict(labels={"zone": "b"}), {"spec": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}}}),
    "cpu requests": (dict(cpu="200m"), {"cpu": "500m"}),
    "memory requests": (dict(memory="128Mi"), {"memory": "256Mi"}),
    "pods capacity": (dict(pods="0"), {}),
}


@pytest.mark.parametrize("case", FILTER_CASES)
def test_each_filter_keeps_pods_off_a_node_that_fails_it(api, n, scheduler, case):
    bad, extra = FILTER_CASES[case]
    good_labels = {"disk": "ssd", "zone": "a"}
    add_nodes(api, node(n("node-bad"), **bad), node(n("node-good"), labels=good_labels))
    spec = extra.get("spec", {})
    resources = {k: v for k, v in extra.items() if k != "spec"}
    names = [f"p{i}" for i in range(4)]
    create(api, *(pod(name, **resources, **spec) for name in names))
    assert [wait_bound(api, name) for name in names] == [n("node-good")] * 4


def test_a_tolerated_taint_lets_the_pod_on(api, n, component_factory):
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    add_nodes(api, node(n("gpu-node"), taints=[taint]))
    start_scheduler_knowing_the_nodes(component_factory)
    create(api, pod("tolerant", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu",
                                              "effect": "NoSchedule"}]),
           pod("intolerant"))
    assert wait_bound(api, "tolerant") == n("gpu-node")
    event = wait_event(api, "intolerant", "FailedScheduling")
    assert event["message"] == ("0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}. "
                                "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling..")


def test_least_requested_prefers_the_emptier_node(api, n, component_factory):
    """NodeResourcesFit (LeastAllocated): node-a is half full, so the new pod goes to node-b."""
    add_nodes(api, node(n("node-a"), cpu="2", memory="4Gi"), node(n("node-b"), cpu="2", memory="4Gi"))
    create(api, pod("big", cpu="1", memory="2Gi", nodeName=n("node-a")))
    start_scheduler_knowing_the_nodes(component_factory)
    create(api, pod("small", cpu="100m", memory="64Mi"))
    assert wait_bound(api, "small") == n("node-b")


def test_spreading_puts_siblings_apart(api, n, component_factory):
    """Spreading beats a roomier node for a pod whose sibling is there; an unrelated pod takes the roomy node."""
    add_nodes(api, node(n("roomy"), cpu="64", memory="256Gi"), node(n("small"), cpu="4", memory="16Gi"))
    create(api, pod("web-0", labels={"app": "web"}, nodeName=n("roomy")))
    start_scheduler_knowing_the_nodes(component_factory)
    create(api, pod("web-1", labels={"app": "web"}))
    assert wait_bound(api, "web-1") == n("small")
    create(api, pod("db-0", labels={"app": "db"}))
    assert wait_bound(api, "db-0") == n("roomy")


def test_thirty_pods_over_three_nodes_within_capacity(api, n, scheduler):
    """33 pods on 3 nodes of 10 pods and 4 CPUs: 30 land, at most 10 and 4 CPUs a node; 3 do not fit."""
    add_nodes(api, *(node(n(f"node-{i}"), cpu="4", pods="10") for i in range(3)))
    names = [f"web-{i:02d}" for i in range(33)]
    create(api, *(pod(name, cpu="300m", labels={"app": "web"}) for name in names))

    def settled():
        items = [p for p in api.get(PODS).json()["items"]]
        bound = [p for p in items if p["spec"].get("nodeName")]
        failed = {e["involvedObject"]["name"] for e in api.get("/api/v1/namespaces/default/events").json()["items"]
                  if e["reason"] == "FailedScheduling"}
        return (bound, failed) if len(bound) == 30 and len(failed) >= 3 else None
    bound, failed = wait_for(settled, 60, "30 pods bound and 3 FailedScheduling", progress=print)
    per_node = collections.Counter(p["spec"]["nodeName"] for p in bound)
    assert sorted(per_node) == [n("node-0"), n("node-1"), n("node-2")] and max(per_node.values()) == 10
    assert all(count * 300 <= 4000 for count in per_node.values())
    unbound = [name for name in names if name not in {p["metadata"]["name"] for p in bound}]
    assert set(unbound) <= failed and len(unbound) == 3
    pending = api.get(f"{PODS}/{unbound[0]}").json()
    [cond] = [c for c in pending["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    assert cond["message"] == ("0/3 nodes are available: 3 Too many pods. preemption: 0/3 nodes are available: "
                               "3 No preemption victims found for incoming pod..")


def test_failed_scheduling_event_and_condition(api, n, component_factory):
    """Nothing fits: FailedScheduling with upstream's message (reasons counted and sorted), PodScheduled=False."""
    add_nodes(api, node(n("node-1"), cpu="1"), node(n("node-2"), cpu="1", taints=[
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    # Started after both nodes exist, so its first list holds both (started before, its node watch
    # could still be one node short when the pod comes, and the message would count 1 node).
    component_factory("scheduler", "--pod-initial-backoff=0.2", "--pod-max-backoff=1")
    create(api, pod("hungry", cpu="2"))
    event = wait_event(api, "hungry", "FailedScheduling")
    expected = ("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: gpu}. "
                "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, "
                "1 Preemption is not helpful for scheduling..")
    assert (event["type"], event["message"], event["source"]["component"]) == ("Warning", expected,
                                                                                "default-scheduler")

    def condition():
        conds = api.get(f"{PODS}/hungry").json()["status"].get("conditions") or []
        return next((c for c in conds if c["type"] == "PodScheduled"), None)
    cond = wait_for(condition, 20, "PodScheduled condition")
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", expected)


def test_pending_pod_is_scheduled_when_a_node_is_added(api, n, scheduler):
    """With no node the pod waits ("no nodes available"); the node's arrival brings it back at once."""
    create(api, pod("early"))
    event = wait_event(api, "early", "FailedScheduling")
    assert event["message"] == "no nodes available to schedule pods"
    add_nodes(api, node(n("late-node")))
    assert wait_bound(api, "early", timeout=10) == n("late-node")


def test_pod_deleted_frees_room(api, n, scheduler):
    """A node full by pod count takes the waiting pod once a pod on it is deleted."""
    add_nodes(api, node(n("tiny"), pods="1"))
    create(api, pod("first"))
    wait_bound(api, "first")
    create(api, pod("second"))
    wait_event(api, "second", "FailedScheduling")
    assert api.delete(f"{PODS}/first", json={"gracePeriodSeconds": 0}).status_code == 200
    assert wait_bound(api, "second") == n("tiny")


def test_pending_pod_is_scheduled_when_its_node_is_uncordoned(api, n, component_factory):
    """A node update (kubectl uncordon: spec.unschedulable false) brings the waiting pod back."""
    add_nodes(api, node(n("cordoned"), unschedulable=True))
    start_scheduler_knowing_the_nodes(component_factory)
    create(api, pod("waiting"))
    event = wait_event(api, "waiting", "FailedScheduling")
    assert event["message"].startswith("0/1 nodes are available: 1 node(s) were unschedulable.")
    r = api.patch(f"/api/v1/nodes/{n('cordoned')}", json={"spec": {"unschedulable": False}},
                  headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == 200, r.text
    assert wait_bound(api, "waiting", timeout=10) == n("cordoned")


@pytest.fixture
def private_apiserver(etcd, tmp_path):
    """An API server of this test's own (it is stopped and started again), on its own etcd prefix."""
    from labserver.lab.supervise.components import start_apiserver
    prefix = f"/p-{uuid.uuid4().hex[:8]}/registry"
    server = start_apiserver(etcd.client_url, tmp_path / "apiserver.log", extra_args=[f"--etcd-prefix={prefix}"])
    server.flags["etcd-prefix"] = prefix
    yield server
    server.stop()


def test_scheduler_carries_on_after_the_api_server_restarts(etcd, private_apiserver, tmp_path):
    """The informers reconnect and resume: a pod created after the restart is bound.

    It stops the API server: on a private one (its cluster has only this test's objects)."""
    from urllib.parse import urlparse

    from labserver.lab.supervise.components import start_apiserver, start_scheduler
    apiserver = private_apiserver
    api = requests.Session()
    original = api.request
    api.request = lambda method, url, *a, **kw: original(method, apiserver.url + url, *a, **{"timeout": 30, **kw})
    scheduler = start_scheduler(apiserver.url, tmp_path / "scheduler.log",
                                extra_args=["--pod-initial-backoff=0.2", "--pod-max-backoff=1"])
    again = None
    try:
        add_nodes(api, node("node-1"))
        create(api, pod("before"))
        wait_bound(api, "before")
        apiserver.stop()
        again = start_apiserver(etcd.client_url, tmp_path / "apiserver-2.log", port=urlparse(apiserver.url).port,
                                extra_args=[f"--etcd-prefix={apiserver.flags['etcd-prefix']}"])
        create(api, pod("after"))
        assert wait_bound(api, "after", timeout=30) == "node-1"
    finally:
        scheduler.stop()
        if again is not None:
            again.stop()
        api.close()
