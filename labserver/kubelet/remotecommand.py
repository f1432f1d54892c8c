"""The kubelet's side of `kubectl exec` / `attach` / `port-forward`: channels over a WebSocket.

Exec and attach speak the remote command subprotocols `v5.channel.k8s.io`
(what kubectl 1.37 asks for) and `v4.channel.k8s.io` (the official Python
client's `stream()`). Every binary message starts with one byte, the channel:

    0 stdin   1 stdout   2 stderr   3 error (a metav1 Status, then the end)   4 resize ({"Width", "Height"})

v5 adds a close signal, the message [255, channel]: the client's stdin has
ended. When the command ends the server sends its outcome on channel 3,
Success or Failure with reason NonZeroExitCode and the exit code as the
cause `ExitCode` (kubectl exits with that code), then closes the WebSocket.

Port forwarding speaks the kubelet's WebSocket port-forward protocol
(`v4.channel.k8s.io` with `?ports=80,...`): for the i-th port, channel 2i
carries data and 2i+1 errors, and the first message on each channel is the
port number (2 bytes, little-endian).
"""
from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import struct
import threading

from simple_websocket import ConnectionClosed, Server

from .runtime import RuntimeError_
from .streams import StreamSession

log = logging.getLogger("kubelet.remotecommand")

V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
EXEC_PROTOCOLS = (V5, V4)
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"   # kubectl's port-forward: SPDY inside the WebSocket (spdy.py)
PORT_FORWARD_PROTOCOLS = (V4, "portforward.k8s.io", SPDY_TUNNEL)
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
EXIT_WAIT = 10.0   # seconds to wait for an exit code once the command's output has ended
CLOSE_WAIT = 1.0   # seconds a client gets to answer our close frame before the connection is ended


def receive_bytes(ws: Server) -> bytes:
    """The next binary message's bytes; b"" once the WebSocket is closed (text messages are skipped)."""
    while True:
        try:
            message = ws.receive()
        except ConnectionClosed:
            return b""
        if message is None:
            return b""
        if isinstance(message, (bytes, bytearray)) and message:
            return bytes(message)


def offered_protocols(environ: dict) -> list[str]:
    """The subprotocols the client offers (Sec-WebSocket-Protocol, comma-separated, maybe repeated)."""
    raw = environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def exit_status(code: int | None, command: list[str]) -> dict:
    """The Status sent on the error channel when the command ends (remotecommand's conventions)."""
    if not code:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def failure_status(message: str) -> dict:
    return {"metadata": {}, "status": "Failure", "reason": "InternalError", "message": message,
            "code": 500}


class _Channels:
    """Sending on one WebSocket from several threads (each message: channel byte + data)."""

    def __init__(self, ws: Server):
        self.ws = ws
        self.lock = threading.Lock()

    def send(self, channel: int, data: bytes) -> bool:
        with self.lock:
            try:
                self.ws.send(bytes([channel]) + bytes(data))
                return True
            except (ConnectionClosed, OSError):
                return False

    def close(self) -> None:
        """Send the close frame, give the client CLOSE_WAIT to answer it, then end the connection.

        RFC 6455 lets the server end the TCP connection after its close frame. Waiting
        for the answer without a bound would keep the connection and the WebSocket's
        reader thread forever when a client never answers (the official Python client's
        stream() returns without closing its socket), and the kubelet could not exit.
        """
        with self.lock, contextlib.suppress(ConnectionClosed, OSError):
            self.ws.close()
        reader = getattr(self.ws, "thread", None)
        if reader is not None and reader is not threading.current_thread():
            reader.join(CLOSE_WAIT)
        with contextlib.suppress(OSError, AttributeError):
            self.ws.sock.shutdown(socket.SHUT_RDWR)


def serve_session(ws: Server, session: StreamSession, command: list[str]) -> None:
    """Relay a session over the WebSocket until the command ends or the client goes away."""
    channels = _Channels(ws)
    output_done = threading.Event()

    def copy_output():
        try:
            while True:
                item = session.output(timeout=1.0)
                if item is None:
                    if not ws.connected:
                        return
                    continue
                channel, data = item
                if not data or not channels.send(channel, data):
                    return
        finally:
            output_done.set()

    threading.Thread(target=copy_output, daemon=True, name="exec-output").start()
    v5 = ws.subprotocol == V5
    while not output_done.is_set():
        try:
            message = ws.receive(timeout=0.2)
        except ConnectionClosed:
            message, ws.connected = None, False
        if message is None:
            if not ws.connected:
                log.debug("client left the exec of %s", command)
                session.kill()
                return
            continue
        if isinstance(message, str):
            message = message.encode()
        if not message:
            continue
        channel, data = message[0], bytes(message[1:])
        if channel == STDIN:
            session.write_stdin(data)
        elif channel == RESIZE:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                size = json.loads(data)
                session.resize(int(size["Width"]), int(size["Height"]))
        elif v5 and channel == CLOSE and data[:1] == bytes([STDIN]):
            session.close_stdin()
    if not ws.connected:
        session.kill()
        return
    code = session.wait(EXIT_WAIT)
    channels.send(ERROR, json.dumps(exit_status(code, command)).encode())
    channels.close()


def serve_port_forward(ws: Server, connect, ports: list[int]) -> None:
    """Relay each forwarded port between its channels and a connection to the pod's port.

    `connect(port)` returns a connected socket or raises RuntimeError_.
    """
    channels = _Channels(ws)
    conns: dict[int, socket.socket] = {}
    for i, port in enumerate(ports):
        prefix = struct.pack("<H", port)
        channels.send(2 * i, prefix)
        channels.send(2 * i + 1, prefix)
        try:
            conns[i] = connect(port)
        except RuntimeError_ as e:
            channels.send(2 * i + 1, e.message.encode())

    def copy_from_pod(i: int, conn: socket.socket):
        while True:
            try:
                readable, _, _ = select.select([conn], [], [], 1.0)
                data = conn.recv(1 << 15) if readable else None
            except OSError:
                data = b""
            if data is None:
                if not ws.connected:
                    return
                continue
            if not data or not channels.send(2 * i, data):
                return

    threads = [threading.Thread(target=copy_from_pod, args=(i, c), daemon=True) for i, c in conns.items()]
    for t in threads:
        t.start()
    try:
        while ws.connected and any(t.is_alive() for t in threads):
            try:
                message = ws.receive(timeout=0.5)
            except ConnectionClosed:
                break
            if not message or isinstance(message, str):
                continue
            channel = message[0]
            conn = conns.get(channel // 2)
            if conn is not None and channel % 2 == 0:
                with contextlib.suppress(OSError):
                    conn.sendall(bytes(message[1:]))
    finally:
        for conn in conns.values():
            with contextlib.suppress(OSError):
                conn.close()
        channels.close()
