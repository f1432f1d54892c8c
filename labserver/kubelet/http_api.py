"""The kubelet's own HTTP server (port 10250): what the API server and a curious reader ask it.

    GET /healthz                                        ok
    GET /pods                                           the PodList it runs
    GET /containerLogs/<ns>/<pod>/<container>           the container's log: follow, timestamps,
                                                        tailLines, sinceSeconds, sinceTime,
                                                        limitBytes, previous
    GET /exec/<ns>/<pod>/<container>?command=...        WebSocket: run a command in the container
    GET /attach/<ns>/<pod>/<container>                  WebSocket: the container's own stdio
    GET /portForward/<ns>/<pod>?ports=80                WebSocket: connect to the pod's ports
                                                        (or SPDY/3.1 tunneled in it: kubectl, spdy.py)

A WSGI app, served by werkzeug's threaded server (or any WSGI server that lets
simple-websocket take the socket over, such as gunicorn's threaded worker).
A log is streamed as it is read, never buffered whole; a followed log ends
when the container ends or the client goes away. The streaming protocols are
in remotecommand.py. Every error is a Status, never a traceback or HTML.
Port-forward also speaks SPDY/3.1 (spdy.py), as kubectl does: tunneled in a
WebSocket first, or after a bare `Upgrade: SPDY/3.1` (kubectl's fallback);
other SPDY upgrades (exec, attach) are answered with a Status saying that
only WebSocket is spoken there.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import logging
import select
import socket
from typing import TYPE_CHECKING
from urllib.parse import unquote

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from .runtime import RuntimeError_
from .streams import LogOptions, parse_timestamp

if TYPE_CHECKING:
    from simple_websocket import Server

# The streaming code (remotecommand.py, spdy.py and the simple_websocket /
# wsproto libraries under them, about 2.3 MB of resident memory) is imported
# by the exec, attach and port-forward requests that use it, not at start:
# most kubelets a reader or a test starts never stream.

log = logging.getLogger("kubelet.server")


class _Status(Exception):
    """Answer with a Status of this code, reason and message."""

    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def status_response(code: int, reason: str, message: str) -> Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    return Response(json.dumps(body), code, mimetype="application/json")


def _bad(message: str) -> _Status:
    return _Status(400, "BadRequest", message)


def client_gone(environ: dict) -> bool:
    """True when the client closed its connection (readable, and nothing left to read)."""
    sock = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
    if sock is None:
        return False
    try:
        if not select.select([sock], [], [], 0)[0]:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1 << 16)
    except OSError:
        return b""


class _Hijacked:
    """The WSGI answer once a WebSocket has taken the connection over: nothing more to write.

    werkzeug treats a ConnectionError from the response as a dropped
    connection and writes nothing; gunicorn stops on an empty iterator.
    """

    def __init__(self, environ: dict):
        self.werkzeug = "werkzeug.socket" in environ

    def __call__(self, environ, start_response):
        if self.werkzeug:
            raise ConnectionError("the WebSocket session has ended")
        return iter(())


class KubeletAPI:
    """The WSGI app over one Kubelet (its runtime, its pods)."""

    def __init__(self, kubelet):
        self.kubelet = kubelet

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.route(request)
        except _Status as e:
            response = status_response(e.code, e.reason, e.message)
        except HTTPException as e:
            response = status_response(e.code or 500, "BadRequest", e.description or str(e))
        except Exception as e:  # never a traceback to the client
            log.exception("kubelet server: %s failed", request.path)
            response = status_response(500, "InternalError", f"kubelet: {e}")
        return response(environ, start_response)

    def route(self, request: Request):
        path = request.path
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if path in ("/healthz", "/healthz/ping", "/livez", "/readyz"):
            return Response("ok", mimetype="text/plain")
        if path in ("/pods", "/pods/"):
            return Response(json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {},
                                        "items": self.kubelet.pods()}), mimetype="application/json")
        if parts[0] == "containerLogs" and len(parts) == 4:
            return self.logs(request, *parts[1:])
        if parts[0] in ("exec", "attach") and len(parts) == 4:
            return self.remote_command(request, parts[0], *parts[1:])
        if parts[0] == "portForward" and len(parts) == 3:
            return self.port_forward(request, *parts[1:])
        raise _Status(404, "NotFound", f"the kubelet does not serve {path}")

    # -- logs ------------------------------------------------------------------------------

    def _container(self, namespace: str, pod: str, container: str, previous: bool = False):
        st = self.kubelet.find_container(namespace, pod, container, previous=previous)
        if st is None:
            what = "previous terminated container" if previous else "container"
            raise _Status(404, "NotFound", f'{what} "{container}" in pod "{pod}" (namespace "{namespace}") '
                                           f"not found on node {self.kubelet.cfg.node.name}")
        return st

    def logs(self, request: Request, namespace: str, pod: str, container: str) -> Response:
        args = request.args
        tail, limit = _int_arg(args, "tailLines", 0), _int_arg(args, "limitBytes", 1)
        since = None
        if "sinceSeconds" in args:
            seconds = _int_arg(args, "sinceSeconds", 1)
            since = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(seconds=seconds)
        elif args.get("sinceTime"):
            since = parse_timestamp(args["sinceTime"])
            if since is None:
                raise _bad(f"sinceTime must be an RFC 3339 time, not {args['sinceTime']!r}")
        follow, previous = _bool_arg(args, "follow"), _bool_arg(args, "previous")
        st = self._container(namespace, pod, container, previous)
        opts = LogOptions(tail=tail, since=since, follow=follow and not previous)
        try:
            lines = self.kubelet.runtime.log_lines(st.id, opts)
        except RuntimeError_ as e:  # the container went away meanwhile
            raise _Status(404, "NotFound", e.message) from None
        body = _log_body(lines, _bool_arg(args, "timestamps"), limit, request.environ)
        return Response(body, mimetype="text/plain", direct_passthrough=True)

    # -- exec, attach, port-forward ------------------------------------------------------------

    def _websocket(self, request: Request, protocols: tuple[str, ...]) -> Server:
        """Accept the WebSocket upgrade with one of `protocols`, or say why not (a Status)."""
        from simple_websocket import Server
        self._check_upgrade(request, protocols)
        return Server.accept(request.environ, subprotocols=list(protocols))

    @staticmethod
    def _check_upgrade(request: Request, protocols: tuple[str, ...]) -> None:
        """A Status for an upgrade this kubelet will not accept (SPDY, no protocol in common)."""
        from . import remotecommand
        upgrade = request.headers.get("Upgrade", "").lower()
        offered = remotecommand.offered_protocols(request.environ)
        port_forward = protocols == remotecommand.PORT_FORWARD_PROTOCOLS
        if port_forward and upgrade == "spdy/3.1":
            streams = [p.strip() for p in request.headers.get("X-Stream-Protocol-Version", "").split(",")]
            if "portforward.k8s.io" not in streams:
                raise _Status(403, "Forbidden", f"unable to upgrade: unable to negotiate protocol: client supports "
                                                f"{streams}, server supports ['portforward.k8s.io']")
            return
        if "spdy" in upgrade:
            raise _bad("this kubelet speaks the streaming protocols over WebSocket only "
                       f"({', '.join(protocols)}), not SPDY/3.1")
        if upgrade != "websocket":
            raise _bad("Upgrade request required")
        if not any(p in protocols for p in offered):
            raise _Status(403, "Forbidden", f"unable to upgrade: unable to negotiate protocol: client supports "
                                            f"{offered}, server supports {list(protocols)}")

    def remote_command(self, request: Request, verb: str, namespace: str, pod: str, container: str):
        from . import remotecommand
        args = request.args
        stdin, stdout = _bool_arg(args, "stdin"), _bool_arg(args, "stdout")
        stderr, tty = _bool_arg(args, "stderr"), _bool_arg(args, "tty")
        command = args.getlist("command")
        if verb == "exec" and not command:
            raise _bad("you must specify a command (command=...)")
        if not (stdin or stdout or stderr):
            raise _bad("you must specify at least 1 of stdin, stdout, stderr")
        st = self._container(namespace, pod, container)
        if st.state != "running":
            raise _bad(f"container {container} is not running (state: {st.state})")
        ws = self._websocket(request, remotecommand.EXEC_PROTOCOLS)
        try:
            if verb == "exec":
                session = self.kubelet.runtime.exec(st.id, command, tty=tty, stdin=stdin)
            else:
                session = self.kubelet.runtime.attach(st.id, stdin=stdin)
        except RuntimeError_ as e:
            channels = remotecommand._Channels(ws)
            channels.send(remotecommand.ERROR, json.dumps(remotecommand.failure_status(e.message)).encode())
            channels.close()
            return _Hijacked(request.environ)
        remotecommand.serve_session(ws, session, command or [f"attach {container}"])
        return _Hijacked(request.environ)

    def port_forward(self, request: Request, namespace: str, pod: str):
        from . import remotecommand
        self._check_upgrade(request, remotecommand.PORT_FORWARD_PROTOCOLS)
        if request.headers.get("Upgrade", "").lower() == "spdy/3.1":
            return self._port_forward_spdy(request, namespace, pod, tunneled=False)   # kubectl's fallback
        if remotecommand.SPDY_TUNNEL in remotecommand.offered_protocols(request.environ):
            return self._port_forward_spdy(request, namespace, pod)   # kubectl: the ports come per stream
        ports = []
        for value in ",".join(request.args.getlist("ports")).split(","):
            if value.strip():
                if not value.strip().isdigit() or not 0 < int(value) < 65536:
                    raise _bad(f"invalid port {value!r}")
                ports.append(int(value))
        if not ports:
            raise _bad("at least one port must be given (ports=...)")
        sandbox = self._sandbox(namespace, pod)
        ws = self._websocket(request, remotecommand.PORT_FORWARD_PROTOCOLS)
        remotecommand.serve_port_forward(ws, lambda port: self.kubelet.runtime.port_forward(sandbox, port), ports)
        return _Hijacked(request.environ)

    def _sandbox(self, namespace: str, pod: str):
        sandbox = next((s for s in self.kubelet.runtime.list_sandboxes()
                        if s.pod.namespace == namespace and s.pod.name == pod), None)
        if sandbox is None:
            raise _Status(404, "NotFound", f'pod "{pod}" (namespace "{namespace}") is not running on node '
                                           f"{self.kubelet.cfg.node.name}")
        return sandbox

    def _port_forward_spdy(self, request: Request, namespace: str, pod: str, tunneled: bool = True):
        """kubectl's port-forward: SPDY/3.1 (spdy.py) inside the WebSocket, or, when kubectl falls back
        (or KUBECTL_PORT_FORWARD_WEBSOCKETS=false), on the connection itself after a `101` to
        `Upgrade: SPDY/3.1`. Each connection's port comes in its streams' headers."""
        from simple_websocket import Server

        from . import remotecommand, spdy
        sandbox = self._sandbox(namespace, pod)
        forwarder = spdy.PortForwarder(lambda port: self.kubelet.runtime.port_forward(sandbox, port))
        if tunneled:
            ws = Server.accept(request.environ, subprotocols=[remotecommand.SPDY_TUNNEL])
            session = spdy.Session(lambda: remotecommand.receive_bytes(ws), ws.send, forwarder.on_stream)
            end = ws.close
        else:
            sock = request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")
            if sock is None:
                raise _Status(500, "InternalError", "this server cannot hand the connection over for SPDY")
            sock.settimeout(None)
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                         b"X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n")
            session = spdy.Session(lambda: _recv(sock), sock.sendall, forwarder.on_stream)
            end = functools.partial(sock.shutdown, socket.SHUT_RDWR)
        try:
            session.serve()
        except spdy.ProtocolError as e:
            log.warning("port-forward to %s/%s ended: %s", namespace, pod, e)
        finally:
            with contextlib.suppress(Exception):
                end()
        return _Hijacked(request.environ)


def _log_body(lines, timestamps: bool, limit: int | None, environ: dict):
    """The log as it is read: `<time> ` before each line with timestamps, cut at limit bytes."""
    sent = 0
    try:
        for item in lines:
            if item is None:           # a follower with nothing new: is anybody still reading?
                if client_gone(environ):
                    return
                yield b""
                continue
            when, line = item
            data = f"{when} ".encode() + line if timestamps else line
            if limit is not None and sent + len(data) >= limit:
                yield data[:limit - sent]
                return
            sent += len(data)
            yield data
    finally:
        with contextlib.suppress(Exception):
            lines.close()


def _int_arg(args, name: str, minimum: int) -> int | None:
    if name not in args:
        return None
    try:
        value = int(args[name])
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise _bad(f"{name} must be an integer of at least {minimum}, not {args[name]!r}")
    return value


def _bool_arg(args, name: str) -> bool:
    return args.get(name, "false").lower() in ("true", "1")
