"""Pod startup latency: POST of the post's pod to Running with 2/2 ready, seen through a watch.

For each runtime present (Docker when an engine answers with the lab's
images; process when the host's nginx and busybox are installed) one etcd,
one API server and one kubelet are started, and 20 pods are created one at a
time: the clock starts before the POST and stops when the watch delivers the
pod Running with both containers ready. Each pod is deleted (and gone) before
the next one starts. Beside it, the floor measured in the same run: a bare
`docker run` of the nginx image to its first served page, and the host's nginx
started directly to its first served page.

`python tests/bench/bench_pod_startup.py` runs it alone; tests/bench/run.py
calls run().
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from labserver.lab.supervise.components import start_apiserver, start_kubelet
from labserver.lab.supervise.etcd import start_etcd
from labserver.lab.notebook.manifests import post_pod
from labserver.lab.supervise.procs import free_port, wait_for
from watching import PodEvents

PODS = 20
FLOOR_RUNS = 5
TARGET_DOCKER_FACTOR = 3.0     # Docker p50 at most 3x the bare `docker run` floor
TARGET_PROCESS_P50 = 0.3       # seconds


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _served(url: str) -> bool:
    try:
        return "Welcome to nginx!" in requests.get(url, timeout=0.5).text
    except requests.RequestException:
        return False


# --- the watch: when did each pod become ready, or vanish ----------------------------------

class PodWatch(PodEvents):
    """One watch on the node's pods; records when each pod was first seen 2/2 Running and deleted."""

    def __init__(self, api: str, node: str):
        self.ready: dict[str, float] = {}
        self.first_status: dict[str, float] = {}
        self.deleted: dict[str, float] = {}
        super().__init__(api, "/api/v1/namespaces/default/pods", fieldSelector=f"spec.nodeName={node}")

    def on_event(self, event: dict, now: float) -> None:
        pod = event.get("object") or {}
        name = (pod.get("metadata") or {}).get("name")
        status = pod.get("status") or {}
        if event.get("type") == "DELETED":
            self.deleted.setdefault(name, now)
        elif status.get("containerStatuses"):
            self.first_status.setdefault(name, now)
        statuses = status.get("containerStatuses") or []
        if status.get("phase") == "Running" and len(statuses) == 2 and all(s.get("ready") for s in statuses):
            self.ready.setdefault(name, now)

    def wait(self, table: dict, name: str, timeout: float) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: name in table, timeout):
                raise TimeoutError(f"pod {name}: not seen in the watch after {timeout:g}s")
            return table[name]


def measure_pods(api: str, node: str, prefix: str, count: int = PODS) -> dict:
    """Create `count` pods one at a time; latency = POST sent -> watch shows 2/2 Running."""
    watch = PodWatch(api, node)
    latencies, pickups = [], []
    try:
        for i in range(count):
            name = f"{prefix}-{i}"
            start = time.monotonic()
            r = requests.post(f"{api}/api/v1/namespaces/default/pods", json=post_pod(name, node), timeout=10)
            r.raise_for_status()
            try:
                ready = watch.wait(watch.ready, name, 60)
            except TimeoutError as e:
                pod = requests.get(f"{api}/api/v1/namespaces/default/pods/{name}", timeout=5).json()
                raise TimeoutError(f"{e}; its status: {json.dumps(pod.get('status'))}") from None
            latencies.append(ready - start)
            pickups.append(watch.first_status.get(name, ready) - start)
            # A short grace: the truncator's shell (PID 1 under Docker, as upstream) ignores SIGTERM,
            # and only startup is measured here.
            requests.delete(f"{api}/api/v1/namespaces/default/pods/{name}", json={"gracePeriodSeconds": 1},
                            timeout=10)
            watch.wait(watch.deleted, name, 60)
    finally:
        watch.close()
    return {"n": len(latencies), "p50": statistics.median(latencies), "p95": percentile(latencies, 95),
            "min": min(latencies), "max": max(latencies),
            "first_status_p50": statistics.median(pickups)}


# --- floors -----------------------------------------------------------------------------------

def docker_floor(runs: int = FLOOR_RUNS) -> float:
    """Median of `docker run -d nginx` (create + start) to nginx's first served page."""
    from labserver.lab.machine.docker_engine import client
    dc = client()
    times = []
    try:
        for _ in range(runs):
            start = time.monotonic()
            c = dc.containers.run("nginx:latest", detach=True)
            try:
                c.reload()
                url = f"http://{c.attrs['NetworkSettings']['IPAddress']}/"
                wait_for(lambda: _served(url), 20, "nginx in a bare container", interval=0.005)
                times.append(time.monotonic() - start)
            finally:
                c.remove(force=True)
    finally:
        dc.close()
    return statistics.median(times)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


