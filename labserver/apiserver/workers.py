"""Pre-fork workers: `--workers=N` API server processes serving one listening socket.

Why: one Python process is bound by its GIL. Profiling the create path
showed little Python work per request; what limits one process is that
everything in it (the gRPC call to etcd, werkzeug, thread switches) takes
turns on one interpreter lock. The API server keeps no state of its own:
everything lives in etcd, watches included. So, like kube-apiserver replicas
behind a load balancer, several processes can serve the same API; here the
kernel is the load balancer, handing each new connection to whichever
worker accepts it first from the shared socket.

The parent checks etcd and creates the system namespaces once (server.py),
closes its etcd client, binds the socket and starts the workers with
subprocess (fork + exec, a fresh interpreter: a gRPC channel does not survive
a bare fork). Each worker gets the socket's file descriptor (`--listen-fd`),
creates its own app and etcd client, and serves until SIGTERM. The parent
stays in the same process group as its workers, so the lab's killpg stops
them all; SIGTERM or Ctrl-C to the parent stops every worker and exits 0,
and a worker dying on its own stops the others and exits 1.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from werkzeug.serving import LISTEN_QUEUE, ThreadedWSGIServer, get_sockaddr, select_address_family

POLL_SECONDS = 0.2     # how often the parent looks at its workers
STOP_SECONDS = 10.0    # SIGTERM grace before SIGKILL
ACCEPT_DELAY = 0.001   # seconds a worker waits before accepting, per connection it already serves


def default_count() -> int:
    """One worker per CPU: more processes than cores only add switching."""
    return max(1, os.cpu_count() or 1)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket the workers share (raises OSError, e.g. port in use)."""
    family = select_address_family(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(get_sockaddr(host, port, family))
        sock.listen(LISTEN_QUEUE)
    except OSError:
        sock.close()
        raise
    # Non-blocking: every worker wakes for a new connection, one accepts it,
    # the others get EAGAIN (socketserver ignores it) instead of hanging in accept().
    sock.setblocking(False)
    return sock


def _worker_command(flags: list[str], fd: int) -> list[str]:
    return [sys.executable, "-m", "labserver", "apiserver", *flags, f"--listen-fd={fd}"]


def _worker_env() -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])   # workers import this same checkout
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run(sock: socket.socket, count: int, flags: list[str], log) -> int:
    """Start `count` workers on `sock` and supervise them; return the exit code.

    `flags` are the apiserver flags each worker gets; `log(line)` prints one line.
    """
    stopping = threading.Event()

    def stop(signum, frame):
        stopping.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    fd = sock.fileno()
    workers: list[subprocess.Popen] = []
    try:
        for _ in range(count):
            workers.append(subprocess.Popen(_worker_command(flags, fd), pass_fds=(fd,), env=_worker_env(),
                                            stdin=subprocess.DEVNULL))
        sock.close()   # the workers hold it now
        log(f"started {count} workers (pids {', '.join(str(w.pid) for w in workers)})")
        while not stopping.is_set():
            for i, worker in enumerate(workers):
                if worker.poll() is not None and not stopping.is_set():
                    log(f"worker {i} (pid {worker.pid}) exited with code {worker.returncode}; stopping")
                    return 1
            time.sleep(POLL_SECONDS)
        return 0
    finally:
        sock.close()
        _stop(workers)


def _stop(workers: list[subprocess.Popen]) -> None:
    """SIGTERM every worker still running, then SIGKILL whatever outlives the grace period."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for worker in workers:
        try:
            worker.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


class WorkerServer(ThreadedWSGIServer):
    """A worker's threaded server that leaves new connections to less busy workers.

    Every worker wakes for a new connection and the first to accept() wins,
    which on its own often hands all of a few keep-alive clients to one
    worker. Here a worker that already serves k connections waits k ms
    (at most 10) before accepting, so the least busy worker usually wins;
    the others get EAGAIN from the non-blocking socket and carry on.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connections = 0
        self._count_lock = threading.Lock()

    def get_request(self):
        if self.connections:
            time.sleep(min(self.connections, 10) * ACCEPT_DELAY)
        request = super().get_request()   # BlockingIOError when another worker was quicker
        with self._count_lock:
            self.connections += 1
        return request

    def shutdown_request(self, request):
        with self._count_lock:
            self.connections -= 1
        super().shutdown_request(request)


def exit_with_parent(stop) -> None:
    """In a worker: call `stop()` once the parent is gone (e.g. SIGKILLed), so no worker is orphaned."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        stop()
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
