"""What the runtimes hand the kubelet's streaming server: log lines and exec/attach sessions.

Logs. Like the CRI's container log files, a container's output is kept as
lines with the time each was written (`<RFC 3339 nano> <stream> <F|P> <text>`,
see container_log.py); `kubectl logs --timestamps` prints that time and
`--since` / `--since-time` select by it. A LogLine is (timestamp, line bytes).

Sessions. An exec (a new process in the container) or an attach (the
container's own stdio) is a StreamSession: stdin to write and close, stdout
and stderr to read as they come, a terminal to resize, an exit code to wait
for. Each runtime makes its own kind (pipes, a pty, a Docker socket); the
common part here turns any readable thing into a queue of (channel, bytes)
so the server reads one place.
"""
from __future__ import annotations

import datetime as _dt
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .cri_log import LogLine, cri_line, parse_cri_line, timestamp  # noqa: F401 (this module's API too)

STDOUT, STDERR = 1, 2


@dataclass
class LogOptions:
    """Which lines of a container's log: the last `tail`, those since `since`; follow or not."""

    tail: int | None = None
    since: _dt.datetime | None = None
    follow: bool = False


def parse_timestamp(text: str) -> _dt.datetime | None:
    """An RFC 3339 time with up to nanoseconds (Docker's and ours) -> aware datetime."""
    text = text.strip().replace("Z", "+00:00")
    if "." in text:
        head, _, rest = text.partition(".")
        digits = rest[:len(rest) - len(rest.lstrip("0123456789"))]
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        return _dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def select_lines(lines: list[LogLine], opts: LogOptions) -> list[LogLine]:
    """Apply since, then tail, as the kubelet does (tail counts the lines after --since)."""
    if opts.since is not None:
        lines = [ln for ln in lines if (parse_timestamp(ln[0]) or opts.since) >= opts.since]
    if opts.tail is not None:
        lines = lines[-opts.tail:] if opts.tail > 0 else []
    return lines


class StreamSession:
    """A running exec or attach; runtimes subclass it (see the module docstring).

    Output arrives through `pump(read)`: a thread calls read() until it returns
    None or empty data, and queues each (channel, data) it got. `output(timeout)` returns the next
    (channel, data), None on timeout, and (0, b"") once every pump has ended.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._pumps = 0
        self._ended = 0

    def pump(self, read: Callable[[], tuple[int, bytes] | None]) -> None:
        """Start a thread queueing what read() returns, (channel, data), until it returns None."""
        self._pumps += 1

        def run():
            try:
                while True:
                    try:
                        item = read()
                    except (OSError, ValueError):
                        item = None
                    if not item or not item[1]:
                        break
                    self._queue.put(item)
            finally:
                self._queue.put(None)
        threading.Thread(target=run, daemon=True, name="stream-pump").start()

    def pump_fd(self, channel: int, fd: int) -> None:
        """Pump a file descriptor (a pipe or a pty's master) to `channel` until its end."""
        self.pump(lambda: (channel, os.read(fd, 1 << 15)))

    def output(self, timeout: float | None = None) -> tuple[int, bytes] | None:
        while self._ended < self._pumps:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                return None
            if item is None:
                self._ended += 1
                continue
            return item
        return 0, b""

    # What each runtime's session provides.
    def write_stdin(self, data: bytes) -> None:
        raise NotImplementedError

    def close_stdin(self) -> None:
        raise NotImplementedError

    def resize(self, width: int, height: int) -> None:
        """Set the terminal size (only meaningful with a tty)."""

    def wait(self, timeout: float) -> int | None:
        """The exit code once the command has ended (None: unknown, e.g. an attach)."""
        raise NotImplementedError

    def kill(self) -> None:
        """The client went away: end the command and release everything."""
        raise NotImplementedError
