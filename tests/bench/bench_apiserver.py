"""The API server beside raw etcd, at the same number of concurrent clients, and watch latency.

One etcd and one API server process (the command line a reader runs, so one
worker unless BENCH_WORKERS says otherwise) are started in a temp dir. For 1
and for 4 concurrent clients (threads, each with its own connection) the same
work is done twice, once straight against etcd through pyetcd (the client
the API server itself uses) and once through the API server:

- create: a pod, its body encoded once and only renamed (bodies.py), as
  the raw side writes one pre-encoded value (raw: a create transaction,
  version == 0 -> put, of the JSON the API server stores for such a pod);
- GET of one pod (raw: a range read of its key);
- LIST of 1,000 pods as JSON (raw: a range read of the same 1,000 keys and values).

Printed side by side, with the ratio API / raw for rates (targets with 4
clients: creates >= 0.4, GETs >= 0.5) and API / raw for LIST time (<= 1.5).
Rates are the median of REPEATS runs: the machine is shared. Also the watch
delivery latency, from the start of a POST to the ADDED event on an open watch.
Then what a GET costs the server's process beside the floor of the stack it
runs on (floor.py): gunicorn alone, Flask, one pyetcd call.

Then, unless BENCH_WORKERS already asked for more than one, the 4-client
creates and GETs again against a second API server with --workers=2 (one
process per core of a 2-core machine), with raw etcd measured again beside
it: the same 4 clients, labelled as such, so both figures are on one screen
(BENCH_ALSO_WORKERS=0 skips it, =N picks another number).

`python tests/bench/bench_apiserver.py` runs it alone; tests/bench/run.py calls run().
"""
from __future__ import annotations

import http.client
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from labserver.lab.supervise.components import start_apiserver
from labserver.lab.supervise.etcd import start_etcd
import floor
from bodies import pod_body

WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
ALSO_WORKERS = int(os.environ.get("BENCH_ALSO_WORKERS", "2"))   # 0: no second server
CLIENTS = (1, 4)
REPEATS = 3
CREATES = 400          # per run, split over the clients
GETS = 800
LIST_SIZE = 1000
LISTS = 12
WATCH_EVENTS = 200
TARGETS = {"create": 0.4, "get": 0.5}   # API / raw rate, 4 clients
LIST_TARGET = 1.5                       # API / raw time, 4 clients
LIST_NS, RATE_NS, WATCH_NS = "bench-list", "bench-rate", "bench-watch"


NODE = "bench-node"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def concurrent_rate(clients: int, total: int, setup, op) -> float:
    """Operations per second of `clients` threads doing `total` ops between them.

    `setup(i)` gives client i its connection; `op(conn, i, n)` does its n-th op.
    The clock starts when every client is connected.
    """
    each = total // clients
    conns = [setup(i) for i in range(clients)]
    start_line = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        start_line.wait()
        try:
            for n in range(each):
                op(conns[i], i, n)
        except BaseException as e:  # reported after the run
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start_line.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    for conn in conns:
        conn.close()
    if errors:
        raise errors[0]
    return each * clients / elapsed


# -- the two sides --------------------------------------------------------------------------------

class Raw:
    """pyetcd straight to etcd, on the keys and values the API server wrote."""

    def __init__(self, etcd, value: bytes, get_key: str, list_prefix: str):
        self.etcd, self.value, self.get_key, self.list_prefix = etcd, value, get_key, list_prefix

    def connect(self, i: int):
        import pyetcd
        return pyetcd.client(self.etcd.host, self.etcd.port)

    def create(self, client, i: int, n: int, run: str) -> None:
        t = client.transactions
        key = f"/bench-raw/{run}/{i}/{n}"
        ok, _ = client.transaction([t.version(key) == 0], [t.put(key, self.value)], [])
        assert ok

    def get(self, client, i: int, n: int) -> None:
        assert client.get_response(self.get_key).kvs

    def list(self, client, i: int, n: int) -> None:
        assert len(client.get_prefix_response(self.list_prefix).kvs) == LIST_SIZE


