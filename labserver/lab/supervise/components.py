"""Start the lab's own servers in the background and wait until they answer.

Used by the notebooks (through `Lab`) and by the integration tests: the same
command lines a reader would type, `python -m labserver apiserver ...` and
`python -m labserver kubelet ...`, run as child processes. The lab makes every
decision here once - which container runtime and which Docker engine, the node
name, the ports - and passes it to the component as a flag; the component
does not decide again. The children import `labserver` from the editable
install, like any other package: nothing about paths is passed to them.
"""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import requests

from ..machine.docker_engine import docker_host
from .procs import LabError, Server, free_port, start_process, wait_until_answers

RUNTIMES = ("auto", "docker", "process")


def choose_runtime(requested: str | None = None) -> tuple[str, str, str | None]:
    """(runtime, why, Docker endpoint) from `requested` or LAB_RUNTIME; auto = Docker when an engine answers."""
    requested = (requested or os.environ.get("LAB_RUNTIME") or "auto").strip().lower()
    if requested not in RUNTIMES:
        raise LabError(f"LAB_RUNTIME={requested!r}: use process, docker or auto")
    if requested == "process":
        return "process", "LAB_RUNTIME=process: pods run as host processes", None
    host = docker_host()
    if requested == "docker" and not host:
        raise LabError("LAB_RUNTIME=docker but no Docker engine answers: start the lab's own with "
                       "`make docker-up images` (or set DOCKER_HOST)")
    if host:
        how = "LAB_RUNTIME=docker" if requested == "docker" else "a Docker engine answers"
        return "docker", f"{how}: pods run as Docker containers", host
    return "process", "no Docker engine answers: pods run as host processes", None


def default_node_name() -> str:
    """The node name the lab gives its kubelet: this machine's hostname, lowercased (as the post's)."""
    return socket.gethostname().lower()


def _child_env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def _answers(url: str) -> bool:
    return requests.get(url, timeout=1).status_code == 200


def start_apiserver(etcd_servers: str, log_path: Path, port: int | None = None,
                    pid_path: Path | None = None, extra_args: list[str] | None = None,
                    timeout: float = 30.0, progress=None) -> Server:
    """Run `python -m labserver apiserver` on 127.0.0.1 and wait for /readyz."""
    port = port or free_port()
    args = [sys.executable, "-m", "labserver", "apiserver",
            f"--etcd-servers={etcd_servers}", "--service-cluster-ip-range=10.0.0.0/16",
            f"--insecure-port={port}", *(extra_args or [])]
    proc = start_process(args, log_path, pid_path, env=_child_env(), name="apiserver")
    url = f"http://127.0.0.1:{port}"
    wait_until_answers(proc, lambda: _answers(f"{url}/readyz"), "API server /readyz", timeout, progress)
    return Server("apiserver", proc, url, {"etcd-servers": etcd_servers, "insecure-port": port})


def start_kubelet(api_server: str, root_dir: Path, log_path: Path, hostname: str | None = None,
                  runtime: str = "auto", port: int | None = None, pid_path: Path | None = None,
                  extra_args: list[str] | None = None, timeout: float = 30.0, progress=None,
                  endpoint: str | None = None) -> Server:
    """Run `python -m labserver kubelet` with every decision as a flag; wait for its /healthz.

    `runtime` auto is resolved here (Docker when an engine answers), and the
    engine is passed as --container-runtime-endpoint; the node name is
    `hostname` or this machine's. The handle's `flags` say what was passed.
    """
    port = port or free_port()
    runtime, _, found = choose_runtime(runtime)
    endpoint = (endpoint or found) if runtime == "docker" else None
    node = (hostname or default_node_name()).lower()
    flags = {"api-servers": api_server, "root-dir": str(root_dir), "runtime": runtime, "port": port,
             "hostname-override": node}
    if endpoint:
        flags["container-runtime-endpoint"] = endpoint
    args = [sys.executable, "-m", "labserver", "kubelet", *(f"--{k}={v}" for k, v in flags.items()),
            *(extra_args or [])]
    proc = start_process(args, log_path, pid_path, env=_child_env(), name="kubelet")
    url = f"http://127.0.0.1:{port}"
    wait_until_answers(proc, lambda: _answers(f"{url}/healthz"), "kubelet /healthz", timeout, progress)
    return Server("kubelet", proc, url, flags)


def start_controller_manager(api_server: str, log_path: Path, **kwargs) -> Server:
    """Run `python -m labserver controller-manager` and wait until its /healthz answers ok."""
    return _start_control_loop("controller-manager", api_server, log_path, **kwargs)


def start_scheduler(api_server: str, log_path: Path, **kwargs) -> Server:
    """Run `python -m labserver scheduler` and wait until its /healthz answers (informers synced)."""
    return _start_control_loop("scheduler", api_server, log_path, **kwargs)


def _start_control_loop(component: str, api_server: str, log_path: Path, port: int | None = None,
                        pid_path: Path | None = None, extra_args: list[str] | None = None,
                        timeout: float = 30.0, progress=None) -> Server:
    """A component that watches the API server (`--master=`) and serves /healthz on `port`."""
    port = port or free_port()
    flags = {"master": api_server, "port": port}
    args = [sys.executable, "-m", "labserver", component, *(f"--{k}={v}" for k, v in flags.items()),
            *(extra_args or [])]
    proc = start_process(args, log_path, pid_path, env=_child_env(), name=component)
    url = f"http://127.0.0.1:{port}"
    wait_until_answers(proc, lambda: _answers(f"{url}/healthz"), f"{component} /healthz", timeout, progress)
    return Server(component, proc, url, flags)
