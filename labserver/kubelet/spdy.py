"""SPDY/3.1, as much of it as `kubectl port-forward` needs from a kubelet.

kubectl 1.37 opens a WebSocket on pods/portforward offering the subprotocol
`SPDY/3.1+portforward.k8s.io`, and then speaks SPDY/3.1 inside it: the SPDY
bytes are carried in binary WebSocket messages, with no framing of their own
(client-go's tunneling connection). Only when that upgrade fails (or with
KUBECTL_PORT_FORWARD_WEBSOCKETS=false) does it fall back to a bare
`Upgrade: SPDY/3.1`, and then the same frames travel on the connection
itself. The kubelet serves both (http_api.py); a Session only needs bytes in
and out.

What the client does (client-go tools/portforward): for each local
connection it opens two streams with SYN_STREAM, headers `streamtype: error`
and `streamtype: data`, both with `port` and the same `requestid`, and waits
for a SYN_REPLY to each. It closes its side of the error stream at once; the
server writes a failure there (then closes it). Bytes of the local
connection travel as DATA frames on the data stream, both ways; FIN closes a
direction. It also sends PINGs, which are echoed.

The framing (draft-mbelshe-httpbis-spdy-00): a control frame is
1 bit set, 15 bits version (3), 16 bits type, 8 bits flags, 24 bits length;
a data frame is 1 bit clear, 31 bits stream id, 8 bits flags, 24 bits length.
Header blocks are zlib streams, one per direction for the whole session,
primed with the spec's dictionary. Flow control: the client does not wait
for windows (spdystream ignores them); WINDOW_UPDATEs are still sent for
what was read, as the spec asks.
"""
from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import threading
import zlib

log = logging.getLogger("kubelet.spdy")

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_DATA = 1 << 15

# The header compression dictionary of SPDY/3 (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): these words,
# each with a 4-byte big-endian length, then the text of common status lines, dates and values.
_WORDS = ("options head post put delete trace accept accept-charset accept-encoding accept-language "
          "accept-ranges age allow authorization cache-control connection content-base content-encoding "
          "content-language content-length content-location content-md5 content-range content-type date etag "
          "expect expires from host if-match if-modified-since if-none-match if-range if-unmodified-since "
          "last-modified location max-forwards pragma proxy-authenticate proxy-authorization range referer "
          "retry-after server te trailer transfer-encoding upgrade user-agent vary via warning "
          "www-authenticate method get status").split() + ["200 OK"] + "version HTTP/1.1 url public set-cookie " \
    "keep-alive origin".split()
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
         "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
         "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
         "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
         "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
         "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3."""


class Session:
    """One SPDY/3.1 session on a byte transport: `recv()` returns bytes (b"" at the end), `send(data)`.

    `on_stream(session, stream_id, headers)` is called for each SYN_STREAM (headers: lower-case name
    -> value); data for a stream goes to the handler registered with `accept_data`.
    """

    def __init__(self, recv, send, on_stream):
        self._recv, self._send, self.on_stream = recv, send, on_stream
        self._buffer = b""
        self._send_lock = threading.Lock()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zdict=DICTIONARY)
        self._data_handlers: dict[int, object] = {}
        self.closed = threading.Event()

    # -- reading ----------------------------------------------------------------------------

    def _read(self, n: int) -> bytes | None:
        while len(self._buffer) < n:
            chunk = self._recv()
            if not chunk:
                return None
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def serve(self) -> None:
        """Read frames until the peer goes away or sends GOAWAY."""
        try:
            while (head := self._read(8)) is not None:
                first, second = struct.unpack(">II", head)
                flags, length = second >> 24, second & 0xFFFFFF
                payload = self._read(length) if length else b""
                if payload is None:
                    return
                if first & 0x80000000:
                    if (first >> 16) & 0x7FFF != VERSION:
                        raise ProtocolError(f"SPDY version {(first >> 16) & 0x7FFF}, not 3")
                    if not self._control(first & 0xFFFF, flags, payload):
                        return
                else:
                    self._data(first & 0x7FFFFFFF, flags, payload)
        finally:
            self.closed.set()
            for handler in list(self._data_handlers.values()):
                handler(b"", True)

    def _control(self, kind: int, flags: int, payload: bytes) -> bool:
        if kind == SYN_STREAM:
            stream_id = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            headers = self._headers(payload[10:])
            self.on_stream(self, stream_id, headers)
            if flags & FLAG_FIN:
                self._data(stream_id, FLAG_FIN, b"")
        elif kind == PING:
            self._frame(self._control_head(PING, 0, len(payload)) + payload)
        elif kind == RST_STREAM:
            stream_id = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            self._data(stream_id, FLAG_FIN, b"")
        elif kind == GOAWAY:
            return False
        elif kind == HEADERS:
            self._headers(payload[4:])   # keeps the shared zlib stream in step; nothing to do with them
        return True                      # SETTINGS, WINDOW_UPDATE and others: nothing to do

    def _headers(self, block: bytes) -> dict[str, str]:
        data = self._inflate.decompress(block)
        (count,), at, headers = struct.unpack(">I", data[:4]), 4, {}
        for _ in range(count):
            (n,) = struct.unpack(">I", data[at:at + 4])
            name = data[at + 4:at + 4 + n].decode("latin-1").lower()
            at += 4 + n
            (n,) = struct.unpack(">I", data[at:at + 4])
            headers[name] = data[at + 4:at + 4 + n].decode("latin-1").split("\0")[0]
            at += 4 + n
        return headers

    def _data(self, stream_id: int, flags: int, payload: bytes) -> None:
        handler = self._data_handlers.get(stream_id)
        fin = bool(flags & FLAG_FIN)
        if fin:
            self._data_handlers.pop(stream_id, None)
        if handler is not None:
            handler(payload, fin)
        if payload:
            delta = struct.pack(">I", len(payload))
            for stream in (stream_id, 0):    # the stream's window and the session's (SPDY/3.1)
                self._frame(self._control_head(WINDOW_UPDATE, 0, 8) + struct.pack(">I", stream) + delta)

    # -- writing ----------------------------------------------------------------------------

    @staticmethod
    def _control_head(kind: int, flags: int, length: int) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | length)

    def _frame(self, frame: bytes) -> bool:
        with self._send_lock:
            try:
                self._send(frame)
                return True
            except Exception:   # noqa: BLE001 - the transport is gone; serve() ends with the reader
                return False

    def accept_data(self, stream_id: int, handler) -> None:
        """Answer the stream's SYN_STREAM (an empty SYN_REPLY); its data goes to handler(data, fin)."""
        self._data_handlers[stream_id] = handler
        with self._send_lock:   # header blocks share one zlib stream: compress and send in order
            block = self._deflate.compress(struct.pack(">I", 0)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
            payload = struct.pack(">I", stream_id) + block
            with contextlib.suppress(Exception):
                self._send(self._control_head(SYN_REPLY, 0, len(payload)) + payload)

    def send_data(self, stream_id: int, data: bytes, fin: bool = False) -> bool:
        for at in range(0, max(len(data), 1), MAX_DATA):
            chunk = data[at:at + MAX_DATA]
            last = fin and at + MAX_DATA >= len(data)
            head = struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if last else 0) << 24) | len(chunk))
            if not self._frame(head + chunk):
                return False
        return True