class API:
    """http.client keep-alive connections to the API server (little client overhead)."""

    def __init__(self, url: str):
        self.host, port = url.split("//", 1)[1].rsplit(":", 1)
        self.port = int(port)

    def connect(self, i: int) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=60)

    @staticmethod
    def _call(conn, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        response = conn.getresponse()
        return response.status, response.read()

    def create(self, conn, i: int, n: int, run: str) -> None:
        status, _ = self._call(conn, "POST", f"/api/v1/namespaces/{RATE_NS}/pods",
                               pod_body(f"{run}-{i}-{n}", NODE))
        assert status == 201

    def get(self, conn, i: int, n: int) -> None:
        assert self._call(conn, "GET", f"/api/v1/namespaces/{LIST_NS}/pods/listed-0")[0] == 200

    def list(self, conn, i: int, n: int) -> None:
        status, body = self._call(conn, "GET", f"/api/v1/namespaces/{LIST_NS}/pods")
        assert status == 200 and body.count(b'"kind":"Pod"') == LIST_SIZE


def side_by_side(raw: Raw, api: API, clients_counts=CLIENTS, ops=("create", "get", "list"),
                 label: str = "", tag: str = "") -> dict:
    """Rates of raw etcd and the API server side by side; `label` ends each printed line, `tag` each
    created name (a second server creates names of its own)."""
    rows = {}
    totals = {"create": CREATES, "get": GETS, "list": LISTS}
    for clients in clients_counts:
        for op, total in ((op, totals[op]) for op in ops):
            rates = {}
            for name, side in (("raw", raw), ("api", api)):
                runs = []
                for r in range(REPEATS):
                    if op == "create":
                        run_id = f"c{clients}-{name}-{r}{tag}"

                        def do(conn, i, n, side=side, run_id=run_id):
                            side.create(conn, i, n, run_id)
                    else:
                        do = getattr(side, op)
                    runs.append(concurrent_rate(clients, max(total, clients), side.connect, do))
                rates[name] = statistics.median(runs)
            ratio = rates["api"] / rates["raw"]
            if op == "list":   # time per LIST, and API time / raw time
                raw_ms, api_ms = 1000 * clients / rates["raw"], 1000 * clients / rates["api"]
                ok = "" if clients != 4 else f"  (target <= {LIST_TARGET}: {'met' if 1 / ratio <= LIST_TARGET else 'MISSED'})"
                print(f"{clients} client(s)  LIST {LIST_SIZE}   raw {raw_ms:7.1f} ms   API {api_ms:7.1f} ms   "
                      f"API/raw time {1 / ratio:4.2f}{ok}", flush=True)
                rows[f"list_ms_{clients}"] = {"raw": round(raw_ms, 1), "api": round(api_ms, 1),
                                              "api_over_raw_time": round(1 / ratio, 2)}
            else:
                ok = "" if clients != 4 else \
                    f"  (target >= {TARGETS[op]}: {'met' if ratio >= TARGETS[op] else 'MISSED'})"
                print(f"{clients} client(s)  {op:<9}   raw {rates['raw']:7.0f} /s   API {rates['api']:7.0f} /s   "
                      f"API/raw {ratio:4.2f}{ok}{label}", flush=True)
                rows[f"{op}_per_s_{clients}"] = {"raw": round(rates["raw"]), "api": round(rates["api"]),
                                                 "api_over_raw": round(ratio, 2)}
    return rows


def watch_latency_ms(api: API, url: str, count: int = WATCH_EVENTS) -> tuple[float, float]:
    """From the start of a POST to its ADDED event on an open watch: (p50, p95)."""
    path = f"/api/v1/namespaces/{WATCH_NS}/pods"
    rv = requests.get(url + path + "?limit=1").json()["metadata"]["resourceVersion"]
    arrived: dict[str, float] = {}
    conn = api.connect(0)
    conn.request("GET", f"{path}?watch=true&resourceVersion={rv}")
    response = conn.getresponse()

    def read():
        try:
            while line := response.readline():   # one event per line, as soon as it is written
                if line.strip():
                    arrived[json.loads(line)["object"]["metadata"]["name"]] = time.perf_counter()
        except (OSError, ValueError, http.client.HTTPException):
            pass   # the socket was shut down below: the measurement is over

    threading.Thread(target=read, daemon=True).start()
    latencies = []
    poster = api.connect(1)
    for i in range(count):
        name = f"watched-{i}"
        start = time.perf_counter()
        assert api._call(poster, "POST", path, pod_body(name, NODE))[0] == 201
        while name not in arrived:
            time.sleep(0.0002)
            if time.perf_counter() - start > 5:
                raise TimeoutError(f"no watch event for {name}")
        latencies.append((arrived[name] - start) * 1000)
    poster.close()
    conn.sock.shutdown(2)
    return percentile(latencies, 0.5), percentile(latencies, 0.95)


def run() -> dict:
    load = os.getloadavg()
    print(f"machine load before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min); "
          f"API server --workers={WORKERS}" + (" (one process, what a reader meets)" if WORKERS == 1 else ""),
          flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-apiserver-") as tmp:
        etcd = start_etcd(Path(tmp) / "etcd")
        server = None
        try:
            server = start_apiserver(etcd.client_url, Path(tmp) / "apiserver.log",
                                     extra_args=[f"--workers={WORKERS}"])
            url = server.url
            for ns in (LIST_NS, RATE_NS, WATCH_NS):
                requests.post(url + "/api/v1/namespaces", json={"metadata": {"name": ns}}).raise_for_status()
            api = API(url)
            with requests.Session() as s:
                for i in range(LIST_SIZE):
                    s.post(f"{url}/api/v1/namespaces/{LIST_NS}/pods", data=pod_body(f"listed-{i}", NODE),
                           headers={"Content-Type": "application/json"}).raise_for_status()
            import pyetcd
            probe = pyetcd.client(etcd.host, etcd.port)
            value, _ = probe.get(f"/registry/pods/{LIST_NS}/listed-0")
            probe.close()
            raw = Raw(etcd, value, f"/registry/pods/{LIST_NS}/listed-0", f"/registry/pods/{LIST_NS}/")
            rows = side_by_side(raw, api)
            p50, p95 = watch_latency_ms(api, url)
            print(f"watch latency p50 / p95: {p50:.1f} / {p95:.1f} ms", flush=True)
            rows.update(watch_p50_ms=round(p50, 2), watch_p95_ms=round(p95, 2), workers=WORKERS)
            if WORKERS == 1:   # the floor is one process's
                rows["floor"] = floor.report(server.process.pid, api.host, api.port,
                                             f"/api/v1/namespaces/{LIST_NS}/pods/listed-0", etcd, raw.get_key,
                                             rows["get_per_s_4"]["raw"], TARGETS["get"])
            server.stop()
            server = None
            if WORKERS == 1 and ALSO_WORKERS > 1:
                label = f"   [--workers={ALSO_WORKERS}]"
                print(f"the same 4 clients against an API server with --workers={ALSO_WORKERS} "
                      f"(one process per core; load now {os.getloadavg()[0]:.2f}):", flush=True)
                server = start_apiserver(etcd.client_url, Path(tmp) / "apiserver-more.log",
                                         extra_args=[f"--workers={ALSO_WORKERS}"])
                rows[f"workers_{ALSO_WORKERS}"] = side_by_side(raw, API(server.url), (4,), ("create", "get"),
                                                                    label, tag=f"-w{ALSO_WORKERS}")
            rows.update(load_before=[round(x, 2) for x in load], load_after=[round(x, 2) for x in os.getloadavg()])
            return rows
        finally:
            if server:
                server.stop()
            etcd.stop()


if __name__ == "__main__":
    run()
