"""The process runtime: pods as host processes, for machines without a Docker engine.

Each pod gets a loopback address of its own (pod_ips.py) that all its
containers share, and a directory under the runtime's root dir:

    <root>/pods/<uid>/sandbox.json                      pod ref and IP
    <root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>/   empty-dir, configmap, secret, ...
    <root>/pods/<uid>/containers/<name>/state.json      pids, start time, restart count
    <root>/pods/<uid>/containers/<name>/env.json        its environment, for exec (mode 0600)
    <root>/pods/<uid>/containers/<name>/stdin           with `stdin: true`: a FIFO, its stdin (attach -i)
    <root>/pods/<uid>/containers/<name>/exitcode        written when the container ends
    <root>/pods/<uid>/containers/<name>/previous.json   the attempt before (lastState)
    <root>/pods/<uid>/containers/<name>/<id>.log        its stdout and stderr, timestamped (CRI format)
    <root>/pods/<uid>/containers/<name>/<id>.termination-log  bound at its terminationMessagePath
    <root>/pods/<uid>/containers/<name>/run/            nginx's config, pid and temp files

A container is a small shell wrapper in a session (and process group) of its
own, which runs the program (through bubblewrap when it can, process_images.py)
and writes the program's exit status to `exitcode` when it ends, then kills
whatever the program left behind in its group, as a container's end does. The
output goes through the pod's log writer process (container_log.py), which
stamps each line with its time; like containerd's shim, one serves all the
containers of a pod: the first container's start starts it, the next ones
hand it their output pipe. The status survives the kubelet: a new runtime
instance reads the files, checks that the recorded PIDs are still the same
processes (boot id and start time), and adopts them. The wrapper learns the program's PID from a one-line shim
that reports `$$` on an inherited pipe and then execs the program.

The runtime's own processes - the wrapper and the pod's log writer - carry the
kubelet's `LABSERVER_*` marks (the test session's, say), as containerd's shims
carry containerd's environment, so whoever started the kubelet can find every
process it led to; the program itself gets only the container's environment
(the wrapper unsets the marks before it runs it).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from . import procfs, termination
from .container_log import DONE
from .pod_ips import PodIPs
from .process_images import VOLUME_WARNING, Images, bwrap_path, image_name, resolve
from .process_streams import LogAttach, ProcessExec, container_environ, exec_argv, follow_log, read_log
from .runtime import (ContainerState, PodRef, PulledImage, Runtime, RuntimeError_, Sandbox)
from .streams import LogOptions, select_lines

VERSION = "0.1.0"

# $0 is the exitcode file; fd 0 arrives as the pipe the shim reports the PID on. The program's
# stdin is /dev/null, or with `stdin: true` the container's FIFO, opened read-write so that it
# never ends (as Docker keeps an open stdin) and its read waits for what an attach writes.
WRAPPER = """exec 3>&0 {stdin}
trap : TERM INT HUP
{unset}"$@"
echo $? > "$0"
kill -KILL 0
"""
MARK_PREFIX = "LABSERVER_"
ENV_FILE = "env.json"   # the container's environment (PATH, the spec's env), as it was started
STDIN_FIFO = "stdin"    # a `stdin: true` container's stdin: what `kubectl attach -i` / `run -i` types
SHIM = ["/bin/sh", "-c", 'echo $$ >&3; exec "$@" 3>&-', "sh"]
PID_TIMEOUT = 10.0      # seconds for the shim to report (bwrap setup is milliseconds)
# A failed container whose termination log is empty gets the end of its log as its
# status message, as upstream's terminationMessagePolicy FallbackToLogsOnError gives
# (80 lines, 2 KiB at most). This runtime does so whatever the policy: that is how a
# pod that cannot bind port 80 (a non-root lab) says so in `kubectl get pod -o yaml`
# and its events. What the container wrote to its termination log comes first.
MESSAGE_LINES, MESSAGE_BYTES = 80, 2048
LISTEN_TIMEOUT = 3.0    # seconds for nginx to listen before it is reported running anyway
HANDOVER_TIMEOUT = 5.0  # seconds for the pod's log writer to take a container's output pipe


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as f:
        os.fchmod(f.fileno(), mode)
        f.write(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


class ProcessRuntime(Runtime):
    """Runs nginx and busybox containers as host processes; see the module docstring."""

    name = "process"
    enforces_limits = False   # no cgroups of our own: resources.limits are accepted, not enforced

    def __init__(self, root_dir, pod_cidr: str = "127.1.0.0/16"):
        self.root = Path(root_dir)
        self.pods_dir = self.root / "pods"
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        self.ips = PodIPs(self.root / "pod-ips.json", pod_cidr)
        self.images = Images(self.root)
        self._boot = procfs.boot_id()
        self._lock = threading.Lock()
        self._sandboxed: bool | None = None
        self._messages: dict[str, str] = {}   # container id -> its termination message

    # -- what the runtime is -------------------------------------------------

    def version(self) -> str:
        return f"process://{VERSION}"

    @property
    def sandboxed(self) -> bool:
        """True when containers run in bubblewrap views (checked once)."""
        if self._sandboxed is None:
            self._sandboxed = bwrap_path() is not None
        return self._sandboxed

    def ensure_image(self, image: str, pull_policy: str) -> PulledImage:
        name, _ = resolve(image)
        return PulledImage(image_id=f"process://{name}", pulled=False,
                           warning=None if self.sandboxed else VOLUME_WARNING)

    # -- sandboxes -------------------------------------------------------------

    def _pod_dir(self, pod: PodRef) -> Path:
        return self.pods_dir / pod.uid

    def run_sandbox(self, pod: PodRef) -> Sandbox:
        path = self._pod_dir(pod) / "sandbox.json"
        with self._lock:
            data = _read_json(path)
            if data is None:
                ip = self.ips.allocate(pod.uid)
                path.parent.mkdir(parents=True, exist_ok=True)
                data = {"pod": vars(pod).copy(), "ip": ip, "created_at": _now()}
                _write_json(path, data)
        return Sandbox(id=pod.uid, pod=PodRef(**data["pod"]), ip=data["ip"])

    def list_sandboxes(self) -> list[Sandbox]:
        sandboxes = []
        for path in sorted(self.pods_dir.glob("*/sandbox.json")):
            data = _read_json(path)
            if data:
                pod = PodRef(**data["pod"])
                sandboxes.append(Sandbox(id=pod.uid, pod=pod, ip=data["ip"]))
        return sandboxes

    def pod_volume_dir(self, pod: PodRef, volume: str, plugin: str = "empty-dir") -> str:
        path = self._pod_dir(pod) / "volumes" / f"kubernetes.io~{plugin}" / volume
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    # -- containers --------------------------------------------------------------

    def start_container(self, pod: PodRef, sandbox: Sandbox, spec: dict,
                        volumes: dict[str, str], restart_count: int) -> ContainerState:
        cdir = self._pod_dir(pod) / "containers" / spec["name"]
        old = _read_json(cdir / "state.json")
        if old and self._attempt_running(cdir, old):
            return self._state(cdir, old)
        run_dir = cdir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        sandboxed = self.sandboxed
        launch = self.images.launch(spec["image"], spec, pod, sandbox.ip, volumes, run_dir, sandboxed)
        cid = uuid.uuid4().hex[:16]
        termination_log = None
        if sandboxed:  # the container's terminationMessagePath, a host file per attempt
            termination_log = cdir / f"{cid}.termination-log"
            termination_log.touch(mode=0o666)
            launch.view += ["--bind", str(termination_log), termination.message_path(spec)]
        if old:  # keep the ended attempt for lastState and `kubectl logs --previous`
            _write_json(cdir / "previous.json", asdict(self._state(cdir, old)))
        with contextlib.suppress(FileNotFoundError):
            (cdir / "exitcode").unlink()
        self._prune_logs(cdir, keep=old["id"] if old else None)
        argv = [*SHIM, *launch.argv]
        if sandboxed:
            argv = [bwrap_path(), *launch.view, "--", *argv]
        stdin_fifo = None
        with contextlib.suppress(FileNotFoundError):
            (cdir / STDIN_FIFO).unlink()
        if spec.get("stdin"):
            stdin_fifo = cdir / STDIN_FIFO
            try:
                os.mkfifo(stdin_fifo, 0o600)
            except OSError as e:   # a root dir on a filesystem without FIFOs (some shared folders)
                raise RuntimeError_(f"container {spec['name']} has stdin: true, but its stdin FIFO cannot be "
                                    f"made at {stdin_fifo}: {e.strerror or e} (the kubelet's --root-dir "
                                    f"must be on a local filesystem)", "RunContainerError") from None
        read_end, write_end = os.pipe()
        log_read, log_write = os.pipe()
        try:
            writer, writer_ticks = self._log_writer_for(pod, cdir / f"{cid}.log", log_read)
            marks = runtime_marks()
            wrapper = subprocess.Popen(
                ["/bin/sh", "-c", wrapper_script(marks, stdin_fifo), str(cdir / "exitcode"), *argv],
                stdin=write_end, stdout=log_write, stderr=subprocess.STDOUT, env={**launch.env, **marks},
                cwd=launch.cwd, start_new_session=True)
            wrapper_ticks = procfs.start_ticks(wrapper.pid)
            os.close(write_end)
            write_end = -1
            pid = _read_pid(read_end, PID_TIMEOUT)
        finally:
            for fd in (read_end, write_end, log_read, log_write):
                if fd >= 0:
                    os.close(fd)
        record = {
            "id": cid, "name": spec["name"], "image": spec["image"],
            "image_id": f"process://{image_name(spec['image'])}",
            "pod": vars(pod).copy(), "restart_count": restart_count,
            "boot_id": self._boot, "sandboxed": sandboxed,
            "pgid": wrapper.pid, "pgid_ticks": wrapper_ticks,
            "pid": pid, "pid_ticks": procfs.start_ticks(pid) if pid else None,
            "log_writer": writer, "log_writer_ticks": writer_ticks, "log": str(cdir / f"{cid}.log"),
            "started_at": _now(), "previous_id": old["id"] if old else None,
            "termination_log": str(termination_log) if termination_log else None,
        }
        _write_json(cdir / ENV_FILE, launch.env, mode=0o600)   # may hold Secret values: the kubelet's only
        _write_json(cdir / "state.json", record)
        if pid is None:
            self._kill_group(record)
            self._wait_log_writer(record)
            raise RuntimeError_(f"container {spec['name']} did not start: "
                                + self._log_tail(cdir / f"{cid}.log"), "RunContainerError")
        if image_name(spec["image"]) == "nginx":
            self._wait_listening(record, sandbox.ip)
        return self._state(cdir, record)

    def _log_writer_for(self, pod: PodRef, log: Path, fd: int) -> tuple[int, int | None]:
        """Give the container's output pipe to the pod's log writer, starting one if the pod has none.

        (the writer's PID, its start ticks). See container_log.py."""
        name = self._log_writer_socket(pod)
        with self._lock:
            pid = _hand_over(name, log, fd)
            if pid is None:
                pid = _start_log_writer(log, fd, name).pid
        return pid, procfs.start_ticks(pid)

    def _log_writer_socket(self, pod: PodRef) -> str:
        """The abstract Unix socket name where the pod's log writer takes pipes (one per pod dir)."""
        return "labserver-pod-log-" + hashlib.sha256(str(self._pod_dir(pod).resolve()).encode()).hexdigest()[:32]

    def _wait_listening(self, record: dict, ip: str) -> None:
        """Return once nginx listens on ip:80, or its container has ended."""
        deadline = time.monotonic() + LISTEN_TIMEOUT
        while time.monotonic() < deadline and self._running(record):
            if procfs.listening(ip, 80):
                return
            time.sleep(0.002)

    def list_containers(self, pod: PodRef | None = None) -> list[ContainerState]:
        pattern = f"{pod.uid}/containers/*/state.json" if pod else "*/containers/*/state.json"
        states = []
        for path in sorted(self.pods_dir.glob(pattern)):
            record = _read_json(path)
            if record:
                states.append(self._state(path.parent, record))
            previous = _read_json(path.with_name("previous.json"))
            if previous:
                states.append(ContainerState(**{**previous, "pod": PodRef(**previous["pod"])}))
        return states

    def stop_container(self, container_id: str, grace_seconds: float) -> None:
        cdir, record = self._find(container_id)
        if cdir is None or not self._running(record):
            return
        pid = record.get("pid")
        if pid and procfs.is_running(pid, record.get("pid_ticks")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        else:
            self._signal_group(record, signal.SIGTERM)
        deadline = time.monotonic() + max(0.0, grace_seconds)
        while self._running(record) and time.monotonic() < deadline:
            time.sleep(0.01)
        self._kill_group(record)
        self._exit_code(cdir, record)

    def remove_pod(self, pod: PodRef) -> None:
        pod_dir = self._pod_dir(pod)
        writers = set()
        for path in pod_dir.glob("containers/*/state.json"):
            record = _read_json(path)
            if record:
                self._kill_group(record)
                writers.add((record.get("log_writer"), record.get("log_writer_ticks")))
        for pid, ticks in writers:   # no container left: the pod's writer writes the last lines and exits
            self._end_log_writer(pid, ticks)
        shutil.rmtree(pod_dir, ignore_errors=True)
        self.ips.release(pod.uid)

    @staticmethod
    def _end_log_writer(pid: int | None, ticks: int | None, timeout: float = 5.0) -> None:
        """Wait for a log writer with no pipe left to exit; SIGKILL it (the same process: PID and start ticks) if it does not."""
        deadline = time.monotonic() + timeout
        while procfs.is_running(pid, ticks) and time.monotonic() < deadline:
            time.sleep(0.01)
        if procfs.is_running(pid, ticks):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def log_lines(self, container_id: str, opts: LogOptions):
        cdir, record = self._find(container_id)
        if cdir is None:
            raise RuntimeError_(f"no container {container_id}", "NotFound")
        path = cdir / f"{container_id}.log"
        if not opts.follow:
            if record and record.get("id") == container_id and not self._running(record):
                self._wait_log_writer(record)   # an ended container's log is whole once its writer ends
            return iter(select_lines(read_log(path)[0], opts))
        return follow_log(path, opts, lambda: self._ended(cdir, container_id))

    def _ended(self, cdir: Path, container_id: str) -> bool:
        """True once attempt `container_id` has ended and its log writer has written the last line."""
        record = _read_json(cdir / "state.json")
        if not record or record["id"] != container_id:
            return True   # a newer attempt replaced it (or the pod is gone)
        if self._running(record):
            return False
        return self._log_complete(record)

    def _running_record(self, container_id: str) -> tuple[Path, dict]:
        cdir, record = self._find(container_id)
        if cdir is None or record["id"] != container_id or not self._running(record) or not record.get("pid"):
            raise RuntimeError_(f"container {container_id} is not running", "NotFound")
        return cdir, record

    def exec(self, container_id: str, command: list[str], tty: bool, stdin: bool) -> ProcessExec:
        """`command` in the container's view, with the environment the container was started with
        (PATH, the spec's env), as Docker's exec takes it from the container's config. Not read back
        from /proc/<pid>/environ: nginx writes its process title over that memory."""
        cdir, record = self._running_record(container_id)
        env = _read_json(cdir / ENV_FILE) or container_environ(record["pid"])   # or: started before env.json
        argv, fds = exec_argv(record["pid"], bool(record.get("sandboxed")), command)
        return ProcessExec(argv, env or {"PATH": "/usr/bin:/bin"}, stdin=stdin, tty=tty, pass_fds=fds)

    def attach(self, container_id: str, stdin: bool) -> LogAttach:
        """The container's output from now on; with `stdin` (and a `stdin: true` container), what the
        client types goes to the container's stdin FIFO. No terminal: a `tty: true` container gets
        a pipe here (no prompt, no echo), where Docker gives it a pseudo-terminal."""
        cdir, record = self._running_record(container_id)
        fifo = cdir / STDIN_FIFO
        return LogAttach(cdir / f"{container_id}.log", lambda: self._ended(cdir, container_id),
                         lambda: _read_code(cdir / "exitcode"), stdin=fifo if stdin and fifo.exists() else None)

    # -- helpers -------------------------------------------------------------------

    def _find(self, container_id: str) -> tuple[Path | None, dict | None]:
        """The container dir and record holding this id (current or previous attempt)."""
        for path in self.pods_dir.glob("*/containers/*/state.json"):
            record = _read_json(path)
            if record and container_id in (record["id"], record.get("previous_id")):
                return path.parent, record
        return None, None

    def _attempt_running(self, cdir: Path, record: dict) -> bool:
        """True while the attempt counts as running: no exit code recorded yet and its wrapper alive.
        (The wrapper writes the code and then exits: in between, the attempt has ended.)"""
        return _read_code(cdir / "exitcode") is None and self._running(record)

    def _running(self, record: dict) -> bool:
        """True while the container's wrapper is the live process we started."""
        return (record.get("boot_id") == self._boot
                and procfs.is_running(record["pgid"], record.get("pgid_ticks")))

    def _members(self, record: dict) -> list[int]:
        if record.get("boot_id") != self._boot or record.get("pgid_ticks") is None:
            return []
        return procfs.group_members(record["pgid"], record["pgid_ticks"])

    def _signal_group(self, record: dict, sig: int) -> bool:
        """Signal the container's process group if any of its processes is left."""
        if not self._members(record):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record["pgid"], sig)
        return True

    def _kill_group(self, record: dict, timeout: float = 5.0) -> None:
        """SIGKILL whatever is left of the container and wait until it is gone."""
        if not self._signal_group(record, signal.SIGKILL):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            procfs.is_running(record["pgid"], record["pgid_ticks"])  # reaps our own child
            if not self._members(record):
                return
            time.sleep(0.01)

    @staticmethod
    def _log_complete(record: dict) -> bool:
        """True once the log writer has written the attempt's last line (its `.done` marker), or is gone."""
        if record.get("log") and os.path.exists(record["log"] + DONE):
            return True
        writer = record.get("log_writer")
        return not (writer and procfs.is_running(writer, record.get("log_writer_ticks")))

    @classmethod
    def _wait_log_writer(cls, record: dict, timeout: float = 5.0) -> None:
        """The log writer completes an attempt's log once the container's output is closed: wait for that."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not cls._log_complete(record):
            time.sleep(0.01)

    def _exit_code(self, cdir: Path, record: dict) -> int | None:
        """The recorded exit status; for a container that ended without one, 137."""
        code = _read_code(cdir / "exitcode")
        if code is not None or self._running(record):
            return code
        code = _read_code(cdir / "exitcode")  # it may have just ended and written it
        if code is None:
            self._kill_group(record)
            code = 137  # killed (SIGKILL) before it could write a status
            (cdir / "exitcode").write_text(f"{code}\n")
        return code

    def _state(self, cdir: Path, record: dict) -> ContainerState:
        state = ContainerState(
            id=record["id"], name=record["name"], pod=PodRef(**record["pod"]),
            image=record["image"], image_id=record["image_id"], state="running",
            restart_count=record["restart_count"], started_at=record["started_at"],
            extra={"container_id": f"process://{record['id']}", "pid": record.get("pid"),
                   "pgid": record["pgid"], "sandboxed": record.get("sandboxed"),
                   "termination_log": record.get("termination_log")})
        if self._attempt_running(cdir, record):
            return state
        code = self._exit_code(cdir, record)
        self._wait_log_writer(record, timeout=1.0)  # an exited container's log is complete, as with a CRI shim
        state.state, state.exit_code = "exited", code
        state.reason = "Completed" if code == 0 else "Error"
        with contextlib.suppress(OSError):
            state.finished_at = _rfc3339((cdir / "exitcode").stat().st_mtime)
        if code != 0 and not termination.read_message(record.get("termination_log")):
            state.message = self._termination_message(cdir, record)
        return state

    def _termination_message(self, cdir: Path, record: dict) -> str | None:
        """The end of a failed container's log (read once, after its log writer has written it all)."""
        cid = record["id"]
        if cid not in self._messages:
            self._wait_log_writer(record, timeout=1.0)
            lines = [line for _, line in read_log(cdir / f"{cid}.log")[0][-MESSAGE_LINES:]]
            text = b"".join(lines)[-MESSAGE_BYTES:].decode(errors="replace")
            self._messages[cid] = text
        return self._messages[cid] or None

    @staticmethod
    def _prune_logs(cdir: Path, keep: str | None) -> None:
        """Drop logs older than the previous attempt's (kubectl logs --previous), and their `.done` markers."""
        for log in [*cdir.glob("*.log"), *cdir.glob("*.log" + DONE)]:
            if log.name.split(".")[0] != keep:
                log.unlink()

    @staticmethod
    def _log_tail(path: Path, lines: int = 5) -> str:
        text = [line.decode(errors="replace").strip() for _, line in read_log(path)[0][-lines:]]
        return " / ".join(t for t in text if t) or "no output"


def runtime_marks() -> dict[str, str]:
    """The kubelet's LABSERVER_* variables (shell-safe names only): the runtime's own processes carry them."""
    return {k: v for k, v in os.environ.items()
            if k.startswith(MARK_PREFIX) and k.replace("_", "").isalnum() and k.isascii()}


def wrapper_script(marks: dict[str, str], stdin_fifo: Path | None = None) -> str:
    """The wrapper's shell script; it unsets the marks so the program sees only the container's env,
    and gives it `stdin_fifo` (read-write) or /dev/null as its stdin."""
    stdin = f"<>{shlex.quote(str(stdin_fifo))}" if stdin_fifo else "</dev/null"
    return WRAPPER.format(stdin=stdin, unset=f"unset {' '.join(sorted(marks))}\n" if marks else "")


def _hand_over(name: str, log: Path, fd: int) -> int | None:
    """Hand the pipe `fd` and its log's path to the pod's writer listening at abstract socket `name`.

    Its PID once it has taken them; None when there is no writer, or it was ending."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(HANDOVER_TIMEOUT)
        answer = b""
        try:
            sock.connect("\0" + name)
            socket.send_fds(sock, [f"{log}\n".encode()], [fd])
            while not answer.endswith(b"\n"):
                chunk = sock.recv(64)
                if not chunk:
                    return None
                answer += chunk
        except OSError:
            return None
    return int(answer)


def _start_log_writer(path: Path, fd: int, socket_name: str) -> subprocess.Popen:
    """The pod's log writer (container_log.py), reading `fd` for `path`, in a session of its own;
    it takes the pod's further containers' pipes at abstract socket `socket_name`, bound here before
    it starts (so the next container finds it at once). When a writer that is ending still holds the
    name, this one serves its first container alone.

    One runs per pod for as long as its containers run, so it starts lean:
    `-S` skips the site module (site-packages, the editable install's finder):
    the writer needs only the standard library and this package, found
    through PYTHONPATH. That is 2.4 MB less resident memory per pod."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind("\0" + socket_name)
        listener.listen(8)
        fds: tuple[int, ...] = (listener.fileno(),)
    except OSError:
        fds = ()
    try:
        writer = subprocess.Popen(
            [sys.executable, "-S", "-m", "labserver.kubelet.container_log", str(path), *map(str, fds)],
            stdin=fd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, pass_fds=fds,
            start_new_session=True)
    finally:
        listener.close()
    threading.Thread(target=writer.wait, daemon=True, name="log-writer-reaper").start()
    return writer


def _read_code(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_pid(fd: int, timeout: float) -> int | None:
    """The PID the shim reports on the pipe; None when the wrapper ended first."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        chunk = os.read(fd, 64)
        if not chunk:
            return None
        data += chunk
    return int(data)
