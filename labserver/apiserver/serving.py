"""HTTP for the API server: gunicorn, `--workers=N` processes on one socket, many threads each.

Why gunicorn: it is the maintained WSGI server that gives what an API server
needs and werkzeug's development server does not: HTTP/1.1 keep-alive,
several processes sharing one listening socket (one Python process is bound
by its GIL; the API server keeps no state outside etcd, so N processes serve
the same API, as kube-apiserver replicas do behind a load balancer), and a
supervisor that replaces a worker that dies.

Why the threaded worker (gthread) with many threads: a watch is a response
that lasts minutes, and it holds its thread for as long as it streams.
Kept-alive connections between requests wait in the worker's poller without
a thread; a thread is taken per request, and per open watch. Threads are
started on demand, up to THREADS per worker, so an idle server has few.
A busy connection keeps its thread a little (LINGER_SECONDS) after each
answer: a client that sends its next request by then is served by the same
thread at once, instead of the connection going back to the poller, the main
thread waking, and another thread being handed the request (for a small GET
that round of hand-offs costs about as much CPU and latency as the answer).

One process by default: with `--workers=1` (what a reader meets, as the
post's kube-apiserver was one process) gunicorn's threaded worker serves the
socket from this very process, without gunicorn's supervising parent (the
arbiter), which would be a second Python process doing nothing but waiting.
With `--workers=N` the arbiter forks N workers and replaces any that dies.

Forks and gRPC: the etcd client is gRPC, and no gRPC channel may cross a
fork. The arbiter never opens one: server.py checks etcd over plain HTTP
before serving, and each worker builds its own app and etcd client after it
has forked (APIServer.load, gunicorn's app factory).

A request gunicorn cannot parse (a garbage request line, a URI over 8 KB, a
broken chunked body) gets a Kubernetes Status, never gunicorn's HTML page.
WebSocket upgrades can take over the raw socket via `environ["gunicorn.socket"]`.
"""
from __future__ import annotations

import json
import os
import select
import threading
import time

from gunicorn.app.base import BaseApplication
from gunicorn.http import errors as http_errors
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import ThreadWorker

from .errors import APIError
from .limits import trim_heap
from .threadpool import ElasticPool

THREADS = 1000             # per worker, started on demand: each open watch holds one
CONNECTIONS = 4000         # per worker: open watches + kept-alive connections + requests
KEEPALIVE_SECONDS = 30     # an idle kept-alive connection is closed after this
STOP_SECONDS = 5           # SIGTERM: watches end at once; requests in flight get this long
LINGER_SECONDS = 0.05      # a thread waits this long for the next request on its kept-alive connection

# Parse errors gunicorn raises, and the answer each gets (code, reason).
_FRAMING = {
    http_errors.LimitRequestLine: (414, "RequestURITooLong"),
    http_errors.LimitRequestHeaders: (431, "RequestHeaderFieldsTooLarge"),
    http_errors.UnsupportedTransferCoding: (501, "NotImplemented"),
}


def framing_error(exc: Exception) -> bytes:
    """The whole HTTP response (Status JSON, connection closed) for a request that could not be parsed."""
    code, reason = next((answer for kind, answer in _FRAMING.items() if isinstance(exc, kind)),
                        (400, "BadRequest"))
    message = f"malformed HTTP request: {exc}"[:1000]
    body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code}, separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {code} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


class APIWorker(ThreadWorker):
    """gunicorn's threaded worker, ending open watches when it stops and answering parse errors as Status."""

    alone = False   # serving without an arbiter (--workers=1): no parent to watch
    app_itself = None   # the Flask app (self.wsgi is it behind load_wsgi's shim)

    def get_thread_pool(self):
        """Threads started on demand that end when idle (threadpool.py), so a burst's memory goes back."""
        return ElasticPool(self.cfg.threads, on_shrink=trim_heap)

    def load_wsgi(self):
        """The app, behind a shim that turns its `Connection: close` into gunicorn's own.

        gunicorn drops hop-by-hop headers an app sets, and announces keep-alive;
        but a request whose body the app refused unread (413) leaves that body on
        the socket, and gunicorn then closes the connection rather than drain
        megabytes. Told in advance, the response says `Connection: close`, as
        Go's net/http does, and the client does not reuse a connection about to end."""
        super().load_wsgi()
        app = self.app_itself = self.wsgi

        def closing(environ, start_response):
            def start(status, headers, exc_info=None):
                if any(k.lower() == "connection" and v.strip().lower() == "close" for k, v in headers):
                    response = getattr(start_response, "__self__", None)   # gunicorn's Response
                    if hasattr(response, "force_close"):
                        response.force_close()
                return start_response(status, headers, exc_info)
            return app(environ, start)

        self.wsgi = closing

    def handle(self, conn):
        """Serve requests on `conn` while its client keeps sending them promptly (see LINGER_SECONDS);
        then hand it back to the poller (kept alive), or close it, as gunicorn decides."""
        keep = super().handle(conn)
        while keep is True and self.alive and self._next_request_soon(conn):
            keep = super().handle(conn)
        return keep

    @staticmethod
    def _next_request_soon(conn) -> bool:
        """Whether the next request is already buffered, or starts arriving within LINGER_SECONDS."""
        if conn.parser.unreader.buf.getvalue():
            return True
        poll = select.poll()   # not select(): descriptors may be above 1024 (CONNECTIONS)
        poll.register(conn.sock, select.POLLIN)
        try:
            return bool(poll.poll(LINGER_SECONDS * 1000))
        except OSError:
            return False

    def _end_watches(self) -> None:
        app = getattr(self, "app_itself", None)
        if app is not None:
            from .handlers.watch import end_all
            end_all(app)

    def handle_exit(self, sig, frame):
        """SIGTERM: end open watches now; requests in flight finish (up to STOP_SECONDS)."""
        self._end_watches()
        super().handle_exit(sig, frame)

    def murder_keepalived(self, force=False):
        """Once stopping, idle kept-alive connections close at once rather than lingering."""
        super().murder_keepalived(force=force or not self.alive)

    def handle_quit(self, sig, frame):
        """SIGINT / SIGQUIT: stop at once; open watches end first, so no thread outlives the process."""
        self._end_watches()
        super().handle_quit(sig, frame)

    def is_parent_alive(self):
        return self.alone or super().is_parent_alive()

    def notify(self):
        """The heartbeat the arbiter watches (a file's ctime, touched every loop): none without one."""
        if not self.alone:
            super().notify()

    def handle_error(self, req, client, addr, exc):
        if not isinstance(exc, http_errors.ParseException):
            return super().handle_error(req, client, addr, exc)   # an app error: gunicorn's 500
        self.log.warning("bad request from %s: %s", (addr or ("",))[0], exc)
        try:
            write_nonblock(client, framing_error(exc))
        except OSError:
            pass

    def run(self):
        try:
            super().run()
        finally:
            storage = getattr(getattr(self, "app_itself", None), "extensions", {}).get("labserver.storage")
            if storage is not None:
                storage.close()


