"""`python -m labserver apiserver`: the API server process, with kube-apiserver 1.0's flags.

    python -m labserver apiserver --etcd-servers=http://127.0.0.1:2379 \
        --service-cluster-ip-range=10.0.0.0/16 [--insecure-bind-address=127.0.0.1] [--insecure-port=8080] \
        [--workers=N]

It checks its flags, waits a few seconds for etcd (printing progress),
creates the system namespaces and the `kubernetes` Service, and serves
plain HTTP with werkzeug's threaded server (one thread per connection, so
watches do not block requests) until
SIGTERM or Ctrl-C. With --workers=N (default: one per CPU) N processes serve
the same socket, since one process is bound by its GIL (see workers.py);
--workers=1 serves from this one process. Every failure to start is one line
on stderr and exit 1.
"""
from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
import threading

from werkzeug.serving import make_server

from . import workers
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
    p.add_argument("--workers", type=int, default=workers.default_count(),
                   help="server processes sharing the port (default: one per CPU)")
    p.add_argument("--default-not-ready-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds of the not-ready:NoExecute toleration added to every new pod")
    p.add_argument("--default-unreachable-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds of the unreachable:NoExecute toleration added to every new pod")
    p.add_argument("-v", "--v", type=int, default=0, help="log level: 1 logs every request")
    p.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)   # set by workers.run for each worker
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

    from . import DEFAULTS, create_app
    from .errors import APIError
    from .storage import Storage, bootstrap_namespaces, parse_endpoints
    from .strategies.service import bootstrap_kubernetes_service
    try:
        servers = [s.strip() for s in args.etcd_servers.split(",") if s.strip()]
        parse_endpoints(servers)
    except ValueError as e:
        return fail(f"--etcd-servers: {e}")
    config = {"ETCD_SERVERS": servers, "SERVICE_CLUSTER_IP_RANGE": args.service_cluster_ip_range,
              "DEFAULT_NOT_READY_TOLERATION_SECONDS": args.default_not_ready_toleration_seconds,
              "DEFAULT_UNREACHABLE_TOLERATION_SECONDS": args.default_unreachable_toleration_seconds}
    if args.listen_fd is not None:   # a worker: its parent has checked etcd and bound the socket
        return _serve(args, create_app(config), fail)

    # One process: its app's storage does the checks. Several: a short-lived client
    # here, closed before any worker starts (each worker has its own).
    app = create_app(config) if args.workers == 1 else None
    storage = app.extensions["labserver.storage"] if app else Storage(servers, DEFAULTS["ETCD_TIMEOUT"], channels=1)
    try:
        storage.wait_ready(ETCD_WAIT_SECONDS, progress=_say)
        bootstrap_namespaces(storage)
        problem = bootstrap_kubernetes_service(storage, args.service_cluster_ip_range, args.insecure_port)
        if problem:
            _say(problem)
    except APIError as e:
        storage.close()
        return fail(f"cannot start: {e.message}")
    if app:
        return _serve(args, app, fail)
    storage.close()
    try:
        sock = workers.listen(args.insecure_bind_address, args.insecure_port)
    except OSError as e:
        return fail(f"cannot listen on {args.insecure_bind_address}:{args.insecure_port}: {e.strerror}")
    _say(f"serving on http://{args.insecure_bind_address}:{args.insecure_port} with {args.workers} workers "
         f"(etcd: {storage.urls})")
    flags = [f"--etcd-servers={args.etcd_servers}", f"--service-cluster-ip-range={args.service_cluster_ip_range}",
             f"--insecure-bind-address={args.insecure_bind_address}", f"--insecure-port={args.insecure_port}",
             f"--default-not-ready-toleration-seconds={args.default_not_ready_toleration_seconds}",
             f"--default-unreachable-toleration-seconds={args.default_unreachable_toleration_seconds}",
             f"--v={args.v}"]
    code = workers.run(sock, args.workers, flags, _say)
    _say("stopped")
    return code


def _serve(args, app, fail) -> int:
    """Serve `app` until SIGTERM or Ctrl-C: on its own port, or as a worker on the inherited --listen-fd."""
    storage = app.extensions["labserver.storage"]
    worker = args.listen_fd is not None
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.v >= 1 else logging.WARNING)
    KeepAliveHandler.verbose = args.v >= 1
    try:
        if worker:
            server = workers.WorkerServer(args.insecure_bind_address, args.insecure_port, app,
                                          KeepAliveHandler, fd=args.listen_fd)
        else:
            server = make_server(args.insecure_bind_address, args.insecure_port, app, threaded=True,
                                 request_handler=KeepAliveHandler)
    except OSError as e:
        storage.close()
        return fail(f"cannot listen on {args.insecure_bind_address}:{args.insecure_port}: {e.strerror}")
    server.daemon_threads = True

    def stop(signum=None, frame=None):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if worker:
        workers.exit_with_parent(stop)
    else:
        _say(f"serving on http://{args.insecure_bind_address}:{args.insecure_port} (etcd: {storage.urls})")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        storage.close()
    if not worker:
        _say("stopped")
    return 0
