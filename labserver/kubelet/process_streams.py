"""The process runtime's streaming: reading and following log files, exec, attach.

Logs: each container attempt has a CRI-format log file (container_log.py
writes it). `read_log` parses it; `follow_log` goes on reading what is
appended until the container has ended and its log writer has finished.

Exec: a command "in the container" runs in the container's bubblewrap view by
joining the mount and UTS namespaces of the container's main process with
`nsenter` (its root and working directory too), with that process's
environment, so it sees exactly the files the container sees (its volumes,
its private /tmp) and the pod's hostname. Without bubblewrap the container is
a plain host process and so is the command. With a tty the command gets a
pseudo-terminal as its controlling terminal (`setsid --ctty`).

Attach: the process runtime gives a container no stdin (it reads /dev/null),
so attaching means following its output from now on, until it ends.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import shutil
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .runtime import RuntimeError_
from .streams import STDERR, STDOUT, LogLine, LogOptions, StreamSession, parse_cri_line, select_lines

POLL = 0.1          # seconds between looks at a followed log file
HEARTBEAT = 1.0     # seconds between the None a follower yields while nothing comes


def _parse(raw_lines: list[bytes]) -> list[LogLine]:
    return [line for line in map(parse_cri_line, raw_lines) if line is not None]


def read_log(path: Path) -> tuple[list[LogLine], int]:
    """All complete lines of a log file, and the offset after the last of them."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1
    return _parse(data[:end].splitlines(keepends=True)), end


def follow_log(path: Path, opts: LogOptions, ended: Callable[[], bool],
               from_now: bool = False) -> Iterator[LogLine | None]:
    """The selected lines (none if from_now), then every line appended, until `ended()` and nothing more comes.

    The log is read here, at the call: "now" is when the follower was asked for, not when its lines
    are first taken (an attach's client may write to the container's stdin before that, and its
    answer must not be missed)."""
    lines, offset = read_log(path)
    return _follow(path, [] if from_now else select_lines(lines, opts), offset, ended)


def _follow(path: Path, first: list[LogLine], offset: int, ended: Callable[[], bool]) -> Iterator[LogLine | None]:
    yield from first
    idle_since = time.monotonic()
    while True:
        finished = ended()   # asked before reading, so the last lines are never missed
        new = b""
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as f:
            f.seek(offset)
            new = f.read()
        end = new.rfind(b"\n") + 1
        if end:
            offset += end
            yield from _parse(new[:end].splitlines(keepends=True))
            idle_since = time.monotonic()
            continue
        if finished:
            return
        if time.monotonic() - idle_since >= HEARTBEAT:
            idle_since = time.monotonic()
            yield None
        time.sleep(POLL)