class PortForwarder:
    """The kubelet's port-forward over a Session: pairs each request's error and data streams, connects
    to the pod's port with `connect(port)` (a socket, or an exception whose `message` says why not)."""

    def __init__(self, connect):
        self.connect = connect
        self._pending: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def on_stream(self, session: Session, stream_id: int, headers: dict) -> None:
        kind, request_id = headers.get("streamtype"), headers.get("requestid", "")
        pipe = _Pipe()
        session.accept_data(stream_id, pipe)
        with self._lock:
            pair = self._pending.setdefault(request_id, {})
            pair[kind] = (stream_id, pipe)
            if not {"error", "data"} <= set(pair):
                return
            del self._pending[request_id]
        threading.Thread(target=self._forward, args=(session, pair["error"][0], *pair["data"], headers.get("port", "")),
                         daemon=True, name=f"port-forward-{request_id}").start()

    def _forward(self, session: Session, error_stream: int, data_stream: int, pipe: "_Pipe", port: str) -> None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            session.send_data(error_stream, f"invalid port {port!r}".encode(), fin=True)
            session.send_data(data_stream, b"", fin=True)
            return
        try:
            conn = self.connect(int(port))
        except Exception as e:   # noqa: BLE001 - the runtime's reason goes to the client's error stream
            session.send_data(error_stream, getattr(e, "message", str(e)).encode(), fin=True)
            session.send_data(data_stream, b"", fin=True)
            return
        pipe.attach(conn)
        try:
            while not session.closed.is_set():
                try:
                    readable, _, _ = select.select([conn], [], [], 1.0)
                    data = conn.recv(MAX_DATA) if readable else None
                except OSError:
                    data = b""
                if data is None:
                    continue
                if not data or not session.send_data(data_stream, data):
                    break
        finally:
            session.send_data(data_stream, b"", fin=True)
            session.send_data(error_stream, b"", fin=True)
            with contextlib.suppress(OSError):
                conn.close()


class _Pipe:
    """A data stream's way to the pod: what arrives before the pod's port is connected waits here."""

    def __init__(self):
        self.lock = threading.Lock()
        self.conn: socket.socket | None = None
        self.early: list[tuple[bytes, bool]] = []

    def __call__(self, data: bytes, fin: bool) -> None:
        with self.lock:
            if self.conn is None:
                self.early.append((data, fin))
            else:
                self._write(data, fin)

    def attach(self, conn: socket.socket) -> None:
        with self.lock:
            self.conn = conn
            for data, fin in self.early:
                self._write(data, fin)
            self.early.clear()

    def _write(self, data: bytes, fin: bool) -> None:
        with contextlib.suppress(OSError):
            if data:
                self.conn.sendall(data)
            if fin:
                self.conn.shutdown(socket.SHUT_WR)
