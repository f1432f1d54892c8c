"""The pod source: list + watch of this node's pods on a real API server, resume, relist on 410."""
from __future__ import annotations

import threading

from kubelet_testing import NODE, nginx_pod
from labserver.kubelet.client import APIClient
from labserver.kubelet.config import PodSource
from labserver.lab.supervise.procs import wait_for


class Recorder:
    def __init__(self):
        self.sets: list[list[str]] = []
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def on_set(self, pods):
        with self.lock:
            self.sets.append(sorted(p["metadata"]["name"] for p in pods))

    def on_event(self, kind, pod):
        with self.lock:
            self.events.append((kind, pod["metadata"]["name"]))


def start_source(apiserver, rec: Recorder) -> PodSource:
    source = PodSource(APIClient(apiserver.url), NODE, rec.on_set, rec.on_event, backoff=(0.05, 0.2))
    source.start()
    return source


def test_list_then_watch_only_this_nodes_pods(apiserver):
    """The first list holds this node's pods; then ADDED/MODIFIED/DELETED arrive; other nodes' pods never."""
    client = APIClient(apiserver.url)
    client.post("/api/v1/namespaces/default/pods", nginx_pod("before"))
    client.post("/api/v1/namespaces/default/pods", nginx_pod("not-mine", node="other"))
    rec = Recorder()
    source = start_source(apiserver, rec)
    try:
        wait_for(source.synced.is_set, 10, "first list")
        assert rec.sets == [["before"]]
        client.post("/api/v1/namespaces/default/pods", nginx_pod("after"))
        client.post("/api/v1/namespaces/default/pods", nginx_pod("also-not-mine", node="other"))
        client.patch("/api/v1/namespaces/default/pods/after", {"metadata": {"labels": {"a": "b"}}})
        client.delete("/api/v1/namespaces/default/pods/after", {"gracePeriodSeconds": 0})
        wait_for(lambda: ("DELETED", "after") in rec.events, 10, "delete seen")
        assert rec.events == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "after")]
        assert source.lists == 1
    finally:
        source.stop()


def test_relists_when_the_resource_version_is_compacted(apiserver, etcd_client):
    """A watch from a compacted resourceVersion gets 410 Expired; the source relists and carries on."""
    client = APIClient(apiserver.url)
    for i in range(3):
        client.post("/api/v1/namespaces/default/pods", nginx_pod(f"p{i}"))
    revision = int(client.get("/api/v1/pods")["metadata"]["resourceVersion"])
    etcd_client.compact(revision)
    rec = Recorder()
    source = PodSource(APIClient(apiserver.url), NODE, rec.on_set, rec.on_event, backoff=(0.05, 0.2))
    source.resource_version = "2"  # what a kubelet that was away for long would resume from
    source.start()
    try:
        wait_for(lambda: source.lists == 1, 10, "relist after 410")
        assert rec.sets == [["p0", "p1", "p2"]]
        client.post("/api/v1/namespaces/default/pods", nginx_pod("p3"))
        wait_for(lambda: ("ADDED", "p3") in rec.events, 10, "watching again after the relist")
    finally:
        source.stop()


def test_status_only_changes_do_not_need_a_sync():
    """The kubelet's own status writes coming back do not trigger syncs; spec or deletion changes do."""
    from labserver.kubelet.config import needs_sync
    old = nginx_pod()
    old["metadata"]["uid"] = "u"
    new = {**old, "status": {"phase": "Running"}, "metadata": {**old["metadata"], "resourceVersion": "9"}}
    assert needs_sync(None, old) and not needs_sync(old, new)
    deleting = {**new, "metadata": {**new["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert needs_sync(new, deleting)
    relabelled = {**new, "metadata": {**new["metadata"], "labels": {"a": "b"}}}
    assert needs_sync(new, relabelled)
