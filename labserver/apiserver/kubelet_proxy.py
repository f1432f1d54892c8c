"""Reaching the kubelet that runs a pod: pods/log, exec, attach and portforward go through here.

As in upstream (registry/core/pod/rest/subresources.go, util/proxy), the API
server finds the pod's node, reads where its kubelet listens (the node's
InternalIP and daemonEndpoints.kubeletEndpoint.Port) and forwards the request
to the kubelet's own server. Two ways:

  stream_get      a plain GET whose answer is streamed back as it comes
                  (logs, `kubectl logs -f`), never buffered whole;
  upgrade_proxy   an Upgrade request (WebSocket for exec/attach/port-forward)
                  relayed byte for byte: the kubelet's `101 Switching
                  Protocols` goes back to the client, then both directions are
                  spliced until either side closes (upstream's
                  UpgradeAwareHandler).

Neither waits forever: connecting has CONNECT_TIMEOUT and the kubelet must
answer with its response headers within HEADER_TIMEOUT, else the client gets
a Status 503 (unreachable) or 504 (no answer) saying which kubelet. Once
streaming, the relay ends when the kubelet ends the stream or the client goes
away. Any other answer of the kubelet is relayed as the Status it sent.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import threading
from dataclasses import dataclass

from flask import request

from .errors import APIError, bad_request, unavailable
from .handlers.request import Scope, storage
from .resources import lookup

CONNECT_TIMEOUT = 5.0    # seconds to connect to the kubelet
HEADER_TIMEOUT = 15.0    # seconds for the kubelet to answer with its response headers
MAX_HEAD = 64 * 1024


@dataclass
class Target:
    """Where a pod's request goes: its kubelet and the container (if any) it is about."""

    node: str
    ip: str
    port: int
    container: str | None


def _container(pod: dict) -> str:
    name = pod["metadata"]["name"]
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    wanted = request.args.get("container")
    if not wanted:
        if len(names) == 1:
            return names[0]
        raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                          f"[{' '.join(names)}]")
    if wanted not in names:
        raise bad_request(f"container {wanted} is not valid for pod {name}")
    return wanted


def locate(scope: Scope, with_container: bool = True) -> Target:
    """The kubelet of the pod `scope` names (404 no pod, 400 no node or container)."""
    pod = storage().get(scope.resource, scope.namespace, scope.name)
    container = _container(pod) if with_container else None
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise bad_request(f"pod {scope.name} does not have a host assigned")
    node = storage().get(lookup("", "v1", "nodes"), None, node_name)
    status = node.get("status") or {}
    ip = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), None)
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    if not ip or not port:
        raise bad_request(f'node "{node_name}" does not report an InternalIP address and kubelet port, '
                          f"so its kubelet cannot be reached")
    return Target(node_name, ip, int(port), container)


def _unreachable(t: Target, what: str, e: Exception) -> APIError:
    return unavailable(f"cannot reach the kubelet of node {t.node} at {t.ip}:{t.port} for {what}: "
                       f"{type(e).__name__}: {e}")


def _no_answer(t: Target, what: str) -> APIError:
    return APIError(504, "Timeout", f"the kubelet of node {t.node} at {t.ip}:{t.port} did not answer the "
                                    f"{what} request within {HEADER_TIMEOUT:g}s")


def kubelet_error(t: Target, code: int, body: bytes, reason_phrase: str) -> APIError:
    """The kubelet's non-success answer as an APIError (its own Status when it sent one)."""
    text = body.decode(errors="replace")
    with contextlib.suppress(ValueError):
        status = json.loads(text)
        if isinstance(status, dict) and status.get("kind") == "Status":
            return APIError(code, status.get("reason") or "InternalError", status.get("message") or text,
                            status.get("details"))
    return APIError(code if 400 <= code < 600 else 500, "NotFound" if code == 404 else "InternalError",
                    f"kubelet {t.ip}:{t.port}: {text.strip() or reason_phrase}")


def client_socket():
    """The client's connection, from the WSGI server (werkzeug's or gunicorn's)."""
    return request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")


