"""Pick and build the container runtime the kubelet was asked for.

As upstream's kubelet is told its runtime's endpoint (`--container-runtime-endpoint`),
ours is told where its Docker engine listens: the flag, else DOCKER_HOST, else the
system socket. The kubelet decides nothing else about engines: whoever starts it
(the lab, a reader at a shell) picks the engine and passes it.

`auto` means the post's way (Docker) when the engine at that endpoint answers,
else host processes. The runtime modules are imported only when chosen, so a
machine without the docker SDK or without an engine can still run the process
runtime.
"""
from __future__ import annotations

import os
from pathlib import Path

from .runtime import Runtime

CHOICES = ("auto", "docker", "process")
SYSTEM_ENDPOINT = "unix:///var/run/docker.sock"


def default_endpoint() -> str:
    """The Docker engine endpoint when no flag names one: DOCKER_HOST, else the system socket."""
    return os.environ.get("DOCKER_HOST") or SYSTEM_ENDPOINT


def engine_answers(endpoint: str) -> bool:
    """True when a Docker engine answers a ping at `endpoint` (False without the docker SDK)."""
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.APIClient(base_url=endpoint, timeout=3, version="auto")
    except Exception:  # no engine there, a bad URL, or one that refuses us
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def choose(name: str, endpoint: str | None = None) -> tuple[str, str | None]:
    """Resolve `auto`: ('docker', endpoint) when its engine answers, else ('process', None)."""
    if name not in CHOICES:
        raise ValueError(f"unknown runtime {name!r} (one of: {', '.join(CHOICES)})")
    if name == "process":
        return name, None
    endpoint = endpoint or default_endpoint()
    if engine_answers(endpoint):
        return "docker", endpoint
    if name == "auto":
        return "process", None
    raise ValueError(f"--runtime=docker: no Docker engine answers at {endpoint} (pass "
                     "--container-runtime-endpoint or set DOCKER_HOST; the lab starts its own "
                     "with `python -m labserver docker up`)")


def make_runtime(name: str, root_dir: str | Path, pod_cidr: str = "127.1.0.0/16",
                 endpoint: str | None = None) -> Runtime:
    """Build the runtime `name` (auto, docker or process) rooted at root_dir."""
    name, endpoint = choose(name, endpoint)
    if name == "docker":
        from .runtime_docker import DockerRuntime
        return DockerRuntime(root_dir, docker_host=endpoint)
    from .runtime_process import ProcessRuntime
    return ProcessRuntime(root_dir, pod_cidr=pod_cidr)
