"""`python -m labserver kubelet`: the kubelet process and its own small HTTP server.

Flags follow the 2015 kubelet the post ran (`--api-servers`,
`--hostname-override`) plus today's names where they exist
(`--node-status-update-frequency`, `--node-ip`). The kubelet's own server
answers what the API server and a curious reader ask it, like the real
kubelet's port 10250:

  GET /healthz                                   -> ok
  GET /pods                                      -> the PodList it runs
  GET /containerLogs/<ns>/<pod>/<container>      -> the container's logs (?tailLines=N, ?previous=true)

SIGTERM stops the kubelet and leaves its pods running, as the real one does.
"""
from __future__ import annotations

import argparse
import logging
import re
import signal
import socket
import sys
import threading
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from .client import APIClient, parse_servers
from .http_api import KubeletAPI
from .kubelet import Kubelet, KubeletConfig
from .node_status import NodeConfig, default_node_name
from .runtimes import CHOICES, choose, make_runtime
from .sync import SyncConfig

# How often the HTTP server's loop checks whether it is asked to stop: a stop
# waits up to this long (socketserver's default, 0.5 s, was most of every
# kubelet stop). The check is one poll() per interval, nothing more.
HTTP_SHUTDOWN_POLL = 0.05

log = logging.getLogger("kubelet.server")


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exits 2."""

    def error(self, message):
        self.exit(2, f"kubelet: {message} (see --help)\n")


def duration(text: str) -> float:
    """'10s', '5m', '100ms', '1h' or plain seconds -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 10s, 500ms, 5m)")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def _cidr(text: str) -> str:
    import ipaddress
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a CIDR: {text!r} (e.g. 127.1.0.0/16)") from None


def _ip(text: str) -> str:
    import ipaddress
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}")
    return port


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="python -m labserver kubelet",
                       description="Register this machine as a node and run the pods bound to it.")
    p.add_argument("--api-servers", required=True,
                   help="API server(s): host:port or http://host:port, comma-separated")
    p.add_argument("--hostname-override", help="node name (default: the hostname, lowercased)")
    p.add_argument("--runtime", default="auto", choices=CHOICES,
                   help="docker, process, or auto (docker when an engine answers)")
    p.add_argument("--container-runtime-endpoint", default=None,
                   help="the Docker engine to use, e.g. unix:///var/run/docker.sock "
                        "(default: DOCKER_HOST, else that system socket)")
    p.add_argument("--root-dir", default="kubelet-data",
                   help="kubelet state (volumes, logs, pod sandboxes); default ./kubelet-data")
    p.add_argument("--address", default="127.0.0.1", type=_ip, help="address of the kubelet's own server")
    p.add_argument("--port", default=10250, type=_port, help="port of the kubelet's own server")
    p.add_argument("--node-ip", default="127.0.0.1", type=_ip, help="the node's InternalIP")
    p.add_argument("--pod-cidr", default="127.1.0.0/16", type=_cidr, help="pod addresses (process runtime)")
    p.add_argument("--restart-backoff", default="10s", type=duration,
                   help="first CrashLoopBackOff delay; doubles up to --max-restart-backoff")
    p.add_argument("--max-restart-backoff", default="5m", type=duration)
    p.add_argument("--node-status-update-frequency", default="10s", type=duration,
                   help="how often to check whether the node status changed")
    p.add_argument("--node-status-report-frequency", default="5m", type=duration,
                   help="write the node status at least this often")
    p.add_argument("--node-lease-renew-interval", default="10s", type=duration)
    p.add_argument("--sync-frequency", default="10s", type=duration, help="re-sync a quiet pod this often")
    p.add_argument("--v", default=0, type=int, help="log verbosity (0 or more)")
    return p


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's request handler, logging requests at debug level instead of to stderr."""

    def log_request(self, code="-", size="-"):
        log.debug("%s %s %s", self.address_string(), self.requestline, code)

    def log(self, type, message, *args):  # noqa: A002 (werkzeug's signature)
        log.debug(message, *args)


