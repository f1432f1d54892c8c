"""`python -m labserver apiserver`: the API server process, with kube-apiserver 1.0's flags.

    python -m labserver apiserver --etcd-servers=http://127.0.0.1:2379 \
        --service-cluster-ip-range=10.0.0.0/16 [--insecure-bind-address=127.0.0.1] [--insecure-port=8080]

It checks its flags, waits a few seconds for etcd (printing progress),
creates the system namespaces, and serves plain HTTP with werkzeug's threaded
server (one thread per connection, so watches do not block requests) until
SIGTERM or Ctrl-C. Every failure to start is one line on stderr and exit 1.
"""
from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
import threading

from werkzeug.serving import make_server

from .serving import KeepAliveHandler

ETCD_WAIT_SECONDS = 8.0


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ValueError(message)


def _parse(argv):
    p = _Parser(prog="python -m labserver apiserver", description="Run the labserver API server.")
    p.add_argument("--etcd-servers", required=True, help="comma-separated etcd client URLs")
    p.add_argument("--service-cluster-ip-range", required=True, help="CIDR for service IPs, e.g. 10.0.0.0/16")
    p.add_argument("--insecure-bind-address", default="127.0.0.1")
    p.add_argument("--insecure-port", type=int, default=8080)
    p.add_argument("-v", "--v", type=int, default=0, help="log level: 1 logs every request")
    return p.parse_args(argv)


def main(argv=None) -> int:
    def fail(message: str) -> int:
        print(f"apiserver: {message}", file=sys.stderr, flush=True)
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
    if not 0 < args.insecure_port < 65536:
        return fail(f"--insecure-port={args.insecure_port} is not a valid port")

    from . import create_app
    from .errors import APIError
    from .storage import bootstrap_namespaces, parse_endpoints
    try:
        servers = [s.strip() for s in args.etcd_servers.split(",") if s.strip()]
        parse_endpoints(servers)
    except ValueError as e:
        return fail(f"--etcd-servers: {e}")
    app = create_app({"ETCD_SERVERS": servers, "SERVICE_CLUSTER_IP_RANGE": args.service_cluster_ip_range})
    storage = app.extensions["labserver.storage"]
    progress = lambda line: print(f"apiserver: {line}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        storage.wait_ready(ETCD_WAIT_SECONDS, progress=progress)
        bootstrap_namespaces(storage)
    except APIError as e:
        storage.close()
        return fail(f"cannot start: {e.message}")
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.v >= 1 else logging.WARNING)
    KeepAliveHandler.verbose = args.v >= 1
    try:
        server = make_server(args.insecure_bind_address, args.insecure_port, app, threaded=True,
                             request_handler=KeepAliveHandler)
    except OSError as e:
        storage.close()
        return fail(f"cannot listen on {args.insecure_bind_address}:{args.insecure_port}: {e.strerror}")
    server.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"apiserver: serving on http://{args.insecure_bind_address}:{args.insecure_port} "
          f"(etcd: {storage.urls})", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        storage.close()
    print("apiserver: stopped", file=sys.stderr, flush=True)
    return 0