class APIServer(BaseApplication):
    """The API server under gunicorn: `APIServer(...).run()` serves until SIGTERM, then exits.

    `fd` is a listening socket bound by the caller (so a taken port is the
    caller's one-line error); `config` goes to create_app in each worker;
    `say(line)` prints the server's own lines.
    """

    def __init__(self, fd: int, workers: int, config: dict, verbose: bool, say):
        self.fd, self.workers, self.config, self.verbose, self.say = fd, workers, config, verbose, say
        super().__init__()

    def load_config(self):
        settings = {
            "bind": [f"fd://{self.fd}"], "workers": self.workers, "worker_class": f"{__name__}.APIWorker",
            "threads": THREADS, "worker_connections": CONNECTIONS, "keepalive": KEEPALIVE_SECONDS,
            "graceful_timeout": STOP_SECONDS, "timeout": 60, "limit_request_line": 8190,
            "loglevel": "info" if self.verbose else "warning", "accesslog": "-" if self.verbose else None,
            "errorlog": "-", "control_socket_disable": True, "proc_name": "labserver-apiserver",
            "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,   # heartbeats off the disk
            "post_fork": self._post_fork, "on_exit": self._on_exit,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def run(self) -> int:
        """Serve until stopped; the exit code."""
        if self.workers > 1:
            try:
                super().run()   # gunicorn's arbiter: ends with sys.exit
            except SystemExit as e:
                return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            return 0
        from gunicorn.glogging import Logger
        from gunicorn.sock import create_sockets
        log = Logger(self.cfg)
        worker = APIWorker(1, os.getppid(), create_sockets(self.cfg, log), self, self.cfg.timeout, self.cfg, log)
        worker.alone = True
        worker.pid = os.getpid()
        try:
            worker.init_process()   # loads the app (self.load), serves until SIGTERM or Ctrl-C
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else 0
        finally:
            worker.tmp.close()
            self.say("stopped")
        return 0

    def load(self):
        """In each worker, after the fork: its own app, etcd client, system namespaces, `kubernetes` Service."""
        from . import create_app
        from .storage import bootstrap_namespaces
        from .strategies.service import bootstrap_kubernetes_service
        app = create_app(self.config)
        storage = app.extensions["labserver.storage"]

        def bootstrap() -> None:
            bootstrap_namespaces(storage)
            problem = bootstrap_kubernetes_service(storage, self.config["SERVICE_CLUSTER_IP_RANGE"],
                                                   self.config["INSECURE_PORT"])
            if problem:
                self.say(problem)

        try:
            bootstrap()
        except APIError as e:   # etcd went away while this worker started: serve, and bootstrap when it is back
            if e.code != 503:
                raise
            self.say(f"worker {os.getpid()}: {e.message}; bootstrapping again in the background")
            threading.Thread(target=self._bootstrap_later, args=(bootstrap,), daemon=True).start()
        return app

    @staticmethod
    def _bootstrap_later(bootstrap, interval: float = 1.0) -> None:
        """Retry the (idempotent) bootstrap until etcd answers again."""
        while True:
            time.sleep(interval)
            try:
                return bootstrap()
            except APIError as e:
                if e.code != 503:
                    raise

    def _post_fork(self, arbiter, worker):
        if self.workers > 1:
            self.say(f"worker {worker.age} started (pid {os.getpid()})")

    def _on_exit(self, arbiter):
        self.say("stopped")