def _gone(sock) -> bool:
    try:
        return bool(select.select([sock], [], [], 0)[0]) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def stream_get(t: Target, path: str, what: str):
    """GET `path` from the kubelet; an iterator over its body as it arrives (or an APIError)."""
    conn = http.client.HTTPConnection(t.ip, t.port, timeout=CONNECT_TIMEOUT)
    try:
        conn.connect()
    except OSError as e:
        conn.close()
        raise _unreachable(t, what, e) from None
    sock = conn.sock   # http.client lets go of it once the answer says the connection will close
    try:
        sock.settimeout(HEADER_TIMEOUT)
        conn.request("GET", path, headers={"Accept": "text/plain, application/json"})
        resp = conn.getresponse()
    except (TimeoutError, socket.timeout):
        conn.close()
        raise _no_answer(t, what) from None
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        raise _unreachable(t, what, e) from None
    if resp.status != 200:
        try:
            body = resp.read(MAX_HEAD)
        except (OSError, http.client.HTTPException):
            body = b""
        conn.close()
        raise kubelet_error(t, resp.status, body, resp.reason)
    sock.settimeout(None)
    client = client_socket()
    done = threading.Event()

    def watch_client():   # a client that leaves while the kubelet is quiet ends the relay
        while not done.wait(0.5):
            if client is not None and _gone(client):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                return

    def body():
        try:
            while True:
                try:
                    data = resp.read1(1 << 16)
                except (OSError, http.client.HTTPException, ValueError):
                    return
                if not data:
                    return
                yield data
        finally:
            done.set()
            resp.close()
            conn.close()
            sock.close()

    threading.Thread(target=watch_client, daemon=True, name="log-client-watch").start()
    return body()


# Request headers an upgrade carries to the kubelet (the rest stays between client and API server).
UPGRADE_HEADERS = ("Connection", "Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                   "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "X-Stream-Protocol-Version",
                   "Content-Length")


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The response head (through the blank line) and whatever body bytes came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the kubelet closed the connection without an answer")
        data += chunk
        if len(data) > MAX_HEAD:
            raise ConnectionError("the kubelet's answer has no end of headers")
    end = data.index(b"\r\n\r\n") + 4
    return data[:end], data[end:]


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


def _read_body(sock: socket.socket, headers: dict, rest: bytes) -> bytes:
    length = int(headers.get("content-length") or MAX_HEAD)
    while len(rest) < min(length, MAX_HEAD):
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    return rest[:length]


def upgrade_proxy(t: Target, path: str, what: str):
    """Relay an Upgrade request to the kubelet and splice the connections; returns when both ends are done."""
    try:
        upstream = socket.create_connection((t.ip, t.port), timeout=CONNECT_TIMEOUT)
    except OSError as e:
        raise _unreachable(t, what, e) from None
    try:
        lines = [f"{request.method} {path} HTTP/1.1", f"Host: {t.ip}:{t.port}"]
        lines += [f"{h}: {request.headers.get(h)}" for h in UPGRADE_HEADERS if request.headers.get(h)]
        upstream.settimeout(HEADER_TIMEOUT)
        upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head, rest = _read_head(upstream)
        code, reason, headers = _parse_head(head)
        if code != 101:
            raise kubelet_error(t, code, _read_body(upstream, headers, rest), reason)
        client = client_socket()
        if client is None:
            raise APIError(500, "InternalError", "this server cannot hand the connection over for streaming")
        upstream.settimeout(None)
        client.sendall(head + rest)
    except (TimeoutError, socket.timeout):
        upstream.close()
        raise _no_answer(t, what) from None
    except (OSError, ValueError, IndexError) as e:
        upstream.close()
        raise _unreachable(t, what, e) from None
    except APIError:
        upstream.close()
        raise
    try:
        _splice(client, upstream)
    finally:
        upstream.close()
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)


def _splice(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until the kubelet's end `b` has ended (each end's EOF is passed on).

    Once the kubelet has ended the stream nothing more can come for the client, so
    the relay stops there, as upstream's UpgradeAwareHandler does when either half
    ends, instead of waiting for a client that may never close its side.
    """
    peer = {a: b, b: a}
    open_ends = {a, b}
    while b in open_ends:
        readable, _, _ = select.select(list(open_ends), [], [])
        for sock in readable:
            try:
                data = sock.recv(1 << 16)
            except OSError:
                data = b""
            try:
                if data:
                    peer[sock].sendall(data)
                    continue
                peer[sock].shutdown(socket.SHUT_WR)
            except OSError:
                return   # the other end is gone: nothing more can be delivered
            open_ends.discard(sock)
