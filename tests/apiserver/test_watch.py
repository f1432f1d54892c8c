"""Watches: synthetic ADDED, resume, timeouts, bookmarks, initial-events-end, 410 Expired, selectors, Tables."""
from __future__ import annotations

import json
import socket
import threading

import pytest

from api_testing import pod
from labserver.lab.supervise.procs import wait_for

PODS = "/api/v1/namespaces/default/pods"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

# The tests on the API server process (`api`) share one for the module, each in its own namespace;
# the in-process `client` tests keep their own etcd prefixes (and start no API server).
shared = pytest.mark.shared_apiserver


def pods(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


class Watcher:
    """Reads a watch stream from the real server in a thread and keeps its events."""

    def __init__(self, api, path: str, headers: dict | None = None):
        self.events: list[dict] = []
        self.response = api.get(path, stream=True, headers=headers or {}, timeout=60)
        assert self.response.status_code == 200, self.response.text
        assert "Transfer-Encoding" not in self.response.headers or \
            self.response.headers["Transfer-Encoding"] == "chunked"
        self.sock = self.response.raw._fp.fp.raw._sock   # to end the read from another thread
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for line in self.response.iter_lines():
                if line:
                    self.events.append(json.loads(line))
        except Exception:  # closed by the test
            pass
        self.ended.set()

    def wait(self, count: int, timeout: float = 10) -> list[dict]:
        wait_for(lambda: len(self.events) >= count, timeout, f"{count} watch events (have {self.events})")
        return self.events

    def summary(self) -> list[tuple[str, str]]:
        return [(e["type"], e["object"]["metadata"].get("name", "")) for e in self.events]

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.ended.wait(10)
        self.response.close()


@pytest.fixture
def watcher(api):
    opened = []

    def open_(path, headers=None):
        w = Watcher(api, path, headers)
        opened.append(w)
        return w
    yield open_
    for w in opened:
        w.close()


def _events(response) -> list[dict]:
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines() if line]


@shared
def test_synthetic_added_then_changes(api, watcher, namespace):
    """Without resourceVersion: ADDED for what exists, then ADDED/MODIFIED/DELETED as changes happen."""
    api.post(pods(namespace), json=pod("a"))
    w = watcher(pods(namespace) + "?watch=true")
    w.wait(1)
    api.post(pods(namespace), json=pod("b"))
    api.patch(pods(namespace) + "/b", json={"metadata": {"labels": {"x": "y"}}},
              headers={"Content-Type": "application/merge-patch+json"})
    deleted = api.delete(pods(namespace) + "/b").json()
    w.wait(4)
    assert w.summary() == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "b")]
    assert w.events[2]["object"]["metadata"]["labels"] == {"x": "y"}
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in w.events]
    assert rvs == sorted(rvs) and rvs[3] > int(deleted["metadata"]["resourceVersion"])


@shared
def test_resume_from_resource_version(api, watcher, namespace):
    """With resourceVersion=N only changes after N arrive, nothing synthetic."""
    rv = api.post(pods(namespace), json=pod("a")).json()["metadata"]["resourceVersion"]
    api.post(pods(namespace), json=pod("b"))
    w = watcher(f"{pods(namespace)}?watch=true&resourceVersion={rv}")
    api.post(pods(namespace), json=pod("c"))
    w.wait(2)
    assert w.summary() == [("ADDED", "b"), ("ADDED", "c")]


@shared
def test_all_namespaces_watch_with_field_selector(api, watcher, namespace):
    """The kubelet's watch: /api/v1/pods?fieldSelector=spec.nodeName=N sees only that node's pods.
    (Nodes named after the test's namespace; `mine` goes to a second namespace of the test's own.)"""
    node1, node2, other = f"{namespace}-node-1", f"{namespace}-node-2", f"{namespace}-sys"
    response = api.post("/api/v1/namespaces", json={"metadata": {"name": other}})
    assert response.status_code == 201, response.text
    w = watcher(f"/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3D{node1}")
    api.post(pods(namespace), json=pod("elsewhere", node=node2))
    api.post(pods(other), json=pod("mine", node=node1))
    w.wait(1)
    api.post(pods(namespace), json=pod("last", node=node1))
    w.wait(2)
    assert w.summary() == [("ADDED", "mine"), ("ADDED", "last")]
    assert w.events[0]["object"]["metadata"]["namespace"] == other