def make_http_server(kubelet: Kubelet, address: str, port: int):
    """The kubelet's own server (http_api.KubeletAPI) on address:port; OSError if it cannot listen."""
    sock = socket.create_server((address, port), reuse_port=False)
    try:
        return make_server(address, sock.getsockname()[1], KubeletAPI(kubelet), threaded=True,
                           request_handler=_QuietHandler, fd=sock.detach())
    except BaseException:
        sock.close()
        raise


def pod_cidr_taken(client: APIClient, name: str, cidr: str) -> str | None:
    """The other process-runtime node whose podCIDR overlaps ours, if the API server answers and one does.

    With the process runtime a pod's IP comes from the node's CIDR: two such
    kubelets on one machine sharing a range would hand out the same addresses.
    (A Docker node's podCIDR is unused: the engine gives the addresses.)
    """
    import ipaddress
    try:
        nodes = client.get("/api/v1/nodes").get("items") or []
    except Exception as e:  # no API server yet: registration retries and says so
        log.info("could not check pod CIDR %s against other nodes: %s", cidr, e)
        return None
    ours = ipaddress.ip_network(cidr, strict=False)
    for node in nodes:
        other = (node.get("spec") or {}).get("podCIDR")
        runtime = ((node.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion") or ""
        if (node["metadata"]["name"] != name and other and runtime.startswith("process://")
                and ours.overlaps(ipaddress.ip_network(other, strict=False))):
            return f"{node['metadata']['name']} ({other})"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s: %(message)s", stream=sys.stderr)
    try:
        servers = parse_servers(args.api_servers)
        runtime_name, endpoint = choose(args.runtime, args.container_runtime_endpoint)
    except ValueError as e:
        print(f"kubelet: {e}", file=sys.stderr)
        return 2
    root = Path(args.root_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        runtime = make_runtime(runtime_name, root, args.pod_cidr, endpoint)
    except Exception as e:
        print(f"kubelet: cannot start the {runtime_name} runtime: {getattr(e, 'message', e)}", file=sys.stderr)
        return 1
    name = (args.hostname_override or default_node_name()).lower()
    cfg = KubeletConfig(
        node=NodeConfig(name=name, node_ip=args.node_ip, port=args.port, root_dir=str(root),
                        pod_cidr=args.pod_cidr, lease_interval=args.node_lease_renew_interval,
                        status_interval=args.node_status_update_frequency,
                        status_max_age=args.node_status_report_frequency),
        sync=SyncConfig(node_name=name, node_ip=args.node_ip, restart_backoff=args.restart_backoff,
                        max_backoff=args.max_restart_backoff, resync_interval=args.sync_frequency))
    client = APIClient(servers)
    if runtime.name == "process" and (taken := pod_cidr_taken(client, name, args.pod_cidr)):
        print(f"kubelet: --pod-cidr={args.pod_cidr} overlaps node {taken}: give each kubelet on this machine "
              f"its own range (e.g. --pod-cidr=127.2.0.0/24)", file=sys.stderr)
        runtime.close()
        return 1
    kubelet = Kubelet(cfg, runtime, client)
    try:
        httpd = make_http_server(kubelet, args.address, args.port)
    except OSError as e:
        print(f"kubelet: cannot listen on {args.address}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("kubelet for node %s: runtime %s (%s), root dir %s, API servers %s, serving on %s:%d",
             name, runtime.name, runtime.version(), root, ",".join(servers), args.address, args.port)
    threading.Thread(target=httpd.serve_forever, args=(HTTP_SHUTDOWN_POLL,), name="kubelet-http",
                     daemon=True).start()
    kubelet.start()
    while not stop.wait(1.0):
        pass
    log.info("stopping the kubelet; pods keep running")
    kubelet.stop()
    httpd.shutdown()
    httpd.server_close()
    runtime.close()
    return 0
