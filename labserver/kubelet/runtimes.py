"""Pick and build the container runtime the kubelet was asked for.

`auto` means the post's way (Docker) when a Docker engine answers, else host
processes. The runtime modules are imported only when chosen, so a machine
without the docker SDK or without an engine can still run the process runtime.
"""
from __future__ import annotations

from pathlib import Path

from .runtime import Runtime

CHOICES = ("auto", "docker", "process")


def find_docker_host() -> str | None:
    """DOCKER_HOST of an engine that answers, or None (also when the helper is missing)."""
    try:
        from ..lab.docker_engine import docker_host
    except ImportError:
        return None
    try:
        return docker_host()
    except Exception:
        return None


def choose(name: str, docker_host: str | None = None) -> tuple[str, str | None]:
    """Resolve `auto`: ('docker', host) when an engine answers, else ('process', None)."""
    if name not in CHOICES:
        raise ValueError(f"unknown runtime {name!r} (one of: {', '.join(CHOICES)})")
    if name == "process":
        return name, None
    host = docker_host or find_docker_host()
    if name == "auto":
        return ("docker", host) if host else ("process", None)
    if not host:
        raise ValueError("--runtime=docker: no Docker engine answers "
                         "(start one with `python -m labserver docker up`, or set DOCKER_HOST)")
    return name, host


def make_runtime(name: str, root_dir: str | Path, pod_cidr: str = "127.1.0.0/16",
                 docker_host: str | None = None) -> Runtime:
    """Build the runtime `name` (auto, docker or process) rooted at root_dir."""
    name, host = choose(name, docker_host)
    if name == "docker":
        from .runtime_docker import DockerRuntime
        return DockerRuntime(root_dir, docker_host=host)
    from .runtime_process import ProcessRuntime
    return ProcessRuntime(root_dir, pod_cidr=pod_cidr)
