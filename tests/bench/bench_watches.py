"""Many long-lived watches at once: 500 pod watches open while 50 pods are created.

A watch holds its connection (and, in the API server, a thread) for as long
as it streams, so a server with a small fixed pool of threads stops answering
once watches fill it. Here one etcd and one API server (as a reader starts
it) get WATCHES concurrent watches on one namespace, all opened before the
first create; then CREATES pods are created one after another. Printed:
how long until every watch had seen every create (target: within 2.4 s of
the first create, what the hand-written server this one replaced achieved),
and the create latency meanwhile (p50 / p95; the old server: p50 8 ms).

The watches are read by one thread with a selector (raw sockets, counting
ADDED events per connection), so the client itself stays light.

`python tests/bench/bench_watches.py` runs it alone; tests/bench/run.py calls run().
"""
from __future__ import annotations

import http.client
import json
import os
import selectors
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from labserver.lab.supervise.components import start_apiserver  # noqa: E402
from labserver.lab.supervise.etcd import start_etcd  # noqa: E402
from bodies import pod_body  # noqa: E402

WATCHES = 500
CREATES = 50
TARGET_SECONDS = 2.4
NS = "bench-watches"
ADDED = b'"type":"ADDED"'


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Watches:
    """WATCHES raw watch connections, read by one thread; records when each has seen `expected` ADDEDs."""

    def __init__(self, host: str, port: int, rv: str, expected: int):
        self.expected = expected
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[socket.socket, bytearray] = {}
        self.counts: dict[socket.socket, int] = {}
        self.done_at: dict[socket.socket, float] = {}
        request = (f"GET /api/v1/namespaces/{NS}/pods?watch=true&resourceVersion={rv} HTTP/1.1\r\n"
                   f"Host: {host}:{port}\r\nAccept: application/json\r\n\r\n").encode()
        for _ in range(WATCHES):
            sock = socket.create_connection((host, port), timeout=30)
            sock.sendall(request)
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ)
            self.buffers[sock], self.counts[sock] = bytearray(), 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)

    def wait_open(self, timeout: float = 60) -> None:
        """Until every watch has its response headers (the server took it)."""
        deadline = time.monotonic() + timeout
        pending = set(self.buffers)
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} of {WATCHES} watches got no response headers")
            for key, _ in self.selector.select(0.5):
                sock = key.fileobj
                try:
                    self.buffers[sock] += sock.recv(65536)
                except BlockingIOError:
                    continue
                if b"\r\n\r\n" in self.buffers[sock]:
                    if not self.buffers[sock].startswith(b"HTTP/1.1 200"):
                        raise AssertionError(f"watch refused: {bytes(self.buffers[sock][:200])!r}")
                    pending.discard(sock)
        self.thread.start()

    def _read(self) -> None:
        while not self.stop.is_set() and len(self.done_at) < WATCHES:
            for key, _ in self.selector.select(0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(1 << 18)
                except BlockingIOError:
                    continue
                buf = self.buffers[sock]
                tail = len(buf) - len(ADDED)
                buf += data
                self.counts[sock] += buf.count(ADDED, max(0, tail))
                if self.counts[sock] >= self.expected and sock not in self.done_at:
                    self.done_at[sock] = time.perf_counter()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for sock in self.buffers:
            sock.close()
        self.selector.close()


def run() -> dict:
    load = os.getloadavg()
    print(f"machine load before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-watches-") as tmp:
        etcd = start_etcd(Path(tmp) / "etcd")
        server = None
        watches = None
        try:
            server = start_apiserver(etcd.client_url, Path(tmp) / "apiserver.log")
            url = server.url
            requests.post(url + "/api/v1/namespaces", json={"metadata": {"name": NS}}).raise_for_status()
            rv = requests.get(f"{url}/api/v1/namespaces/{NS}/pods").json()["metadata"]["resourceVersion"]
            host, port = url.split("//")[1].split(":")
            opened = time.perf_counter()
            watches = Watches(host, int(port), rv, CREATES)
            watches.wait_open()
            print(f"{WATCHES} watches open in {time.perf_counter() - opened:.1f} s", flush=True)
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            latencies = []
            first = time.perf_counter()
            for i in range(CREATES):
                start = time.perf_counter()
                conn.request("POST", f"/api/v1/namespaces/{NS}/pods", body=pod_body(f"w-{i}", "n1"),
                             headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                assert response.status == 201, response.status
                latencies.append((time.perf_counter() - start) * 1000)
            conn.close()
            deadline = time.perf_counter() + 30
            while len(watches.done_at) < WATCHES and time.perf_counter() < deadline:
                time.sleep(0.01)
            complete = len(watches.done_at)
            all_seen = (max(watches.done_at.values()) - first) if complete else float("inf")
            p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
            met = complete == WATCHES and all_seen <= TARGET_SECONDS
            print(f"{complete}/{WATCHES} watches saw all {CREATES} creates, the last {all_seen:.2f} s after the "
                  f"first create (target <= {TARGET_SECONDS} s: {'met' if met else 'MISSED'})", flush=True)
            print(f"create latency meanwhile p50 / p95: {p50:.1f} / {p95:.1f} ms", flush=True)
            return {"watches": WATCHES, "creates": CREATES, "watches_complete": complete,
                    "all_seen_s": round(all_seen, 2), "create_p50_ms": round(p50, 1),
                    "create_p95_ms": round(p95, 1), "load_before": [round(x, 2) for x in load],
                    "load_after": [round(x, 2) for x in os.getloadavg()]}
        finally:
            if watches:
                watches.close()
            if server:
                server.stop()
            etcd.stop()


if __name__ == "__main__":
    run()
