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
import json
import logging
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .client import APIClient, parse_servers
from .kubelet import Kubelet, KubeletConfig
from .node_status import NodeConfig, default_node_name
from .runtime import RuntimeError_
from .runtimes import CHOICES, choose, make_runtime
from .sync import SyncConfig

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


def make_handler(kubelet: Kubelet):
    """The request handler class for the kubelet's own HTTP server."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "kubelet/v1.37.0-labserver"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # requests go to the debug log, not stderr
            log.debug("%s %s", self.address_string(), fmt % args)

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, obj: dict) -> None:
            self._send(code, json.dumps(obj).encode(), "application/json")

        def _status(self, code: int, reason: str, message: str) -> None:
            self._json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": reason, "details": {}, "code": code})

        def do_GET(self):  # noqa: N802 (http.server's naming)
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            try:
                if url.path in ("/healthz", "/healthz/ping", "/livez", "/readyz"):
                    return self._send(200, b"ok", "text/plain; charset=utf-8")
                if url.path in ("/pods", "/pods/"):
                    return self._json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                                             "items": kubelet.pods()})
                if parts[0] == "containerLogs" and len(parts) == 4:
                    return self._logs(*parts[1:], query)
                self._status(404, "NotFound", f"the kubelet does not serve {url.path}")
            except Exception as e:  # never a traceback to the client
                log.exception("kubelet server: %s failed", self.path)
                self._status(500, "InternalError", f"kubelet: {e}")

        def _logs(self, namespace: str, pod: str, container: str, query: dict) -> None:
            previous = query.get("previous", ["false"])[0] == "true"
            st = kubelet.find_container(namespace, pod, container, previous=previous)
            if st is None:
                what = "previous terminated container" if previous else "container"
                return self._status(404, "NotFound",
                                    f'{what} "{container}" in pod "{pod}" (namespace "{namespace}") not found '
                                    f"on node {kubelet.cfg.node.name}")
            tail = query.get("tailLines", [None])[0]
            try:
                tail_n = int(tail) if tail is not None else None
            except ValueError:
                return self._status(400, "BadRequest", f"tailLines must be an integer, not {tail!r}")
            try:
                data = kubelet.runtime.logs(st.id, tail=tail_n)
            except RuntimeError_ as e:  # the container went away meanwhile
                return self._status(404, "NotFound", e.message)
            self._send(200, data, "text/plain; charset=utf-8")

    return Handler


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
        httpd = ThreadingHTTPServer((args.address, args.port), make_handler(kubelet))
    except OSError as e:
        print(f"kubelet: cannot listen on {args.address}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    httpd.daemon_threads = True
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("kubelet for node %s: runtime %s (%s), root dir %s, API servers %s, serving on %s:%d",
             name, runtime.name, runtime.version(), root, ",".join(servers), args.address, args.port)
    threading.Thread(target=httpd.serve_forever, name="kubelet-http", daemon=True).start()
    kubelet.start()
    while not stop.wait(1.0):
        pass
    log.info("stopping the kubelet; pods keep running")
    kubelet.stop()
    httpd.shutdown()
    httpd.server_close()
    runtime.close()
    return 0
