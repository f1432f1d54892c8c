"""The Docker runtime's streaming: the engine's logs, exec and attach APIs as the kubelet needs them.

Logs come from `GET /containers/<id>/logs` with timestamps (and since, tail,
follow); every line starts with the engine's RFC 3339 nano time. Exec is the
engine's exec (`exec_create`, then `exec_start` taking the connection over
as a socket), attach its `attach` socket. Without a tty the engine
multiplexes stdout and stderr on that socket as frames (8-byte header:
stream, 3 zero bytes, big-endian length); with a tty it is one raw stream.

The stream is read through the HTTP response's buffered reader, not the bare
socket docker-py hands back: reading the engine's `101 UPGRADED` headers may
already have pulled the first output into that buffer (a short command's
whole output, when the client read late), and a read from the socket would
never see it (docker/docker-py#3332).
"""
from __future__ import annotations

import contextlib
import io
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Iterator

import docker

from .runtime import RuntimeError_
from .streams import STDOUT, LogLine, LogOptions, StreamSession

HEARTBEAT = 1.0   # seconds between the None a follower yields while nothing comes


def _split(chunks: Iterator[bytes]) -> Iterator[LogLine]:
    """The engine's chunks (`<time> <text>` lines, maybe cut anywhere) as (time, line) pairs."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            when, _, text = line.partition(b" ")
            yield when.decode(errors="replace"), text + b"\n"
    if pending:
        when, _, text = pending.partition(b" ")
        yield when.decode(errors="replace"), text


def log_lines(api: docker.APIClient, container_id: str, opts: LogOptions) -> Iterator[LogLine | None]:
    kwargs = {"stdout": True, "stderr": True, "timestamps": True,
              "tail": opts.tail if opts.tail is not None else "all"}
    if opts.since is not None:
        kwargs["since"] = opts.since.timestamp()
    try:
        if not opts.follow:
            return _split(iter([api.logs(container_id, **kwargs)]))
        stream = api.logs(container_id, stream=True, follow=True, **kwargs)
    except docker.errors.NotFound:
        raise RuntimeError_(f"container {container_id} not found", "NotFound") from None
    return _follow(stream)


def _follow(stream) -> Iterator[LogLine | None]:
    """Lines of a followed engine log, None while quiet; closing the iterator closes the stream."""
    lines: queue.Queue = queue.Queue()

    def read_all():
        try:
            for line in _split(stream):
                lines.put(line)
        except Exception:  # the stream was closed under us, or the engine went away
            pass
        finally:
            lines.put(StopIteration)

    threading.Thread(target=read_all, daemon=True, name="docker-log-follow").start()
    try:
        while True:
            try:
                item = lines.get(timeout=HEARTBEAT)
            except queue.Empty:
                yield None
                continue
            if item is StopIteration:
                return
            yield item
    finally:
        with contextlib.suppress(Exception):
            stream.close()


class DockerSocketSession(StreamSession):
    """A hijacked engine connection (exec or attach): stdin out, frames (or a raw tty stream) in."""

    def __init__(self, sock, tty: bool):
        super().__init__()
        self.sock, self.tty = sock, tty
        response = getattr(sock, "_response", None)   # docker-py keeps it on the socket it returns
        self.reader = response.raw._fp.fp if response is not None else io.BufferedReader(sock)
        self.pump(self._read_raw if tty else self._read_frame)

    def _read_raw(self) -> tuple[int, bytes] | None:
        data = self.reader.read1(1 << 15)
        return (STDOUT, data) if data else None

    def _read_frame(self) -> tuple[int, bytes] | None:
        while True:
            header = self.reader.read(8)
            if len(header) < 8:
                return None
            size = int.from_bytes(header[4:], "big")
            data = self.reader.read(size) if size else b""
            if len(data) < size:
                return None
            if header[0] in (1, 2) and data:
                return header[0], data

    def _raw_socket(self) -> socket.socket:
        return getattr(self.sock, "_sock", self.sock)

    def write_stdin(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self._raw_socket().sendall(data)

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self._raw_socket().shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._raw_socket().shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


class DockerExec(DockerSocketSession):
    def __init__(self, api: docker.APIClient, container_id: str, command: list[str], tty: bool, stdin: bool):
        self.api = api
        try:
            self.exec_id = api.exec_create(container_id, command, stdin=stdin, stdout=True, stderr=not tty,
                                           tty=tty)["Id"]
            sock = api.exec_start(self.exec_id, tty=tty, socket=True)
        except docker.errors.NotFound:
            raise RuntimeError_(f"container {container_id} not found", "NotFound") from None
        except docker.errors.APIError as e:
            raise RuntimeError_(f"exec in {container_id[:12]}: {e.explanation or e}", "RunContainerError") from None
        super().__init__(sock, tty)

    def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(docker.errors.APIError):
            self.api.exec_resize(self.exec_id, height=height, width=width)

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while True:
            info = self.api.exec_inspect(self.exec_id)
            if not info.get("Running"):
                self.close()
                return info.get("ExitCode")
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def kill(self) -> None:
        """The client left: end the command (the engine has no call for that; it is our host's process)."""
        with contextlib.suppress(docker.errors.APIError, ProcessLookupError, PermissionError):
            pid = self.api.exec_inspect(self.exec_id).get("Pid")
            if pid:
                os.kill(pid, signal.SIGKILL)
        self.close()


class DockerAttach(DockerSocketSession):
    def __init__(self, api: docker.APIClient, container_id: str, stdin: bool):
        self.api, self.container_id = api, container_id
        try:
            sock = api.attach_socket(container_id, params={"stdin": int(stdin), "stdout": 1, "stderr": 1,
                                                           "stream": 1})
        except docker.errors.NotFound:
            raise RuntimeError_(f"container {container_id} not found", "NotFound") from None
        tty = bool(api.inspect_container(container_id)["Config"].get("Tty"))
        super().__init__(sock, tty)

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.api.inspect_container(self.container_id)["State"]
            if not state.get("Running"):
                self.close()
                return state.get("ExitCode")
            time.sleep(0.05)
        return None

    def kill(self) -> None:   # detach: the container goes on
        self.close()
