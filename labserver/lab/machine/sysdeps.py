"""Install the Debian packages the lab's runtimes need, or say exactly how.

The process runtime runs the host's own nginx, busybox and bubblewrap; the
Docker runtime needs Debian's engine and mmdebstrap to build images offline.
`make system-deps` / `make docker-deps` call this module so that a fresh
machine (and CI) gets them from the project, not from a hand step:

    python -m labserver.lab.machine.sysdeps process|workbook|docker|registry

When everything is there it says so in one line without touching apt. As root
on Debian/Ubuntu it runs `apt-get update` once and installs what is missing,
with services kept from starting (the lab runs its own nginx and dockerd, never
the system's). Elsewhere it prints the exact command and exits 0, and the tests
that need the programs skip with that command as their reason (`install_hint`).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...kubelet.process_images import HOST_PROGRAMS, find_program

POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
NGINX_PID = Path("/run/nginx.pid")


@dataclass(frozen=True)
class Need:
    """One host program the lab needs and the Debian package that provides it."""

    program: str
    package: str
    why: str


NEEDS: dict[str, tuple[Need, ...]] = {
    # The kubelet's process runtime names the programs it runs (and their packages).
    "process": tuple(Need(program, package, why) for program, (package, why) in HOST_PROGRAMS.items()),
    # Not a runtime's: the jq program, for cells that pipe `curl ... | jq` in a shell.
    "workbook": (
        Need("jq", "jq", "filters the API server's JSON in shell cells, as the post does"),
    ),
    "docker": (
        Need("dockerd", "docker.io", "the lab's private Docker engine"),
        Need("mmdebstrap", "mmdebstrap", "builds the nginx image without a registry"),
    ),
    # `make test-registry` only: the distribution registry, serving the lab's images on loopback.
    "registry": (
        Need("docker-registry", "docker-registry", "serves the images for the pull-path test"),
    ),
}


def _needs(kind: str) -> tuple[Need, ...]:
    try:
        return NEEDS[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r} (one of: {', '.join(NEEDS)})") from None


def missing(kind: str) -> list[str]:
    """Debian packages of `kind` ("process" or "docker") whose program is absent."""
    return [n.package for n in _needs(kind) if not find_program(n.program)]


def install_command(packages: list[str], root: bool | None = None) -> str:
    """The shell command that installs `packages` (with sudo when not root)."""
    if root is None:
        root = os.geteuid() == 0
    sudo = "" if root else "sudo "
    return (f"{sudo}apt-get update && {sudo}apt-get install -y --no-install-recommends "
            + " ".join(packages))


def install_hint(kind: str) -> str:
    """One line saying what is missing and the command to install it; "" when nothing is."""
    packages = missing(kind)
    if not packages:
        return ""
    programs = [n.program for n in _needs(kind) if n.package in packages]
    return f"{', '.join(programs)} not installed: run `{install_command(packages)}`"


def can_install() -> bool:
    """True when we may install with apt here: root on Debian or Ubuntu."""
    return (os.geteuid() == 0 and Path("/etc/debian_version").exists()
            and shutil.which("apt-get") is not None)


@contextlib.contextmanager
def _services_kept_down():
    """Keep package scripts from starting services (Debian's policy-rc.d, exit 101).

    An existing policy-rc.d (Docker images ship one) is left as it is.
    """
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\n# labserver: no services during install\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            POLICY_RC_D.unlink()


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _stop_started_nginx(pid_before: int | None, say: Callable[[str], None]) -> None:
    """Stop a system nginx master that the install itself started (and only that)."""
    pid = _pid_in(NGINX_PID)
    if pid is None or pid == pid_before:
        return
    if _process_name(pid) == "nginx":
        say(f"stopping the system nginx (pid {pid}) that the package started")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)


def install(kind: str, run: Callable = subprocess.run, say: Callable[[str], None] = print) -> int:
    """Install what `kind` misses (see the module docstring); returns an exit status."""
    packages = missing(kind)
    if not packages:
        programs = ", ".join(n.program for n in _needs(kind))
        say(f"{kind} runtime dependencies already installed ({programs})")
        return 0
    if not can_install():
        say(f"missing {' '.join(packages)}; install them with: {install_command(packages)}")
        return 0
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", NEEDRESTART_SUSPEND="1")
    wait_lock = ["-o", "DPkg::Lock::Timeout=300"]
    say(f"installing {' '.join(packages)} (apt-get)")
    nginx_before = _pid_in(NGINX_PID)
    with _services_kept_down():
        for args in (["apt-get", *wait_lock, "update", "-q"],
                     ["apt-get", *wait_lock, "install", "-y", "-q", "--no-install-recommends",
                      *packages]):
            result = run(args, env=env)
            if result.returncode != 0:
                say(f"`{' '.join(args)}` failed with exit status {result.returncode}")
                return 1
    _stop_started_nginx(nginx_before, say)
    still = missing(kind)
    if still:
        say(f"still missing after install: {' '.join(still)}")
        return 1
    say(f"installed {' '.join(packages)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1 or argv[0] not in NEEDS:
        print(f"usage: python -m labserver.lab.machine.sysdeps {'|'.join(NEEDS)}", file=sys.stderr)
        return 2
    return install(argv[0])


if __name__ == "__main__":
    sys.exit(main())
