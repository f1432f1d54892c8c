"""`python -m labserver.kubelet.container_log FILE [FD]`: the log writer of a process runtime pod.

The process runtime points a container's stdout and stderr at a pipe this
process reads. It stamps every line with the time it arrived and appends it
to the container attempt's log file in the CRI log format (`<RFC 3339 nano>
stdout F <text>`, cri_log.py), which is what lets `kubectl logs --timestamps`
and `--since` work. It runs in a session of its own, outside the containers'
process groups, so it outlives a container by exactly as long as it takes to
write the last lines, and outlives a kubelet restart (the role of
containerd's shim, which is one per pod, or conmon).

One writer serves a whole pod. It starts with the first container's pipe as
stdin and FILE as its log; given FD, a listening Unix socket the runtime
bound (at the pod's abstract socket name) before starting it, the runtime
hands it each further container's pipe there with the log file's path (the
path, a newline, and the pipe's read end passed as SCM_RIGHTS; the answer is
this writer's PID). When a pipe ends, the writer writes the last partial
line and creates `<log>.done`, which tells the runtime that attempt's log is
complete. It exits once no pipe is left, so
a pod whose containers have all ended has no writer; the runtime starts a new
one when a container starts again (a handover that races with that exit gets
no answer, and the runtime then starts a writer of its own for the pipe).

It imports only the standard library's basics and cri_log.py: it runs for
the pod's whole life, with `python -S` (runtime_process.py).
"""
from __future__ import annotations

import os
import select
import signal
import socket
import sys

from .cri_log import cri_line

CHUNK = 1 << 16
DONE = ".done"   # suffix of the marker a finished attempt's log gets


def copy_lines(fd_in: int, fd_out: int) -> None:
    """Read fd_in to its end, writing each line (and a last partial one) to fd_out as CRI lines."""
    log = _Log(fd_out)
    while log.feed(os.read(fd_in, CHUNK)):
        pass


class _Log:
    """One attempt's log: complete lines are written as they come, the rest when more arrives or at the end."""

    def __init__(self, fd_out: int, path: str | None = None):
        self.fd_out, self.path, self.pending = fd_out, path, b""

    def feed(self, data: bytes) -> bool:
        """Write what `data` completes; at the end (empty data) the partial last line. False once ended."""
        if not data:
            if self.pending:
                os.write(self.fd_out, cri_line("stdout", self.pending))
            return False
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        if lines:
            os.write(self.fd_out, b"".join(cri_line("stdout", line + b"\n") for line in lines))
        return True

    def end(self) -> None:
        """Close the log and mark it complete (unless its directory is gone: the pod was removed)."""
        os.close(self.fd_out)
        if self.path:
            try:
                os.close(os.open(self.path + DONE, os.O_WRONLY | os.O_CREAT, 0o644))
            except OSError:
                pass


def _open(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def _receive(listener: socket.socket) -> tuple[int, _Log] | None:
    """One handover: (the pipe's read end, its log opened), answered with our PID; None if it failed
    (unanswered, so the runtime starts a writer of its own for the pipe)."""
    try:
        conn, _ = listener.accept()
    except OSError:
        return None
    with conn:
        conn.settimeout(5)
        try:
            data, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        except OSError:
            return None
        if not fds:
            return None
        path = data[:-1].decode(errors="replace")
        try:
            if not data.endswith(b"\n"):
                raise OSError("no path")
            log = _Log(_open(path), path)
        except OSError:
            for fd in fds:
                os.close(fd)
            return None
        try:
            conn.sendall(f"{os.getpid()}\n".encode())
        except OSError:
            os.close(log.fd_out)
            os.close(fds[0])
            return None
        return fds[0], log


def serve(first_path: str, listen_fd: int | None) -> None:
    """Write the log of the pipe on stdin to first_path, and of every pipe handed over, until none is left."""
    logs = {0: _Log(_open(first_path), first_path)}
    listener = socket.socket(fileno=listen_fd) if listen_fd is not None else None
    poller = select.poll()
    poller.register(0, select.POLLIN)
    if listener is not None:
        poller.register(listener.fileno(), select.POLLIN)
    while logs:
        for fd, _ in poller.poll():
            if listener is not None and fd == listener.fileno():
                handed = _receive(listener)
                if handed:
                    logs[handed[0]] = handed[1]
                    poller.register(handed[0], select.POLLIN)
                continue
            log = logs[fd]
            try:
                more = log.feed(os.read(fd, CHUNK))
            except OSError:   # this attempt's log cannot be written (its pod removed, a full disk): end it alone
                more = False
            if not more:
                poller.unregister(fd)
                os.close(fd)
                del logs[fd]
                log.end()
    if listener is not None:
        listener.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m labserver.kubelet.container_log FILE [LISTENING-SOCKET-FD]", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)   # end only when the containers' output ends
    serve(args[0], int(args[1]) if len(args) == 2 else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
