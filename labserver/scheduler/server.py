"""`python -m labserver scheduler --master=URL | --kubeconfig=FILE`: the scheduler process.

Flags are kube-scheduler's: `--master` (the API server's address, overrides
the kubeconfig's), `--kubeconfig`, and the old insecure health port
`--port`/`--address` (kube-scheduler served /healthz on 10251 until 1.23;
here it is the only one, plain HTTP on 127.0.0.1):

  GET /healthz   -> ok once the first lists of nodes and pods are in

An API server that does not answer at start is one line on stderr and exit 1;
once running, the informers reconnect by themselves. SIGTERM stops it.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..client import APIClient, APIStatusError, APIUnavailable, parse_servers, server_from_kubeconfig
from .queue import SchedulingQueue
from .scheduler import Scheduler

USER_AGENT = "kube-scheduler/v1.37.0-labserver (linux/amd64) labserver"
log = logging.getLogger("scheduler.server")


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"scheduler: {message} (see --help)\n")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a port: {text!r} (0 turns the health server off)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text.rstrip("s"))
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a duration in seconds: {text!r} (e.g. 1s)")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="python -m labserver scheduler",
                       description="Watch pods with no node and bind each to the node that fits it best.")
    p.add_argument("--master", help="the API server's address (http://host:port); overrides --kubeconfig")
    p.add_argument("--kubeconfig", help="kubeconfig file: the server of its current context")
    p.add_argument("--address", default="127.0.0.1", help="address of the health server")
    p.add_argument("--port", default=10251, type=_port, help="port of the health server (0: none)")
    p.add_argument("--pod-initial-backoff", default=1.0, type=_seconds,
                   help="first retry delay of a pod that did not fit (doubles)")
    p.add_argument("--pod-max-backoff", default=10.0, type=_seconds, help="longest retry delay")
    p.add_argument("--pod-max-in-unschedulable-pods-duration", default=300.0, type=_seconds,
                   help="retry an unschedulable pod after this long even if nothing changed")
    p.add_argument("--v", default=0, type=int, help="log verbosity (0 or more)")
    return p


def make_handler(sched: Scheduler):
    class Handler(BaseHTTPRequestHandler):
        server_version = "kube-scheduler/v1.37.0-labserver"

        def log_message(self, fmt, *args):
            log.debug(fmt, *args)

        def do_GET(self):  # noqa: N802
            if self.path.split("?")[0] in ("/healthz", "/livez", "/readyz"):
                ok = sched.nodes.synced.is_set() and sched.pods.synced.is_set()
                code, body = (200, b"ok") if ok else (500, b"informers not synced")
            else:
                code, body = 404, b"404 page not found"
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s: %(message)s", stream=sys.stderr)
    try:
        if not args.master and not args.kubeconfig:
            raise ValueError("give the API server: --master=http://127.0.0.1:8080 or --kubeconfig=FILE")
        server = args.master or server_from_kubeconfig(args.kubeconfig)
        client = APIClient(parse_servers(server), user_agent=USER_AGENT)
        client.get("/version")
    except ValueError as e:
        print(f"scheduler: {e}", file=sys.stderr)
        return 2
    except (APIUnavailable, APIStatusError) as e:
        print(f"scheduler: {e}", file=sys.stderr)
        return 1
    sched = Scheduler(client, SchedulingQueue(args.pod_initial_backoff, args.pod_max_backoff,
                                              args.pod_max_in_unschedulable_pods_duration))
    httpd = None
    if args.port:
        try:
            httpd = ThreadingHTTPServer((args.address, args.port), make_handler(sched))
        except OSError as e:
            print(f"scheduler: cannot listen on {args.address}:{args.port}: {e.strerror or e}", file=sys.stderr)
            return 1
        httpd.daemon_threads = True
        # poll for a stop every 0.05 s (socketserver's 0.5 s default was most of a stop)
        threading.Thread(target=httpd.serve_forever, args=(0.05,), name="health", daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sched.request_stop())
    log.info("scheduler %s: API server %s, health on %s", "default-scheduler", client.base_url,
             f"{args.address}:{args.port}" if httpd else "(off)")
    sched.start()
    sched.run()
    sched.stop()
    log.info("scheduler stopped (%d pods bound)", sched.scheduled)
    if httpd is not None:
        httpd.shutdown()
        httpd.server_close()
    return 0
