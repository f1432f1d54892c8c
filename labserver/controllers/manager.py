"""`python -m labserver controller-manager`: the process that runs the controllers (cmd/kube-controller-manager).

    python -m labserver controller-manager --master=http://127.0.0.1:8080 [--kubeconfig=FILE]
                                           [--controllers=*] [--address=127.0.0.1] [--port=10252]
                                           [--node-monitor-grace-period=40s] [--node-monitor-period=5s]

It finds the API server (`--master`, or the current context's server in
`--kubeconfig`; --master wins when both are given, as upstream), checks
that it answers, and runs the controllers until SIGTERM or Ctrl-C. Like the
old kube-controller-manager's insecure port, it answers `GET /healthz` on
--address:--port (`ok` once every controller has read its first list;
--port=0 serves nothing). Any failure to start is one line and exit 1.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..client import APIClient, APIStatusError, APIUnavailable, parse_servers, server_from_kubeconfig
from .deployment import DeploymentController
from .garbagecollector import GarbageCollector
from .namespace import NamespaceController
from .nodelifecycle import NodeLifecycleController
from .replicaset import ReplicaSetController
from .serviceaccount import ServiceAccountController

# Upstream's names for them (kube-controller-manager --controllers).
CONTROLLERS = {"namespace": NamespaceController, "replicaset": ReplicaSetController,
               "deployment": DeploymentController, "garbagecollector": GarbageCollector,
               "nodelifecycle": NodeLifecycleController, "serviceaccount": ServiceAccountController}
USER_AGENT = "kube-controller-manager/v1.37.0-labserver (linux/amd64) labserver"
API_WAIT_SECONDS = 5.0

log = logging.getLogger("controller-manager")


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"controller-manager: {message} (see --help)\n")


def duration(text: str) -> float:
    """`40s`, `500ms`, `2m` or plain seconds, as a float (argparse type)."""
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(suffix):
            text, scale = text[:-len(suffix)], factor
            break
    else:
        scale = 1.0
    try:
        value = float(text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (want e.g. 40s, 500ms)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def chosen_controllers(spec: str) -> list[str]:
    """Upstream's --controllers: `*` (all), `name` (that one too), `-name` (not that one); ValueError if unknown."""
    items = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n.lstrip("-") for n in items if n != "*" and n.lstrip("-") not in CONTROLLERS]
    if unknown:
        raise ValueError(f"unknown controller(s) {', '.join(unknown)}: choose from {', '.join(CONTROLLERS)}")
    disabled = {n[1:] for n in items if n.startswith("-")}
    enabled = set(CONTROLLERS) if "*" in items else {n for n in items if not n.startswith("-")}
    names = [n for n in CONTROLLERS if n in enabled and n not in disabled]
    if not names:
        raise ValueError(f"no controller left to run: choose from {', '.join(CONTROLLERS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="python -m labserver controller-manager",
                       description="Run the controllers: reconcile loops that talk to the API server.")
    p.add_argument("--master", help="the API server's URL, e.g. http://127.0.0.1:8080 (overrides --kubeconfig)")
    p.add_argument("--kubeconfig", help="a kubeconfig file whose current context names the API server")
    p.add_argument("--controllers", default="*",
                   help=f"comma-separated controllers: '*' for all, 'name' to add one, '-name' to leave one out "
                        f"({', '.join(CONTROLLERS)})")
    p.add_argument("--node-monitor-grace-period", type=duration, default=40.0,
                   help="how long a node's heartbeat may stand still before its status becomes Unknown (40s)")
    p.add_argument("--node-monitor-period", type=duration, default=5.0,
                   help="how often the node lifecycle controller looks at the nodes (5s)")
    p.add_argument("--address", default="127.0.0.1", help="address for /healthz")
    p.add_argument("--port", type=int, default=10252, help="port for /healthz (0: none)")
    p.add_argument("--v", type=int, default=0, help="log level: 4 logs every request")
    return p


def _wait_for_api(client: APIClient) -> None:
    deadline = time.monotonic() + API_WAIT_SECONDS
    while True:
        try:
            client.get("/version")
            return
        except APIUnavailable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.25)


def _health_server(args, controllers) -> ThreadingHTTPServer:
    class Health(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            log.debug("%s %s", self.address_string(), fmt % a)

        def do_GET(self):  # noqa: N802
            if self.path.split("?")[0] not in ("/healthz", "/livez", "/readyz"):
                body, code = b"404 page not found\n", 404
            else:
                waiting = [n for n, c in controllers.items() if not c.synced.is_set()]
                body = (b"ok" if not waiting else
                        ("".join(f"[-]{n} has not listed yet\n" for n in waiting) + "healthz check failed").encode())
                code = 200 if not waiting else 500
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((args.address, args.port), Health)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s: %(message)s", stream=sys.stderr)

    def fail(message: str) -> int:
        print(f"controller-manager: {message}", file=sys.stderr, flush=True)
        return 1

    try:
        server = args.master or (server_from_kubeconfig(args.kubeconfig) if args.kubeconfig else None)
        if not server:
            return fail("no API server given: use --master=http://HOST:PORT or --kubeconfig=FILE")
        servers = parse_servers(server)
    except ValueError as e:
        return fail(str(e))
    try:
        names = chosen_controllers(args.controllers)
    except ValueError as e:
        return fail(str(e))
    client = APIClient(servers, user_agent=USER_AGENT)
    try:
        _wait_for_api(client)
    except APIUnavailable as e:
        return fail(f"cannot reach the API server after {API_WAIT_SECONDS:g}s: {e}")
    options = {"node_monitor_grace_period": args.node_monitor_grace_period,
               "node_monitor_period": args.node_monitor_period}
    try:
        controllers = {name: CONTROLLERS[name](client, **options) for name in names}
    except (APIUnavailable, APIStatusError) as e:
        return fail(f"cannot start the controllers: {e}")
    httpd = None
    if args.port:
        try:
            httpd = _health_server(args, controllers)
        except OSError as e:
            return fail(f"cannot listen on {args.address}:{args.port}: {e.strerror or e}")
        # poll for a stop every 0.05 s (socketserver's 0.5 s default was most of a stop)
        threading.Thread(target=httpd.serve_forever, args=(0.05,), name="healthz", daemon=True).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("controller-manager: API server %s; controllers: %s%s", ",".join(servers), ", ".join(names),
             f"; /healthz on {args.address}:{args.port}" if httpd else "")
    for controller in controllers.values():
        controller.run(stop)
    while not stop.wait(1.0):
        pass
    log.info("controller-manager: stopping")
    if httpd:
        httpd.shutdown()
        httpd.server_close()
    return 0
