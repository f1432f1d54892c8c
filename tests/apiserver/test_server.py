"""`python -m labserver apiserver`: flag errors are one line and exit 1; SIGTERM stops it cleanly.

The tests of the HTTP layer share one API server (pytest.mark.shared_apiserver, tests/conftest.py), each
posting to a namespace of its own; those of the command line (bad flags, no etcd) and of SIGTERM start and
end servers of their own."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from api_testing import pod
from labserver.lab.supervise.components import start_apiserver
from labserver.lab.supervise.procs import free_port

pytestmark = pytest.mark.integration   # starts processes itself (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labserver", "apiserver", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("args,needle", [
    (["--service-cluster-ip-range=10.0.0.0/16"], "--etcd-servers"),
    (["--etcd-servers=http://127.0.0.1:2379"], "--service-cluster-ip-range"),
    (["--etcd-servers=http://127.0.0.1:2379", "--service-cluster-ip-range=10.0.0.0/33"], "not a valid CIDR"),
    (["--etcd-servers=http://127.0.0.1:2379", "--service-cluster-ip-range=fd00::/108"], "must be an IPv4 CIDR"),
    (["--etcd-servers=http://127.0.0.1:2379", "--service-cluster-ip-range=10.0.0.0/31"], "/30 or larger"),
    (["--etcd-servers=127.0.0.1:2379", "--service-cluster-ip-range=10.0.0.0/16"], "bad etcd server URL"),
])
def test_bad_flags_exit_1_with_one_line(args, needle):
    """A missing flag, a bad CIDR or a bad etcd URL: exit 1 and one line on stderr naming it."""
    r = _run(*args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and needle in lines[0], r.stderr


def test_etcd_unreachable_exits_after_short_wait():
    """No etcd: progress lines while waiting, then one clear error line and exit 1."""
    url = f"http://127.0.0.1:{free_port()}"
    r = _run(f"--etcd-servers={url}", "--service-cluster-ip-range=10.0.0.0/16", f"--insecure-port={free_port()}")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1
    assert lines[-1] == f"apiserver: cannot start: etcd at {url} is unreachable after 8s"
    assert any("waiting for etcd" in line for line in lines[:-1])


def test_sigterm_stops_cleanly(etcd, etcd_prefix, tmp_path):
    """SIGTERM ends the server with exit code 0 and its port is free again, even with a watch open."""
    server = start_apiserver(etcd.client_url, tmp_path / "api.log", extra_args=[f"--etcd-prefix={etcd_prefix}"])
    watch = requests.get(server.url + "/api/v1/pods?watch=true", stream=True, timeout=10)
    server.process.popen.terminate()
    assert server.process.popen.wait(10) == 0
    watch.close()
    assert "apiserver: stopped" in (tmp_path / "api.log").read_text()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/healthz", timeout=2)


def _exchange(sock, request: bytes) -> bytes:
    """Send one raw HTTP request and read one response (Content-Length framed)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head


@pytest.mark.shared_apiserver
def test_connections_are_kept_alive(apiserver, namespace):
    """Requests share one connection; an oversized body is refused with 413 before the client sends it,
    and that answer says `Connection: close` (the body is still coming), so no client reuses the connection."""
    host, port = apiserver.url.split("//")[1].split(":")
    body = json.dumps(pod("keep")).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        assert b" 200 " in _exchange(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = _exchange(sock, b"POST /api/v1/namespaces/%s/pods HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                               % (namespace.encode(), len(body), body))
        assert b" 201 " in head and b"connection: close" not in head.lower()
        head = _exchange(sock, b"POST /api/v1/namespaces/%s/pods HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: %d\r\n\r\n" % (namespace.encode(), 4 << 20))
        assert b" 413 " in head and b"application/json" in head.lower()
        assert b"connection: close" in head.lower()
        sock.settimeout(10)
        assert sock.recv(65536) == b""    # closed by the server, as announced


@pytest.mark.shared_apiserver
def test_expect_continue_is_answered_before_the_body(apiserver, namespace):
    """A client sending `Expect: 100-continue` (curl does for large bodies) gets `100 Continue` before it sends."""
    host, port = apiserver.url.split("//")[1].split(":")
    body = json.dumps(pod("continued")).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/namespaces/%s/pods HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                     % (namespace.encode(), len(body)))
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        assert b" 201 " in _exchange(sock, body)


@pytest.mark.parametrize("raw,code", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /api/v1/" + b"x" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"POST /api/v1/namespaces/{ns}/pods HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400),
], ids=["garbage-request-line", "70kb-uri", "bad-chunked-body"])
@pytest.mark.shared_apiserver
def test_bad_http_framing_is_a_status(apiserver, namespace, raw, code):
    """A request the HTTP parser refuses gets a Status JSON (not an HTML page), and the connection closes."""
    host, port = apiserver.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw.replace(b"{ns}", namespace.encode()))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert data.count(b"HTTP/1.1 ") == 1, data
    assert head.startswith(b"HTTP/1.1 %d " % code) and b"content-type: application/json" in head.lower(), data
    status = json.loads(body)
    assert status["kind"] == "Status" and status["code"] == code and "malformed HTTP request" in status["message"]
    assert requests.get(apiserver.url + "/healthz", timeout=5).text == "ok"
