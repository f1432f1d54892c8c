"""What a GET costs before any Kubernetes work: the stack's floor, beside what the API server spends.

The API server answers a GET of one pod with Python at every step: gunicorn
parses the request, Flask routes it, our handler reads the key from etcd
through pyetcd (gRPC), and the answer goes back through gunicorn. The raw side
of bench_apiserver is one of those steps alone: the pyetcd call. So the ratio
API / raw has a ceiling that no change to our handlers can lift, and this
module measures it, as CPU per request of the serving process, with the same
4 clients as the 4-client rows:

- the API server itself, GETting one pod;
- gunicorn with the API server's own worker (serving.APIWorker), serving a
  WSGI app that answers those same bytes and does nothing else;
- the same bytes from one Flask route (what Flask adds);
- one pyetcd GET of the pod's key, CPU of the calling process.

A process busy on one core answers at most 1000 / (ms per request) GETs a
second; gunicorn's floor plus the etcd call is the most one process could
do with no Kubernetes work at all. Printed beside the rate the GET target
needs (0.5 x the raw rate just measured).

Not a bench module itself (no bench_ prefix): bench_apiserver calls report().
`python floor.py serve bare|flask PORT BODY_FILE` is the stand-in server.
"""
from __future__ import annotations

import http.client
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

CLIENTS = 4
REQUESTS = 2000
ETCD_GETS = 2000


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of every thread of `pid` so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_ms_per_get(pid: int, host: str, port: int, path: str, expected: bytes) -> float:
    """CPU ms of process `pid` per GET of `path`, with CLIENTS keep-alive connections sending REQUESTS."""
    each = REQUESTS // CLIENTS
    conns = [http.client.HTTPConnection(host, port, timeout=30) for _ in range(CLIENTS)]
    errors: list[BaseException] = []

    def work(conn) -> None:
        try:
            for _ in range(each):
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                assert response.status == 200 and body == expected, (response.status, body[:200])
        except BaseException as e:   # reported after the run
            errors.append(e)

    for conn in conns:   # connected (and warm) before the clock
        conn.request("GET", path)
        conn.getresponse().read()
    before = process_cpu_seconds(pid)
    threads = [threading.Thread(target=work, args=(conn,)) for conn in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent = process_cpu_seconds(pid) - before
    for conn in conns:
        conn.close()
    if errors:
        raise errors[0]
    return 1000 * spent / (each * CLIENTS)


def etcd_ms_per_get(host: str, port: int, key: str) -> float:
    """CPU ms of this process per pyetcd GET of `key` (gRPC's own threads included)."""
    import pyetcd
    client = pyetcd.client(host, port)
    try:
        for _ in range(100):
            client.get_response(key)
        before = time.process_time()
        for _ in range(ETCD_GETS):
            assert client.get_response(key).kvs
        return 1000 * (time.process_time() - before) / ETCD_GETS
    finally:
        client.close()


def stand_in_ms_per_get(kind: str, body: bytes, path: str) -> float:
    """Start `python floor.py serve KIND` on a free port, measure it as the API server is, stop it."""
    from labserver.lab.supervise.components import _answers
    from labserver.lab.supervise.procs import free_port, start_process, wait_until_answers
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(body)
        port = free_port()
        proc = start_process([sys.executable, __file__, "serve", kind, str(port), str(body_file)],
                             Path(tmp) / f"{kind}.log", name=f"floor-{kind}")
        try:
            wait_until_answers(proc, lambda: _answers(f"http://127.0.0.1:{port}{path}"),
                               f"the {kind} stand-in server", 30)
            return server_ms_per_get(proc.pid, "127.0.0.1", port, path, body)
        finally:
            proc.stop()


def report(api_pid: int, api_host: str, api_port: int, path: str, etcd, key: str, raw_gets_per_s: float,
           target: float) -> dict:
    """Measure and print the four costs, the one-process ceiling they imply, and the rate the target needs."""
    import requests
    body = requests.get(f"http://{api_host}:{api_port}{path}", timeout=10).content
    api = server_ms_per_get(api_pid, api_host, api_port, path, body)
    bare = stand_in_ms_per_get("bare", body, path)
    flask = stand_in_ms_per_get("flask", body, path)
    etcd_call = etcd_ms_per_get(etcd.host, etcd.port, key)
    ceiling = 1000 / (bare + etcd_call)
    needed = target * raw_gets_per_s
    print(f"CPU per GET of one pod, {CLIENTS} clients (ms of the serving process):", flush=True)
    print(f"  the API server                                  {api:5.2f}", flush=True)
    print(f"  gunicorn + APIWorker, the same bytes, no app    {bare:5.2f}", flush=True)
    print(f"  the same from one Flask route                   {flask:5.2f}", flush=True)
    print(f"  one pyetcd GET of its key (the raw side's op)   {etcd_call:5.2f}", flush=True)
    print(f"  one process at one full core, gunicorn + the etcd call and nothing else: at most "
          f"{ceiling:.0f} GETs/s; the GET target needs {needed:.0f}/s ({target} x raw {raw_gets_per_s:.0f}/s), "
          f"{1000 / needed:.2f} ms per GET for everything",
          flush=True)
    return {"api_ms": round(api, 3), "gunicorn_bare_ms": round(bare, 3), "flask_route_ms": round(flask, 3),
            "pyetcd_get_ms": round(etcd_call, 3), "one_process_ceiling_per_s": round(ceiling),
            "get_target_needs_per_s": round(needed), "get_target_ms_budget": round(1000 / needed, 3)}


def serve(kind: str, port: int, body: bytes) -> int:
    """The stand-in: serving.APIServer's one-process path (APIWorker, the same settings) around `kind`'s app."""
    import socket
    from labserver.apiserver import serving

    class Bare:
        """A WSGI app that answers `body` to everything."""
        extensions: dict = {}

        def __call__(self, environ, start_response):
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]

    if kind == "flask":
        import flask
        app = flask.Flask("floor")
        app.add_url_rule("/api/v1/namespaces/<namespace>/pods/<name>", "get",
                         lambda namespace, name: flask.Response(body, content_type="application/json"))
    else:
        app = Bare()
    app.extensions["labserver.shutdown"] = threading.Event()   # what APIWorker ends watches with

    class StandIn(serving.APIServer):
        def load(self):
            return app

    listener = socket.create_server(("127.0.0.1", port))
    listener.set_inheritable(True)
    return StandIn(listener.fileno(), 1, {}, False, print).run()


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "serve" or sys.argv[2] not in ("bare", "flask"):
        sys.exit("usage: python floor.py serve bare|flask PORT BODY_FILE")
    sys.exit(serve(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]).read_bytes()))
