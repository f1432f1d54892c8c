"""API server throughput and watch latency against one etcd, beside the raw etcd create rate.

One etcd and one API server process (the same command line a reader runs)
are started in a temp dir. Printed, with the targets of issue 2:

Rates are the median of three runs (the machine is shared).

- raw etcd create rate: create transactions (version == 0 -> put) of a pod's
  JSON through pyetcd, the client library the API server itself uses;
- API pod create rate with 1 client and with 4 concurrent clients
  (target: at least half the raw etcd rate);
- GET rate of one pod;
- LIST of 1,000 pods as JSON and as a Table (target: under 100 ms);
- watch delivery latency, from the start of a POST to the ADDED event
  arriving on an open watch, p50 and p95 (target: p50 under 10 ms).

`python tests/bench/bench_apiserver.py` runs it alone; tests/bench/run.py calls run().
"""
from __future__ import annotations

import http.client
import json
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from labserver.lab.supervise.components import start_apiserver
from labserver.lab.supervise.etcd import start_etcd

PODS = "/api/v1/namespaces/default/pods"          # the 1,000 listed pods
RATE_PODS = "/api/v1/namespaces/bench-rate/pods"  # pods created to measure rates
WATCH_PODS = "/api/v1/namespaces/bench-watch/pods"
REPEATS = 3                                       # rates are the median of this many runs
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
CREATES = 600
GETS = 1000
LIST_SIZE = 1000
LIST_RUNS = 10
WATCH_EVENTS = 200


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"nodeName": "bench-node", "containers": [
                {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}],
                 "volumeMounts": [{"mountPath": "/var/log/nginx", "name": "logs"}]},
                {"name": "log-truncator", "image": "busybox", "command": ["/bin/sh", "-c", "sleep 3600"],
                 "volumeMounts": [{"mountPath": "/logdir", "name": "logs"}]}],
                "volumes": [{"name": "logs", "emptyDir": {}}]}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def raw_etcd_create_rate(etcd, run: int, count: int = CREATES) -> float:
    import pyetcd
    client = pyetcd.client(etcd.host, etcd.port)
    value = json.dumps(pod("x")).encode()
    t = client.transactions
    try:
        start = time.perf_counter()
        for i in range(count):
            key = f"/bench/raw/{run}/{i}"
            ok, _ = client.transaction([t.version(key) == 0], [t.put(key, value)], [])
            assert ok
        return count / (time.perf_counter() - start)
    finally:
        client.close()


def _connection(url: str) -> http.client.HTTPConnection:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=30)


def _post(conn: http.client.HTTPConnection, body: dict, path: str = PODS) -> int:
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


def api_create_rate(url: str, prefix: str, clients: int, count: int = CREATES, path: str = RATE_PODS) -> float:
    """Pods created per second by `clients` keep-alive connections (http.client: little client overhead)."""
    each = count // clients

    def work(worker: int) -> None:
        conn = _connection(url)
        for i in range(each):
            assert _post(conn, pod(f"{prefix}-{worker}-{i}"), path) == 201
        conn.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, range(clients)))
    return each * clients / (time.perf_counter() - start)


def get_rate(url: str, name: str, count: int = GETS) -> float:
    conn = _connection(url)
    start = time.perf_counter()
    for _ in range(count):
        conn.request("GET", f"{PODS}/{name}")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    rate = count / (time.perf_counter() - start)
    conn.close()
    return rate


def list_ms(url: str, accept: str | None) -> float:
    headers = {"Accept": accept} if accept else {}
    times = []
    with requests.Session() as s:
        for _ in range(LIST_RUNS):
            start = time.perf_counter()
            r = s.get(url + PODS, headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            body = r.json()
            assert len(body.get("items", body.get("rows", []))) == LIST_SIZE
    return statistics.median(times)


def watch_latency_ms(url: str, count: int = WATCH_EVENTS) -> tuple[float, float]:
    rv = requests.get(url + WATCH_PODS + "?limit=1").json()["metadata"]["resourceVersion"]
    arrived: dict[str, float] = {}
    conn = _connection(url)
    conn.request("GET", f"{WATCH_PODS}?watch=true&resourceVersion={rv}")
    response = conn.getresponse()

    def read():
        while True:
            line = response.readline()   # one event per line, as soon as it is written
            if not line:
                return
            if line.strip():
                event = json.loads(line)
                arrived[event["object"]["metadata"]["name"]] = time.perf_counter()

    threading.Thread(target=read, daemon=True).start()
    latencies = []
    poster = _connection(url)
    for i in range(count):
        name = f"watched-{i}"
        start = time.perf_counter()
        assert _post(poster, pod(name), WATCH_PODS) == 201
        while name not in arrived:
            time.sleep(0.0002)
            if time.perf_counter() - start > 5:
                raise TimeoutError(f"no watch event for {name}")
        latencies.append((arrived[name] - start) * 1000)
    poster.close()
    conn.sock.shutdown(2)
    return percentile(latencies, 0.5), percentile(latencies, 0.95)


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-apiserver-") as tmp:
        etcd = start_etcd(Path(tmp) / "etcd")
        server = None
        try:
            server = start_apiserver(etcd.client_url, Path(tmp) / "apiserver.log")
            url = server.url
            for ns in ("bench-rate", "bench-watch"):
                requests.post(url + "/api/v1/namespaces", json={"metadata": {"name": ns}}).raise_for_status()
            raw = statistics.median(raw_etcd_create_rate(etcd, run) for run in range(REPEATS))
            print(f"raw etcd create rate (pyetcd txn): {raw:8.0f} /s", flush=True)
            one = statistics.median(api_create_rate(url, f"one{run}", 1, CREATES // 2) for run in range(REPEATS))
            print(f"API pod create rate, 1 client:     {one:8.0f} /s", flush=True)
            four = statistics.median(api_create_rate(url, f"four{run}", 4) for run in range(REPEATS))
            print(f"API pod create rate, 4 clients:    {four:8.0f} /s   (target >= {raw / 2:.0f} /s: "
                  f"{'met' if max(one, four) >= raw / 2 else 'MISSED'})", flush=True)
            api_create_rate(url, "listed", 4, LIST_SIZE, PODS)
            gets = get_rate(url, "listed-0-0")
            print(f"API GET rate:                      {gets:8.0f} /s", flush=True)
            list_json = list_ms(url, None)
            list_table = list_ms(url, TABLE)
            ok = "met" if max(list_json, list_table) < 100 else "MISSED"
            print(f"LIST {LIST_SIZE} pods as JSON:             {list_json:8.1f} ms", flush=True)
            print(f"LIST {LIST_SIZE} pods as Table:            {list_table:8.1f} ms   (target < 100 ms: {ok})",
                  flush=True)
            p50, p95 = watch_latency_ms(url)
            print(f"watch latency p50 / p95:           {p50:8.1f} / {p95:.1f} ms   (target p50 < 10 ms: "
                  f"{'met' if p50 < 10 else 'MISSED'})", flush=True)
            return {"raw_etcd_create_per_s": round(raw), "api_create_per_s_1_client": round(one),
                    "api_create_per_s_4_clients": round(four), "api_get_per_s": round(gets),
                    "list_1000_json_ms": round(list_json, 1), "list_1000_table_ms": round(list_table, 1),
                    "watch_p50_ms": round(p50, 2), "watch_p95_ms": round(p95, 2)}
        finally:
            if server:
                server.stop()
            etcd.stop()


if __name__ == "__main__":
    run()
