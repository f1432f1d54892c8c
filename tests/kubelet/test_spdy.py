"""kubelet/spdy.py against a client written here from the spec: streams answered, data relayed both ways,
pings echoed, a refused port reported on the error stream (kubectl itself: test_streaming.py)."""
from __future__ import annotations

import queue
import socket
import struct
import threading
import zlib

from labserver.kubelet import spdy


class Client:
    """The client's end of a session over a socketpair, as client-go's spdystream frames it."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buffer = sock, b""
        self.deflate = zlib.compressobj(zdict=spdy.DICTIONARY)
        self.inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)

    def control(self, kind: int, payload: bytes, flags: int = 0) -> None:
        self.sock.sendall(struct.pack(">HHI", 0x8003, kind, (flags << 24) | len(payload)) + payload)

    def syn_stream(self, stream_id: int, **headers: str) -> None:
        block = struct.pack(">I", len(headers)) + b"".join(
            struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode() for k, v in headers.items())
        block = self.deflate.compress(block) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.control(spdy.SYN_STREAM, struct.pack(">IIH", stream_id, 0, 0) + block)

    def data(self, stream_id: int, data: bytes, fin: bool = False) -> None:
        self.sock.sendall(struct.pack(">II", stream_id, ((1 if fin else 0) << 24) | len(data)) + data)

    def frame(self) -> tuple:
        """(True, type, flags, payload) or (False, stream id, flags, data); WINDOW_UPDATEs skipped."""
        while True:
            while len(self.buffer) < 8:
                self.buffer += self.sock.recv(65536)
            first, second = struct.unpack(">II", self.buffer[:8])
            length = second & 0xFFFFFF
            while len(self.buffer) < 8 + length:
                self.buffer += self.sock.recv(65536)
            payload, self.buffer = self.buffer[8:8 + length], self.buffer[8 + length:]
            if first & 0x80000000:
                if first & 0xFFFF == spdy.WINDOW_UPDATE:
                    continue
                if first & 0xFFFF == spdy.SYN_REPLY:
                    self.inflate.decompress(payload[4:])
                return True, first & 0xFFFF, second >> 24, payload
            return False, first, second >> 24, payload


def serve(connect) -> tuple[Client, threading.Thread]:
    ours, theirs = socket.socketpair()
    ours.settimeout(10)
    session = spdy.Session(lambda: theirs.recv(65536), theirs.sendall, spdy.PortForwarder(connect).on_stream)
    thread = threading.Thread(target=session.serve, daemon=True)
    thread.start()
    return Client(ours), thread


def echo_server() -> tuple[int, queue.Queue]:
    """A TCP server on loopback that upper-cases what it reads until the client's FIN, then closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    got: queue.Queue = queue.Queue()

    def run():
        conn, _ = listener.accept()
        with conn:
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            got.put(data)
            conn.sendall(data.upper())
        listener.close()
    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1], got


def test_streams_are_answered_and_data_relayed_both_ways():
    port, got = echo_server()
    client, thread = serve(lambda p: socket.create_connection(("127.0.0.1", p), timeout=5))
    client.syn_stream(1, streamtype="error", port=str(port), requestid="0")
    client.syn_stream(3, streamtype="data", port=str(port), requestid="0")
    replies = [client.frame() for _ in range(2)]
    assert [(r[0], r[1], struct.unpack(">I", r[3][:4])[0]) for r in replies] == [(True, spdy.SYN_REPLY, 1),
                                                                                  (True, spdy.SYN_REPLY, 3)]
    client.control(spdy.PING, struct.pack(">I", 7))
    assert client.frame() == (True, spdy.PING, 0, struct.pack(">I", 7))
    big = b"x" * 100_000 + b"end"                    # more than one window and more than one frame
    client.data(3, big[:50_000])
    client.data(3, big[50_000:], fin=True)
    assert got.get(timeout=10) == big
    received, fins = b"", set()
    while fins != {1, 3}:
        control, stream, flags, data = client.frame()
        assert not control
        received += data if stream == 3 else b""
        assert stream == 3 or data == b""            # nothing on the error stream
        if flags & spdy.FLAG_FIN:
            fins.add(stream)
    assert received == big.upper()
    client.control(spdy.GOAWAY, struct.pack(">II", 0, 0))
    thread.join(5)
    assert not thread.is_alive()


def test_a_refused_port_is_reported_on_the_error_stream():
    def refuse(port):
        raise RuntimeError(f"error forwarding port {port} to pod p: connection refused")
    client, thread = serve(refuse)
    client.syn_stream(1, streamtype="error", port="81", requestid="5")
    client.syn_stream(3, streamtype="data", port="81", requestid="5")
    frames = [client.frame() for _ in range(4)]
    assert [f[:2] for f in frames[:2]] == [(True, spdy.SYN_REPLY)] * 2
    assert (False, 1, spdy.FLAG_FIN, b"error forwarding port 81 to pod p: connection refused") in frames
    assert (False, 3, spdy.FLAG_FIN, b"") in frames
    client.sock.close()
    thread.join(5)
    assert not thread.is_alive()
