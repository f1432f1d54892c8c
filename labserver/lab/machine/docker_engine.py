"""Find a Docker engine that answers, or start the lab's own private one.

The post ran everything with Docker. Many lab machines have the `dockerd`
binary but no engine running (containers, CI runners), and we must not touch
a system engine's configuration or the host firewall. So `python -m labserver
docker up` starts a *private* engine: its own data root, exec root and socket
under the lab's state dir, `--iptables=false --ip-masq=false`, output in a log
file and its PID recorded, so `docker down` stops exactly that engine and
nothing else. The lab and the tests ask `docker_host()` which engine to use,
and pass it to the kubelet (`--container-runtime-endpoint`).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from ..supervise.procs import LabError, pid_alive, start_process, stop_pid, wait_for
from ..supervise.state import REPO_ROOT, read_json, state_dir, write_json

RECORD = "docker.json"                     # the lab engine's record in the state dir
SYSTEM_SOCKET = "unix:///var/run/docker.sock"
INSTALL_HINT = "install Docker's engine: `apt-get install docker.io` (or `make docker-deps`)"
_CACHE_SECONDS = 2.0
_cache: dict[str, tuple[float, str | None]] = {}
_cache_lock = threading.Lock()


# --- talking to an engine -------------------------------------------------------------------

class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket, enough for GET /_ping without the docker SDK."""

    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def ping(url: str, timeout: float = 0.5) -> bool:
    """True when the engine at `url` (unix:// or tcp://) answers GET /_ping with OK."""
    parsed = urlparse(url)
    try:
        if parsed.scheme == "unix":
            if not os.path.exists(parsed.path):
                return False
            conn: http.client.HTTPConnection = _UnixHTTPConnection(parsed.path, timeout)
        elif parsed.scheme in ("tcp", "http"):
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 2375, timeout=timeout)
        else:  # https/ssh engines: let the docker SDK decide
            return False
        try:
            conn.request("GET", "/_ping")
            resp = conn.getresponse()
            return resp.status == 200 and resp.read().strip() == b"OK"
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return False


def lab_socket_url() -> str:
    """DOCKER_HOST of the lab's private engine (whether or not it runs)."""
    return f"unix://{state_dir() / 'docker' / 'docker.sock'}"


def candidates(workbook: bool = True) -> list[tuple[str, str]]:
    """(description, DOCKER_HOST) pairs, in the order docker_host() tries them.

    With `workbook`, a state dir moved elsewhere (LABSERVER_STATE_DIR, as tests
    do) still finds the engine `make docker-up` started for the checkout.
    """
    found = []
    env = os.environ.get("DOCKER_HOST")
    if env:
        found.append(("DOCKER_HOST from the environment", env))
    found.append(("the lab's private engine", lab_socket_url()))
    workbook_url = f"unix://{REPO_ROOT / '.lab' / 'docker' / 'docker.sock'}"
    if workbook and workbook_url != found[-1][1]:
        found.append(("the workbook's private engine", workbook_url))
    found.append(("the system engine", SYSTEM_SOCKET))
    return found


def find_engine(workbook: bool = True) -> tuple[str, str] | None:
    """(description, DOCKER_HOST) of the first engine that answers, uncached."""
    for what, url in candidates(workbook):
        if ping(url):
            return what, url
    return None


def docker_host() -> str | None:
    """DOCKER_HOST URL of an engine that answers, or None. Cached for two seconds."""
    key = f"{os.environ.get('DOCKER_HOST', '')}|{state_dir()}"
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit and now - hit[0] < _CACHE_SECONDS:
            return hit[1]
    found = find_engine()
    url = found[1] if found else None
    with _cache_lock:
        _cache[key] = (time.monotonic(), url)
    return url


def client(timeout: int = 60):
    """A docker.DockerClient on the engine docker_host() finds; LabError when none answers."""
    import docker
    url = docker_host()
    if not url:
        raise LabError("no Docker engine answers: start one with `python -m labserver docker up`")
    try:
        return docker.DockerClient(base_url=url, timeout=timeout)
    except docker.errors.DockerException as e:
        raise LabError(f"cannot talk to the Docker engine at {url}: {e}") from None


# --- the lab's private engine ---------------------------------------------------------------

def _engine_dir() -> Path:
    return state_dir() / "docker"


def _exec_root(engine_dir: Path) -> Path:
    """dockerd's exec root; kept short because containerd's sockets live under it.

    Unix socket paths are limited to 107 bytes, so a deep state dir (a pytest
    tmp dir) gets a short per-state-dir directory under /run instead.
    """
    own = engine_dir / "exec"
    if len(str(own)) <= 40:
        return own
    digest = hashlib.sha256(str(engine_dir).encode()).hexdigest()[:10]
    return Path("/run") / f"labserver-docker-{digest}"


def lab_engine_record() -> dict:
    """The recorded private engine ({} when none), with 'running' filled in."""
    rec = read_json(RECORD)
    if rec:
        rec["running"] = bool(rec.get("pid")) and pid_alive(int(rec["pid"])) and _is_dockerd(int(rec["pid"]))
    return rec


def _is_dockerd(pid: int) -> bool:
    """Guard against a recycled PID: the recorded process must still be dockerd."""
    try:
        exe = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return os.path.basename(exe.decode(errors="replace")) == "dockerd"


def dockerd_command(engine_dir: Path, exec_root: Path) -> list[str]:
    """The dockerd command line of the private engine.

    No --bridge option: `--bridge=none` makes dockerd delete docker0, which
    would cut off the containers of any other engine on this machine.
    """
    return [shutil.which("dockerd") or "dockerd",
            "--data-root", str(engine_dir / "data"),
            "--exec-root", str(exec_root),
            "-H", f"unix://{engine_dir / 'docker.sock'}",
            "--pidfile", str(engine_dir / "dockerd.pid"),
            "--iptables=false", "--ip-masq=false"]


