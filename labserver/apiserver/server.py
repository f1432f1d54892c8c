"""`python -m labserver apiserver`: the API server process, with kube-apiserver 1.0's flags.

    python -m labserver apiserver --etcd-servers=http://127.0.0.1:2379 \
        --service-cluster-ip-range=10.0.0.0/16 [--insecure-bind-address=127.0.0.1] [--insecure-port=8080] \
        [--workers=N] [--etcd-prefix=/registry]

It checks its flags, waits a few seconds for etcd (printing progress), binds
its port, and serves plain HTTP with gunicorn (serving.py) until SIGTERM or
Ctrl-C: one process by default, as the post's kube-apiserver was, or
--workers=N processes on the same socket. Each worker creates the system
namespaces and the `kubernetes` Service if they are missing. Every failure to start is one line on
stderr and exit 1.

etcd is checked here over its plain HTTP `/health` endpoint, not with the
gRPC client: this process forks the workers, and no gRPC channel may cross
a fork (each worker opens its own after it has forked).
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
import time
import urllib.request

ETCD_WAIT_SECONDS = 8.0
LISTEN_BACKLOG = 1024


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ValueError(message)


def _parse(argv):
    p = _Parser(prog="python -m labserver apiserver", description="Run the labserver API server.")
    p.add_argument("--etcd-servers", required=True, help="comma-separated etcd client URLs")
    p.add_argument("--service-cluster-ip-range", required=True, help="CIDR for service IPs, e.g. 10.0.0.0/16")
    p.add_argument("--etcd-prefix", default="/registry", help="the prefix of every key in etcd")
    p.add_argument("--insecure-bind-address", default="127.0.0.1")
    p.add_argument("--insecure-port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1,
                   help="server processes sharing the port (default: 1, as kube-apiserver is one process)")
    p.add_argument("--default-not-ready-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds of the not-ready:NoExecute toleration added to every new pod")
    p.add_argument("--default-unreachable-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds of the unreachable:NoExecute toleration added to every new pod")
    p.add_argument("-v", "--v", type=int, default=0, help="log level: 1 logs every request")
    return p.parse_args(argv)


def _say(line: str) -> None:
    print(f"apiserver: {line}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    def fail(message: str) -> int:
        _say(message)
        return 1

    try:
        args = _parse(argv)
    except ValueError as e:
        return fail(str(e))
    try:
        ipaddress.ip_network(args.service_cluster_ip_range, strict=True)
    except ValueError:
        return fail(f"--service-cluster-ip-range={args.service_cluster_ip_range!r} is not a valid CIDR "
                    f"(e.g. 10.0.0.0/16)")
    from .ipallocator import ServiceRange
    try:
        ServiceRange(args.service_cluster_ip_range)
    except ValueError as e:
        return fail(f"--service-cluster-ip-range: {e}")
    if not 0 < args.insecure_port < 65536:
        return fail(f"--insecure-port={args.insecure_port} is not a valid port")
    if args.workers < 1:
        return fail(f"--workers={args.workers} must be at least 1")
    if not args.etcd_prefix.startswith("/") or args.etcd_prefix.rstrip("/") == "":
        return fail(f"--etcd-prefix={args.etcd_prefix!r} must be a path below / (e.g. /registry)")

    from .storage import parse_endpoints
    try:
        servers = [s.strip() for s in args.etcd_servers.split(",") if s.strip()]
        parse_endpoints(servers)
    except ValueError as e:
        return fail(f"--etcd-servers: {e}")
    urls = ", ".join(servers)
    if not wait_for_etcd(servers, ETCD_WAIT_SECONDS, _say):
        return fail(f"cannot start: etcd at {urls} is unreachable after {ETCD_WAIT_SECONDS:g}s")
    try:
        sock = listen(args.insecure_bind_address, args.insecure_port)
    except OSError as e:
        return fail(f"cannot listen on {args.insecure_bind_address}:{args.insecure_port}: {e.strerror}")

    from .serving import APIServer
    config = {"ETCD_SERVERS": servers, "SERVICE_CLUSTER_IP_RANGE": args.service_cluster_ip_range,
              "ETCD_PREFIX": args.etcd_prefix, "INSECURE_PORT": args.insecure_port,
              "DEFAULT_NOT_READY_TOLERATION_SECONDS": args.default_not_ready_toleration_seconds,
              "DEFAULT_UNREACHABLE_TOLERATION_SECONDS": args.default_unreachable_toleration_seconds}
    workers = f", {args.workers} workers" if args.workers > 1 else ""
    _say(f"serving on http://{args.insecure_bind_address}:{args.insecure_port} (etcd: {urls}{workers})")
    return APIServer(sock.fileno(), args.workers, config, args.v >= 1, _say).run()


def wait_for_etcd(servers: list[str], timeout: float, progress) -> bool:
    """True once any etcd answers healthy on `/health`; False after `timeout` seconds (progress every 2 s)."""
    start = time.monotonic()
    next_report = start + 2
    while True:
        for url in servers:
            try:
                with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=1) as r:
                    if json.loads(r.read()).get("health") == "true":
                        return True
            except (OSError, ValueError):
                pass
        now = time.monotonic()
        if now - start >= timeout:
            return False
        if now >= next_report:
            progress(f"waiting for etcd at {', '.join(servers)}... {now - start:.0f}s")
            next_report = now + 2
        time.sleep(0.2)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket the workers share (raises OSError, e.g. when the port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock
