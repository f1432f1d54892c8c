"""The official Python client (kubernetes package) reads, writes and watches our objects without errors.

The module's tests share one API server (tests/conftest.py), each in its own namespace; the nodes and
leases they create are named after that namespace, and their node and lease lists are filtered to those."""
from __future__ import annotations

import threading

import pytest
from kubernetes import client as k8s, watch

from api_testing import NGINX_POD, pod
from kubectl_testing import register_node

pytestmark = pytest.mark.shared_apiserver

@pytest.fixture
def core(apiserver):
    """A CoreV1Api on the apiserver fixture."""
    config = k8s.Configuration(host=apiserver.url)
    with k8s.ApiClient(config) as api_client:
        yield k8s.CoreV1Api(api_client)


def test_pod_create_read_list_patch_delete(core, namespace):
    """Pods round-trip through create, read, list (with selectors), patch and delete as typed objects."""
    created = core.create_namespaced_pod(namespace, NGINX_POD)
    assert isinstance(created, k8s.V1Pod)
    assert created.metadata.uid and created.metadata.resource_version.isdigit()
    assert created.spec.restart_policy == "Always" and created.spec.dns_policy == "ClusterFirst"
    assert created.status.phase == "Pending"
    assert [c.name for c in created.spec.containers] == ["nginx", "log-truncator"]

    typed = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="typed", labels={"app": "web"}),
                      spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="busybox")]))
    core.create_namespaced_pod(namespace, typed)
    read = core.read_namespaced_pod("typed", namespace)
    assert read.metadata.labels == {"app": "web"} and read.spec.containers[0].image_pull_policy == "Always"

    listing = core.list_namespaced_pod(namespace)
    assert isinstance(listing, k8s.V1PodList) and listing.metadata.resource_version.isdigit()
    assert sorted(p.metadata.name for p in listing.items) == ["nginx", "typed"]
    assert [p.metadata.name for p in core.list_namespaced_pod(namespace, label_selector="app=web").items] == [
        "typed"]
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces(
        field_selector=f"metadata.name=nginx,metadata.namespace={namespace}").items] == ["nginx"]
    assert core.list_namespaced_pod("kube-system").items == []

    patched = core.patch_namespaced_pod("nginx", namespace, {"metadata": {"labels": {"patched": "yes"}},
                                                             "spec": {"containers": [{"name": "nginx",
                                                                                      "image": "nginx:1.27"}]}})
    assert patched.metadata.labels == {"patched": "yes"}
    assert [(c.name, c.image) for c in patched.spec.containers] == [("nginx", "nginx:1.27"),
                                                                    ("log-truncator", "busybox")]
    json_patched = core.patch_namespaced_pod("nginx", namespace, [
        {"op": "replace", "path": "/metadata/labels/patched", "value": "again"}])
    assert json_patched.metadata.labels == {"patched": "again"}

    core.delete_namespaced_pod("nginx", namespace)
    with pytest.raises(k8s.ApiException) as err:
        core.read_namespaced_pod("nginx", namespace)
    assert err.value.status == 404


def test_pod_status_written_like_the_kubelet_deserializes(core, namespace):
    """A pod with the status the kubelet writes (conditions, container states) reads back typed."""
    core.create_namespaced_pod(namespace, pod("web", node=f"{namespace}-node"))
    current = core.read_namespaced_pod_status("web", namespace)
    current.status = k8s.V1PodStatus(
        phase="Running", pod_ip="10.0.0.7", pod_ips=[k8s.V1PodIP(ip="10.0.0.7")], host_ip="127.0.0.1",
        start_time="2026-01-01T00:00:00Z",
        conditions=[k8s.V1PodCondition(type="Ready", status="True", last_transition_time="2026-01-01T00:00:00Z")],
        container_statuses=[k8s.V1ContainerStatus(
            name="c", image="busybox", image_id="docker-pullable://busybox@sha256:0", ready=True,
            restart_count=1, container_id="docker://abc", started=True,
            state=k8s.V1ContainerState(running=k8s.V1ContainerStateRunning(started_at="2026-01-01T00:00:01Z")),
            last_state=k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(
                exit_code=137, reason="Error", finished_at="2026-01-01T00:00:00Z")))])
    written = core.replace_namespaced_pod_status("web", namespace, current)
    status = core.read_namespaced_pod("web", namespace).status
    assert written.status.phase == status.phase == "Running"
    assert status.container_statuses[0].last_state.terminated.exit_code == 137
    assert status.start_time.year == 2026


