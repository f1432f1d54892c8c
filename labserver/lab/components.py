"""Start the lab's own servers in the background and wait until they answer.

Used by the notebooks (through lab/cluster.py) and by the integration tests:
the same command lines a reader would type, `python -m labserver apiserver ...`
and `python -m labserver kubelet ...`, run as child processes.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from .procs import LabError, Process, free_port, start_process, wait_for


@dataclass
class Server:
    """A lab server process and the URL it answers on."""

    process: Process
    url: str

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout)


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    # The children import labserver from this checkout, whatever their cwd.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _wait_http(proc: Process, url: str, what: str, timeout: float, progress) -> None:
    def ready():
        if not proc.alive():
            raise LabError(f"{what} exited: {proc.log_tail(5).strip()}")
        return requests.get(url, timeout=1).status_code == 200

    try:
        wait_for(ready, timeout, what, progress=progress)
    except (TimeoutError, LabError) as e:
        tail = proc.log_tail(10).strip()
        proc.stop()
        raise LabError(f"{e}\n{tail}") from None


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
    _wait_http(proc, f"{url}/readyz", "API server /readyz", timeout, progress)
    return Server(proc, url)


def start_kubelet(api_server: str, root_dir: Path, log_path: Path, hostname: str | None = None,
                  runtime: str = "auto", port: int | None = None, pid_path: Path | None = None,
                  extra_args: list[str] | None = None, timeout: float = 30.0, progress=None) -> Server:
    """Run `python -m labserver kubelet` and wait until its own /healthz answers."""
    port = port or free_port()
    args = [sys.executable, "-m", "labserver", "kubelet", f"--api-servers={api_server}",
            f"--root-dir={root_dir}", f"--runtime={runtime}", f"--port={port}", *(extra_args or [])]
    if hostname:
        args.append(f"--hostname-override={hostname}")
    proc = start_process(args, log_path, pid_path, env=_child_env(), name="kubelet")
    url = f"http://127.0.0.1:{port}"
    _wait_http(proc, f"{url}/healthz", "kubelet /healthz", timeout, progress)
    return Server(proc, url)


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
    args = [sys.executable, "-m", "labserver", component, f"--master={api_server}", f"--port={port}",
            *(extra_args or [])]
    proc = start_process(args, log_path, pid_path, env=_child_env(), name=component)
    url = f"http://127.0.0.1:{port}"
    _wait_http(proc, f"{url}/healthz", f"{component} /healthz", timeout, progress)
    return Server(proc, url)
