"""pods/log: proxied to the kubelet named by the pod's node (a small stand-in kubelet log server here)."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from api_testing import pod
from labserver.lab.supervise.procs import free_port

PODS = "/api/v1/namespaces/default/pods"


class _Logs(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):
        _Logs.seen.append(self.path)
        body = b"line 1\nline 2\n"
        self.send_response(200 if self.path.startswith("/containerLogs/default/web/nginx") else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def kubelet_logs():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Logs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Logs.seen = []
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _node(client, name, port):
    client.post("/api/v1/nodes", json={"kind": "Node", "apiVersion": "v1", "metadata": {"name": name}, "status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}})


def test_logs_are_proxied(client, kubelet_logs):
    """GET pods/log reaches /containerLogs/<ns>/<pod>/<container> with tailLines and streams the text back."""
    _node(client, "n1", kubelet_logs)
    client.post(PODS, json=pod("web", node="n1", containers=[{"name": "nginx", "image": "nginx"}]))
    r = client.get(PODS + "/web/log?container=nginx&tailLines=2&timestamps=true")
    assert r.status_code == 200 and r.get_data() == b"line 1\nline 2\n"
    assert r.headers["Content-Type"].startswith("text/plain")
    assert _Logs.seen == ["/containerLogs/default/web/nginx?tailLines=2&timestamps=true"]


@pytest.mark.parametrize("setup,path,code,message", [
    ("none", "/missing/log", 404, 'pods "missing" not found'),
    ("unbound", "/web/log", 400, "does not have a host assigned"),
    ("two", "/web/log", 400, "a container name must be specified for pod web, choose one of: [a b]"),
    ("bound", "/web/log?container=nope", 400, "container nope is not valid for pod web"),
    ("dead-kubelet", "/web/log", 503, "cannot reach the kubelet of node n1"),
])
def test_log_errors_are_status(client, setup, path, code, message):
    """No pod, no node, no such container or an unreachable kubelet: a Status with a clear message."""
    _node(client, "n1", free_port())
    if setup == "unbound":
        client.post(PODS, json=pod("web"))
    elif setup == "two":
        client.post(PODS, json=pod("web", node="n1", containers=[{"name": "a", "image": "x"},
                                                                 {"name": "b", "image": "x"}]))
    elif setup in ("bound", "dead-kubelet"):
        client.post(PODS, json=pod("web", node="n1"))
    r = client.get(PODS + path)
    assert r.status_code == code and r.get_json()["kind"] == "Status"
    assert message in r.get_json()["message"]


@pytest.fixture
def silent_kubelet():
    """A kubelet that accepts connections and never answers."""
    import socket
    server = socket.create_server(("127.0.0.1", 0))
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("path", ["/web/log?follow=true", "/web/exec?command=true&stdout=true",
                                  "/web/attach?stdout=true", "/web/portforward?ports=80"])
def test_a_kubelet_that_never_answers_is_a_504(client, silent_kubelet, monkeypatch, path):
    """Connected but no answer within the header timeout: 504 naming the kubelet, not a request held forever."""
    from labserver.apiserver import kubelet_proxy
    monkeypatch.setattr(kubelet_proxy, "HEADER_TIMEOUT", 0.5)
    _node(client, "n1", silent_kubelet)
    client.post(PODS, json=pod("web", node="n1"))
    headers = {"Upgrade": "websocket", "Connection": "Upgrade"} if "/log" not in path else {}
    r = client.get(PODS + path, headers=headers)
    assert r.status_code == 504 and r.get_json()["reason"] == "Timeout"
    assert r.get_json()["message"] == (f"the kubelet of node n1 at 127.0.0.1:{silent_kubelet} did not answer the "
                                       f"{path.split('/')[2].split('?')[0].replace('log', 'logs')} request within 0.5s")


def test_streaming_subresources_are_discovered_and_checked(client):
    """pods/exec, attach, portforward are in discovery (create, get) and check the pod like pods/log."""
    resources = {r["name"]: r for r in client.get("/api/v1").get_json()["resources"]}
    assert resources["pods/exec"]["verbs"] == ["create", "get"] and resources["pods/exec"]["kind"] == "PodExecOptions"
    assert "pods/portforward" in resources and "pods/attach" in resources
    r = client.post(PODS + "/missing/exec?command=true")
    assert r.status_code == 404 and r.get_json()["message"] == 'pods "missing" not found'