def test_node_create_read_list_patch_delete(core, api, namespace):
    """Nodes registered as the kubelet registers them deserialize (all ten nodeInfo fields), patch and delete."""
    name, second = f"{namespace}-node", f"{namespace}-second"

    def own(nodes):   # the module's other tests register nodes too
        return [n.metadata.name for n in nodes.items if n.metadata.name.startswith(namespace)]
    register_node(api, name)
    node = core.read_node(name)
    assert isinstance(node, k8s.V1Node)
    assert node.status.node_info.kubelet_version and node.status.node_info.boot_id is not None
    assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
    assert own(core.list_node()) == [name]
    assert [n.metadata.name for n in core.list_node(label_selector=f"kubernetes.io/hostname={name}").items] == [
        name]

    cordoned = core.patch_node(name, {"spec": {"unschedulable": True}})
    assert cordoned.spec.unschedulable is True
    status = core.patch_node_status(name, {"status": {"conditions": [
        {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "stopped"}]}})
    conditions = {c.type: c for c in status.status.conditions}
    assert conditions["Ready"].status == "False" and "MemoryPressure" in conditions, "merged by type"

    body = k8s.V1Node(metadata=k8s.V1ObjectMeta(name=second))
    assert core.create_node(body).metadata.name == second
    core.delete_node(second)
    assert own(core.list_node()) == [name]


def test_watch_stream_deserializes_events(core, namespace):
    """watch.Watch().stream yields ADDED for existing pods, then MODIFIED and DELETED, as V1Pod objects."""
    core.create_namespaced_pod(namespace, pod("before"))
    events: list[tuple[str, object]] = []
    ready = threading.Event()
    w = watch.Watch()

    def consume():
        for event in w.stream(core.list_namespaced_pod, namespace=namespace, timeout_seconds=30):
            events.append((event["type"], event["object"]))
            if event["type"] == "ADDED" and event["object"].metadata.name == "before":
                ready.set()
            if event["type"] == "DELETED":
                w.stop()
    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    assert ready.wait(30), "no ADDED event for the existing pod"
    core.patch_namespaced_pod("before", namespace, {"metadata": {"labels": {"seen": "yes"}}})
    core.delete_namespaced_pod("before", namespace)
    thread.join(30)
    assert not thread.is_alive(), f"the watch did not end after DELETED; got {[e[0] for e in events]}"
    assert [t for t, _ in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(isinstance(obj, k8s.V1Pod) for _, obj in events)
    assert events[1][1].metadata.labels == {"seen": "yes"}


def test_watch_nodes_and_leases(core, api, apiserver, namespace):
    """Node watches and the coordination.k8s.io Lease API deserialize too."""
    name = f"{namespace}-node"
    register_node(api, name)
    w = watch.Watch()
    event = next(e for e in w.stream(core.list_node, timeout_seconds=10)   # the module's other tests' nodes left out
                 if e["object"].metadata.name == name)
    w.stop()
    assert event["type"] == "ADDED" and isinstance(event["object"], k8s.V1Node)
    coordination = k8s.CoordinationV1Api(core.api_client)
    lease = k8s.V1Lease(metadata=k8s.V1ObjectMeta(name=name),
                        spec=k8s.V1LeaseSpec(holder_identity=name, lease_duration_seconds=40,
                                             renew_time="2026-01-01T00:00:00.000000Z"))
    created = coordination.create_namespaced_lease("kube-node-lease", lease)
    assert created.spec.holder_identity == name
    assert [x.metadata.name for x in coordination.list_namespaced_lease("kube-node-lease").items
            if x.metadata.name.startswith(namespace)] == [name]   # the module's other tests' leases left out


def test_errors_arrive_as_api_exceptions_with_status(core, namespace):
    """Conflicts and invalid objects come back as ApiException with the Status body."""
    core.create_namespaced_pod(namespace, pod("web"))
    with pytest.raises(k8s.ApiException) as err:
        core.create_namespaced_pod(namespace, pod("web"))
    assert err.value.status == 409 and '"reason":"AlreadyExists"' in err.value.body.replace(" ", "")
    stale = core.read_namespaced_pod("web", namespace)
    core.patch_namespaced_pod("web", namespace, {"metadata": {"labels": {"a": "b"}}})
    with pytest.raises(k8s.ApiException) as err:
        core.replace_namespaced_pod("web", namespace, stale)
    assert err.value.status == 409
