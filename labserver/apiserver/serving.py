"""HTTP/1.1 keep-alive for werkzeug's threaded server.

werkzeug's development server answers every request with `Connection: close`
(it cannot tell whether the app read the whole request body), so each
request costs a new TCP connection and a new thread: that alone halved the
API server's request rate. KeepAliveHandler counts what the app reads of the
body and keeps the connection open whenever the body was read to the end,
which is what kubectl, the kubelet and the clients expect of an API server.
"""
from __future__ import annotations

import socket

from werkzeug.serving import WSGIRequestHandler


class _CountingInput:
    """The request body stream, counting what the app read of it."""

    def __init__(self, stream):
        self.stream, self.count = stream, 0

    def read(self, size=-1):
        data = self.stream.read(size)
        self.count += len(data)
        return data

    def readline(self, size=-1):
        data = self.stream.readline(size)
        self.count += len(data)
        return data

    def readinto(self, buffer):
        n = self.stream.readinto(buffer)
        self.count += n or 0
        return n

    def __getattr__(self, name):
        return getattr(self.stream, name)


class _DrainGuard:
    """The connection's read side as werkzeug sees it.

    After each response werkzeug drains whatever the socket still holds
    (`rfile.read(...)`), which is right when it closes every connection but
    would swallow the next request on a kept-alive one. Once the handler has
    decided to keep the connection, reads here return nothing; request lines
    and headers (readline) always come from the socket.
    """

    def __init__(self, stream, handler):
        self.stream, self.handler = stream, handler

    def read(self, size=-1):
        return b"" if self.handler.keep_alive else self.stream.read(size)

    def readline(self, size=-1):
        return self.stream.readline(size)

    def __getattr__(self, name):
        return getattr(self.stream, name)


class KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's request handler, keeping HTTP/1.1 connections open between requests.

    werkzeug answers every request with `Connection: close` because it cannot
    tell whether the app read the whole body; here the body is counted, and
    the connection stays open whenever it was read to the end (kubectl, the
    kubelet and the clients reuse connections: one TCP connection and one
    thread per client instead of one per request). Headers and body leave in
    one write (buffered socket file, flushed by werkzeug after each chunk,
    so watch events still go out at once).
    """

    wbufsize = 1 << 16
    verbose = False
    keep_alive = False

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = _DrainGuard(self.rfile, self)

    def make_environ(self):
        self.keep_alive = False
        environ = super().make_environ()
        if environ["wsgi.input"] is self.rfile:
            environ["wsgi.input"] = _CountingInput(self.rfile.stream)
        self._body = environ["wsgi.input"]
        return environ

    def _body_consumed(self) -> bool:
        if self.headers.get("Transfer-Encoding") or not isinstance(self._body, _CountingInput):
            return False
        try:
            return self._body.count >= int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return False

    def send_header(self, keyword, value):
        if keyword.lower() == "connection" and value.lower() == "close" and self._body_consumed():
            self.keep_alive = True
            return
        super().send_header(keyword, value)

    def handle_expect_100(self):
        return True   # answered once, in run_wsgi

    def run_wsgi(self):
        # curl waits for this "100 Continue" before sending a large body: send it
        # now (werkzeug would write it into the buffer, and http.server a second one).
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            del self.headers["Expect"]
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        super().run_wsgi()

    def log_request(self, code="-", size="-"):
        if self.verbose:
            super().log_request(code, size)