def process_floor(runs: int = FLOOR_RUNS) -> float:
    """Median of the host's nginx started directly (foreground) to its first served page."""
    binary = nginx_binary()
    page_root = next(p for p in ("/var/www/html", "/usr/share/nginx/html") if os.path.isdir(p))
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        for i in range(runs):
            port = free_port()
            prefix = Path(tmp) / str(i)
            (prefix / "logs").mkdir(parents=True)
            conf = prefix / "nginx.conf"
            conf.write_text(
                f"pid {prefix}/nginx.pid; error_log {prefix}/logs/error.log;\n"
                "events {}\n"
                f"http {{ access_log {prefix}/logs/access.log; client_body_temp_path {prefix}/body;\n"
                f"  proxy_temp_path {prefix}/proxy; fastcgi_temp_path {prefix}/fastcgi;\n"
                f"  uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;\n"
                f"  server {{ listen 127.0.0.1:{port}; root {page_root};\n"
                "    index index.html index.htm index.nginx-debian.html; } }\n")
            start = time.monotonic()
            proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_for(lambda: _served(f"http://127.0.0.1:{port}/"), 10, "nginx", interval=0.002)
                times.append(time.monotonic() - start)
            finally:
                proc.terminate()
                proc.wait(10)
    return statistics.median(times)


# --- runtimes present -------------------------------------------------------------------------

def runtimes_present() -> dict[str, str]:
    """{runtime: why it is skipped, or ''} for docker and process."""
    found = {}
    from labserver.lab.machine.docker_engine import docker_host
    if not docker_host():
        found["docker"] = "no Docker engine answers (make docker-up images)"
    else:
        from labserver.lab.machine.docker_engine import client
        from labserver.lab.machine.images import BUSYBOX, NGINX, image_present
        dc = client()
        missing = [i for i in (NGINX, BUSYBOX) if not image_present(dc, i)]
        dc.close()
        found["docker"] = f"images missing: {', '.join(missing)} (make images)" if missing else ""
    needs = [p for p in ("busybox",) if not shutil.which(p)] + ([] if nginx_binary() else ["nginx"])
    found["process"] = f"host programs missing: {', '.join(needs)} (make system-deps)" if needs else ""
    return found


def bench_runtime(runtime: str, api: str, tmp: Path) -> dict:
    node = f"bench-{runtime}"
    kubelet = start_kubelet(api, tmp / f"kubelet-{runtime}", tmp / f"kubelet-{runtime}.log",
                            hostname=node, runtime=runtime)
    try:
        wait_for(lambda: requests.get(f"{api}/api/v1/nodes/{node}", timeout=1).ok, 30, f"node {node}")
        measure_pods(api, node, f"warmup-{runtime}", count=1)   # first pod pays one-off costs
        result = measure_pods(api, node, f"bench-{runtime}")
    finally:
        kubelet.stop()
    result["floor"] = docker_floor() if runtime == "docker" else process_floor()
    if runtime == "docker":
        result["target"] = f"p50 <= {TARGET_DOCKER_FACTOR:g} x floor = {TARGET_DOCKER_FACTOR * result['floor']:.3f} s"
        result["met"] = result["p50"] <= TARGET_DOCKER_FACTOR * result["floor"]
    else:
        result["target"] = f"p50 < {TARGET_PROCESS_P50:g} s"
        result["met"] = result["p50"] < TARGET_PROCESS_P50
    return result


def run() -> dict:
    """Pod startup latency per runtime present, with its floor; prints one block per runtime."""
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-pod-startup-") as tmp_s:
        tmp = Path(tmp_s)
        present = runtimes_present()
        etcd = start_etcd(tmp / "etcd-data")
        try:
            api = start_apiserver(etcd.client_url, tmp / "apiserver.log")
            try:
                for runtime, skipped in present.items():
                    if skipped:
                        print(f"pod startup [{runtime}]: skipped: {skipped}")
                        results[runtime] = {"skipped": skipped}
                        continue
                    r = results[runtime] = bench_runtime(runtime, api.url, tmp)
                    print(f"pod startup [{runtime}]: p50 {r['p50']:.3f} s  p95 {r['p95']:.3f} s  "
                          f"(n={r['n']}, min {r['min']:.3f}, max {r['max']:.3f}; first status "
                          f"p50 {r['first_status_p50']:.3f} s)  floor {r['floor']:.3f} s  "
                          f"target {r['target']}: {'met' if r['met'] else 'NOT met'}", flush=True)
            finally:
                api.stop()
        finally:
            etcd.stop()
    return {"pod_startup": results}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