def container_environ(pid: int) -> dict[str, str]:
    """The environment of the container's main process (what an exec'd command gets)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.decode(errors="replace").partition("=")
        if sep and key:
            env[key] = value
    return env


NS_GET_USERNS = 0xB701   # ioctl on a namespace file: a new fd of the user namespace that owns it


def exec_argv(pid: int, sandboxed: bool, command: list[str]) -> tuple[list[str], list[int]]:
    """argv that runs `command` in the view of the container whose main process is `pid`, and the
    file descriptors it needs (the caller passes them to the child, then closes them).

    bwrap run by a plain user makes a user namespace, creates the container's mount and UTS
    namespaces in it, then drops into a second, nested user namespace to run the program. Entering
    that nested one gives no right over the mount namespace (`nsenter: reassociate to namespace
    'ns/uts' failed`); entering the one that owns the mount namespace does. No process stays in it,
    so it is reached through an fd of it (NS_GET_USERNS), given to nsenter as /proc/self/fd/N."""
    if not sandboxed:
        return list(command), []
    nsenter = shutil.which("nsenter")
    if not nsenter:
        raise RuntimeError_("nsenter (util-linux) is missing, so a command cannot enter the container",
                            "RunContainerError")
    argv = [nsenter, f"--target={pid}", "--mount", "--uts", "--root", "--wd"]
    fds: list[int] = []
    with contextlib.suppress(OSError):
        if os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user"):   # bwrap of a plain user
            try:
                mnt = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    fds.append(fcntl.ioctl(mnt, NS_GET_USERNS))
                finally:
                    os.close(mnt)
                argv += [f"--user=/proc/self/fd/{fds[0]}", "--preserve-credentials"]
            except OSError:   # a kernel without the ioctl (before 4.9): the program's own user namespace
                argv += ["--user", "--preserve-credentials"]
    return [*argv, "--", *command], fds


class ProcessExec(StreamSession):
    """A command started on the host (in a container's view): pipes, or a pty with tty."""

    def __init__(self, argv: list[str], env: dict, stdin: bool, tty: bool, cwd: str | None = None,
                 pass_fds: list[int] = ()):
        """`pass_fds` (exec_argv's) go to the child and are closed here once it has started."""
        super().__init__()
        self.tty = tty
        self.master = -1
        try:
            if tty:
                self.master, slave = pty.openpty()
                try:
                    self.proc = subprocess.Popen(["setsid", "--ctty", *argv], stdin=slave, stdout=slave,
                                                 stderr=slave, env=env, cwd=cwd, close_fds=True,
                                                 pass_fds=pass_fds)
                finally:
                    os.close(slave)
                self.pump_fd(STDOUT, self.master)
            else:
                self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                             cwd=cwd, start_new_session=True, pass_fds=pass_fds)
                self.pump_fd(STDOUT, self.proc.stdout.fileno())
                self.pump_fd(STDERR, self.proc.stderr.fileno())
        except OSError as e:
            if self.master >= 0:
                os.close(self.master)
            raise RuntimeError_(f"cannot run {argv[-1] if argv else ''}: {e.strerror or e}",
                                "RunContainerError") from None
        finally:
            for fd in pass_fds:
                os.close(fd)

    def write_stdin(self, data: bytes) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self.tty:
                os.write(self.master, data)
            elif self.proc.stdin:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self.tty:
                os.write(self.master, b"\x04")   # ^D: end of input for the terminal's reader
            elif self.proc.stdin:
                self.proc.stdin.close()

    def resize(self, width: int, height: int) -> None:
        if self.tty:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def wait(self, timeout: float) -> int | None:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._close()
        return code if code >= 0 else 128 - code   # killed by signal N: 128+N, as a shell reports

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self._close()

    def _close(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f:
                with contextlib.suppress(OSError):
                    f.close()
        if self.master >= 0:
            # the pump may still be reading the last output: it ends on EIO once the slave is gone
            master, self.master = self.master, -1
            with contextlib.suppress(OSError):
                time.sleep(0.05)
                os.close(master)


class LogAttach(StreamSession):
    """Attach to a container: its output from now on, until it ends or the client leaves; with `stdin`
    (the container's stdin FIFO), what the client sends is written there."""

    def __init__(self, path: Path, ended: Callable[[], bool], exit_code: Callable[[], int | None],
                 stdin: Path | None = None):
        super().__init__()
        self._stop = False
        self._exit_code = exit_code
        self._stdin_path, self._stdin = stdin, -1
        self._lines = follow_log(path, LogOptions(), lambda: self._stop or ended(), from_now=True)
        self.pump(self._next)

    def _next(self) -> tuple[int, bytes] | None:
        for line in self._lines:
            if line is not None:
                return STDOUT, line[1]
        return None

    def write_stdin(self, data: bytes) -> None:
        """Into the FIFO, which the container holds open (no reader: the container has ended)."""
        if self._stdin_path is None:
            return
        with contextlib.suppress(OSError):
            if self._stdin < 0:
                self._stdin = os.open(self._stdin_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                os.set_blocking(self._stdin, True)
            os.write(self._stdin, data)

    def close_stdin(self) -> None:
        """This client's end only: the container's stdin stays open (its own end is read-write)."""
        if self._stdin >= 0:
            with contextlib.suppress(OSError):
                os.close(self._stdin)
            self._stdin = -1

    def wait(self, timeout: float) -> int | None:
        return self._exit_code()

    def kill(self) -> None:
        self._stop = True
        self.close_stdin()