@shared
def test_selector_moves_in_and_out(api, watcher, namespace):
    """An update moving an object into the label selector is ADDED, out of it DELETED."""
    merge = {"Content-Type": "application/merge-patch+json"}
    api.post(pods(namespace), json=pod("p", labels={"app": "db"}))
    w = watcher(pods(namespace) + "?watch=true&labelSelector=app%3Dweb")
    api.patch(pods(namespace) + "/p", json={"metadata": {"labels": {"app": "web"}}}, headers=merge)
    api.patch(pods(namespace) + "/p", json={"metadata": {"labels": {"app": "web", "v": "2"}}}, headers=merge)
    api.patch(pods(namespace) + "/p", json={"metadata": {"labels": {"app": "db"}}}, headers=merge)
    api.delete(pods(namespace) + "/p")
    api.post(pods(namespace), json=pod("q", labels={"app": "web"}))
    w.wait(4)
    assert w.summary() == [("ADDED", "p"), ("MODIFIED", "p"), ("DELETED", "p"), ("ADDED", "q")]


@shared
def test_table_watch_columns_only_first(api, watcher, namespace):
    """A Table watch (kubectl get -w) carries columnDefinitions in the first event only."""
    api.post(pods(namespace), json=pod("a"))
    w = watcher(pods(namespace) + "?watch=true", headers={"Accept": TABLE})
    api.post(pods(namespace), json=pod("b"))
    events = w.wait(2)
    assert [e["object"]["kind"] for e in events] == ["Table", "Table"]
    assert events[0]["object"]["columnDefinitions"] and events[1]["object"]["columnDefinitions"] == []
    assert [e["object"]["rows"][0]["cells"][0] for e in events] == ["a", "b"]


def test_timeout_seconds_ends_stream(client):
    """timeoutSeconds=1 ends the stream cleanly after the synthetic events."""
    client.post(PODS, json=pod("a"))
    r = client.get(PODS + "?watch=true&timeoutSeconds=1")
    assert r.status_code == 200
    assert [e["type"] for e in _events(r)] == ["ADDED"]


def test_bookmarks(client):
    """allowWatchBookmarks=true brings BOOKMARK events carrying only a resourceVersion."""
    rv = client.post(PODS, json=pod("a")).get_json()["metadata"]["resourceVersion"]
    r = client.get(f"{PODS}?watch=true&allowWatchBookmarks=true&timeoutSeconds=2&resourceVersion={rv}")
    events = _events(r)
    assert events and all(e["type"] == "BOOKMARK" for e in events)
    assert events[0]["object"] == {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}


def test_send_initial_events_bookmark(client):
    """sendInitialEvents=true: ADDED for each object, then the initial-events-end BOOKMARK."""
    client.post(PODS, json=pod("a"))
    rv = client.post(PODS, json=pod("b")).get_json()["metadata"]["resourceVersion"]
    r = client.get(PODS + "?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
                   "&allowWatchBookmarks=true&timeoutSeconds=1")
    events = _events(r)
    assert [e["type"] for e in events[:3]] == ["ADDED", "ADDED", "BOOKMARK"]
    mark = events[2]["object"]["metadata"]
    assert mark["annotations"] == {"k8s.io/initial-events-end": "true"} and int(mark["resourceVersion"]) >= int(rv)


def test_send_initial_events_needs_not_older_than(client):
    """sendInitialEvents without resourceVersionMatch=NotOlderThan is 400 (kubectl then falls back)."""
    r = client.get(PODS + "?watch=true&sendInitialEvents=true")
    assert r.status_code == 400 and r.get_json()["reason"] == "BadRequest"


def test_compacted_revision_is_expired(client, etcd_client):
    """A watch from a compacted revision: one ERROR event with a 410 Expired Status, then the end."""
    first = client.post(PODS, json=pod("a")).get_json()["metadata"]["resourceVersion"]
    client.post(PODS, json=pod("b"))
    last = client.post(PODS, json=pod("c")).get_json()["metadata"]["resourceVersion"]
    etcd_client.compact(int(last), physical=True)
    r = client.get(f"{PODS}?watch=true&resourceVersion={first}&timeoutSeconds=10")
    events = _events(r)
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"] == f"too old resource version: {first} ({last})"
