"""Start, watch and stop the lab's background processes.

Every server the lab runs (etcd, the API server, the kubelet, a private Docker
engine) is a child process started here: in its own process group, with its
output in a log file and its PID in a pid file, so it can be found again from
another notebook kernel and stopped by PID (never by name). Waits poll a
condition with a deadline and print progress instead of sleeping blindly.
A running server is one `Server` handle, whichever component it is.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")


class LabError(Exception):
    """A lab step failed for a reason worth one clear line to the user."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port.

    A loopback connect is answered at once: accepted, or refused when nothing
    listens. The deadline is only for a listener whose backlog is full.
    """
    with socket.socket() as s:
        s.settimeout(3)
        return s.connect_ex((host, port)) == 0


def wait_for(check: Callable[[], T], timeout: float, what: str,
             interval: float = 0.05, progress: Callable[[str], None] | None = None,
             every: float = 2.0) -> T:
    """Poll `check` until it returns a truthy value; return that value.

    `check` may raise; that counts as "not yet", except a LabError, which
    means the thing waited for has failed: it ends the wait at once. Every
    `every` seconds a line goes to `progress` (if given) so long waits are
    visible. After `timeout` seconds a TimeoutError names `what` and the last
    error seen.
    """
    start = time.monotonic()
    deadline = start + timeout
    next_report = start + every
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except LabError:  # it failed: waiting longer cannot help
            raise
        except Exception as e:  # the condition is not met yet
            last_error = e
        now = time.monotonic()
        if now >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise TimeoutError(f"{what}: not ready after {timeout:g}s{detail}")
        if progress and now >= next_report:
            progress(f"  waiting for {what}... {now - start:.0f}s")
            next_report = now + every
        time.sleep(min(interval, max(0.0, deadline - now)))


def pid_alive(pid: int) -> bool:
    """True while a process with this PID exists (and is not a zombie we own)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0)
        with open(f"/proc/{pid}/stat") as f:
            zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
    if zombie:  # it exited after the waitpid above: reap it when it is our child
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    return not zombie


def stop_pid(pid: int, timeout: float = 10.0, group: bool = True) -> bool:
    """SIGTERM the process (its whole group when it leads one), then SIGKILL.

    Returns True if something was running. Only ever called with PIDs the lab
    itself recorded.
    """
    if not pid_alive(pid):
        return False
    send = os.kill
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                send = os.killpg
    with contextlib.suppress(ProcessLookupError):
        send(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        send(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return True


@dataclass
class Process:
    """A background child process with its log file and optional pid file."""

    popen: subprocess.Popen
    log_path: Path
    pid_path: Path | None = None
    name: str = ""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process and its group; remove the pid file."""
        if self.popen.poll() is None:
            stop_pid(self.popen.pid, timeout)
        with contextlib.suppress(Exception):
            self.popen.wait(timeout=5)
        if self.pid_path:
            with contextlib.suppress(FileNotFoundError):
                self.pid_path.unlink()


def start_process(args: Sequence[str], log_path: Path, pid_path: Path | None = None,
                  env: dict | None = None, cwd: str | Path | None = None,
                  name: str = "") -> Process:
    """Start `args` in the background in a new process group, output to log_path."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                 start_new_session=True)
    if pid_path:
        Path(pid_path).parent.mkdir(parents=True, exist_ok=True)
        Path(pid_path).write_text(f"{popen.pid}\n")
    return Process(popen, log_path, Path(pid_path) if pid_path else None, name or args[0])


def python_module_args(module: str, *args: str) -> list[str]:
    """Command line that runs `python -m module args` with this interpreter."""
    return [sys.executable, "-m", module, *args]


@dataclass
class Server:
    """The one handle for every server the lab starts: etcd, the API server, a kubelet.

    `flags` holds the decisions the lab made and passed on the command line
    (runtime, node name, ports), so a caller reads them from the handle
    instead of deciding again.
    """

    name: str
    process: Process
    url: str
    flags: dict = field(default_factory=dict)

    @property
    def client_url(self) -> str:
        """etcd's name for its URL (`--etcd-servers` takes it)."""
        return self.url

    @property
    def host(self) -> str:
        return urlparse(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlparse(self.url).port or 0

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout)


def wait_until_answers(proc: Process, answers: Callable[[], bool], what: str, timeout: float,
                       progress=None) -> None:
    """Wait until `answers()` is true; stop at once (and stop `proc`) when the process exits.

    On failure the LabError carries the last lines of the process's log.
    """
    def ready():
        if not proc.alive():
            raise LabError(f"{proc.name} exited: {proc.log_tail(5).strip() or 'no output'}")
        return answers()

    try:
        wait_for(ready, timeout, what, progress=progress)
    except (TimeoutError, LabError) as e:
        tail = proc.log_tail(10).strip()
        proc.stop()
        raise LabError(f"{e}\n{tail}" if tail and tail not in str(e) else str(e)) from None