def start_engine(timeout: float = 60.0, progress=print) -> str:
    """Start the private engine and wait until it answers; return its DOCKER_HOST."""
    if not shutil.which("dockerd"):
        raise LabError(f"no Docker engine answers and dockerd is not installed: {INSTALL_HINT}")
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        raise LabError("no Docker engine answers, and a private engine needs root on Linux: "
                       "start Docker yourself (Docker Desktop, or `sudo python -m labserver docker up`)")
    engine_dir = _engine_dir()
    exec_root = _exec_root(engine_dir)
    for d in (engine_dir / "data", exec_root):
        d.mkdir(parents=True, exist_ok=True)
    sock = engine_dir / "docker.sock"
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()  # a stale socket from an engine that died
    url = f"unix://{sock}"
    log_path = engine_dir / "dockerd.log"
    proc = start_process(dockerd_command(engine_dir, exec_root), log_path, name="dockerd")
    write_json(RECORD, {"pid": proc.pid, "docker_host": url, "data_root": str(engine_dir / "data"),
                        "exec_root": str(exec_root), "log": str(log_path), "started": time.time()})
    progress(f"docker: starting a private engine (pid {proc.pid}, log {log_path})")

    def answers():
        if not proc.alive():
            raise LabError(f"dockerd exited: {proc.log_tail(3).strip()}")
        return ping(url)

    try:
        wait_for(answers, timeout, "the Docker engine", interval=0.1, progress=progress)
    except (TimeoutError, LabError) as e:
        tail = proc.log_tail(5).strip()
        stop_engine(progress=lambda *_: None)
        raise LabError(f"the private Docker engine did not start: {e}\n{tail}") from None
    _cache.clear()
    return url


def stop_engine(timeout: float = 30.0, progress=print) -> bool:
    """Stop the private engine the lab started (by its recorded PID). True if one ran."""
    rec = lab_engine_record()
    if not rec:
        return False
    pid = int(rec.get("pid") or 0)
    stopped = False
    if rec.get("running"):
        progress(f"docker: stopping the lab's private engine (pid {pid})")
        # SIGTERM to dockerd alone, so it stops its containers and containerd in order;
        # whatever of its process group is left after that is ended too.
        stopped = stop_pid(pid, timeout, group=False)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    engine_dir = _engine_dir()
    exec_root = Path(rec.get("exec_root") or engine_dir / "exec")
    leftovers = [] if pid and pid_alive(pid) and _is_dockerd(pid) else _mounts_under(engine_dir, exec_root)
    for path in leftovers:
        progress(f"docker: unmounting {path}, which the engine left mounted")
        subprocess.run(["umount", "--lazy", path], check=False)
    if exec_root.name.startswith("labserver-docker-") and exec_root.parent == Path("/run"):
        shutil.rmtree(exec_root, ignore_errors=True)  # the short exec root made for a deep state dir
    for leftover in (engine_dir / "docker.sock", engine_dir / "dockerd.pid", state_dir() / RECORD):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    _cache.clear()
    return stopped


def _mounts_under(*dirs: Path) -> list[str]:
    """Mount points at or below `dirs` in this mount namespace, deepest first.

    dockerd mounts a network namespace file per container under its exec root
    (netns/) and its data root on itself; it unmounts them when it stops in
    order. One that ended otherwise leaves them, and then the checkout cannot
    be deleted ("Device or resource busy"). Only paths under the lab's own
    dirs are listed, so nothing else on the machine is touched."""
    try:
        table = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return []
    roots = [str(d.resolve()) for d in dirs]
    points = []
    for line in table.splitlines():
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[4])   # " " is \040 there
        if any(point == root or point.startswith(root + "/") for root in roots):
            points.append(point)
    return sorted(set(points), key=len, reverse=True)


# --- CLI --------------------------------------------------------------------------------------

def _up(args) -> int:
    found = find_engine(workbook=False)
    if found:
        what, url = found
        print(f"docker: {what} already answers at {url}; using it")
        if url != os.environ.get("DOCKER_HOST") and url != SYSTEM_SOCKET:
            print(f"export DOCKER_HOST={url}")
        return 0
    try:
        url = start_engine(timeout=args.timeout)
    except LabError as e:
        print(f"docker: {e}", file=sys.stderr)
        return 1
    print(f"docker: the private engine answers at {url}; to use it from a shell:")
    print(f"export DOCKER_HOST={url}")
    return 0


def _down(args) -> int:
    if stop_engine(timeout=args.timeout):
        print("docker: the lab's private engine stopped")
    else:
        print("docker: no private engine of the lab is running; nothing to stop")
    return 0


def _status(args) -> int:
    found = find_engine(workbook=False)
    rec = lab_engine_record()
    if found:
        what, url = found
        print(f"docker: {what} answers at {url}")
        print(f"DOCKER_HOST={url}")
        if rec.get("running") and rec.get("docker_host") == url:
            print(f"docker: started by the lab (pid {rec['pid']}, log {rec.get('log')})")
        return 0
    print("docker: no engine answers (tried " + ", ".join(u for _, u in candidates(False)) + ")")
    return 3


def main(argv: list[str] | None = None) -> int:
    """`python -m labserver docker up|down|status`."""
    p = argparse.ArgumentParser(prog="python -m labserver docker",
                                description="The lab's Docker engine: find one, or run a private one.")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="use the engine that answers, or start the lab's private engine")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the engine")
    down = sub.add_parser("down", help="stop the private engine the lab started (only that)")
    down.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    sub.add_parser("status", help="which engine answers, and its DOCKER_HOST")
    args = p.parse_args(argv)
    return {"up": _up, "down": _down, "status": _status}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
