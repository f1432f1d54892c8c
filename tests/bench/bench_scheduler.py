"""Scheduling throughput and create-to-bound latency: 1,000 pending pods over 100 nodes.

One etcd, one API server, 100 Node objects created through the API (Ready,
32 CPUs, 128Gi, 110 pods each; no kubelet runs them, as in the issue), and
`python -m labserver scheduler`. Two measurements, each seen through one
watch of all pods (the clock stops when the watch shows spec.nodeName):

- backlog: 1,000 pods created while no scheduler runs, then the scheduler is
  started: pods bound per second, from the first binding to the last, and the
  wall time from starting the process to the last binding;
- latency: the scheduler running, 1,000 pods created by 4 client threads as
  fast as the API server takes them; per pod, POST sent -> bound.

Target (issue 11): 1,000 pods bound in under 10 s; for scale, Kubernetes' 2015
goal was pod startup under 5 s at p99 (binding is only its first step).

`python tests/bench/bench_scheduler.py` runs it alone; tests/bench/run.py calls run().
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
for where in (REPO, Path(__file__).parent):
    if str(where) not in sys.path:
        sys.path.insert(0, str(where))

from labserver.lab.supervise.components import start_apiserver, start_scheduler  # noqa: E402
from labserver.lab.supervise.etcd import start_etcd  # noqa: E402
from watching import PodEvents  # noqa: E402

NODES, PODS, CLIENTS = 100, 1000, 4
TARGET_SECONDS = 10.0
POD_STARTUP_SLO_P99 = 5.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


class BoundWatch(PodEvents):
    """One watch on all pods; records when each pod is first seen with a node."""

    def __init__(self, api: str):
        self.bound: dict[str, float] = {}
        super().__init__(api, "/api/v1/pods")

    def on_event(self, event: dict, now: float) -> None:
        pod = event.get("object") or {}
        if (pod.get("spec") or {}).get("nodeName"):
            self.bound.setdefault(pod["metadata"]["name"], now)

    def wait_all(self, names: list[str], timeout: float) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: all(n in self.bound for n in names), timeout):
                missing = sum(n not in self.bound for n in names)
                raise TimeoutError(f"{missing} of {len(names)} pods not bound after {timeout:g}s")


def node(name: str) -> dict:
    alloc = {"cpu": "32", "memory": "128Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"capacity": alloc, "allocatable": alloc,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name.split("-")[0]}},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}


def create_pods(api: str, names: list[str]) -> dict[str, float]:
    """POST every pod from CLIENTS threads; returns when each POST was sent."""
    sent: dict[str, float] = {}
    local = threading.local()

    def one(name: str) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        sent[name] = time.monotonic()
        r = session.post(f"{api}/api/v1/namespaces/default/pods", json=pod(name), timeout=30)
        r.raise_for_status()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, names))
    return sent


def run() -> dict:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-scheduler-") as tmp_s:
        tmp = Path(tmp_s)
        etcd = start_etcd(tmp / "etcd-data")
        try:
            api = start_apiserver(etcd.client_url, tmp / "apiserver.log")
            try:
                return _measure(api.url, tmp, load_before)
            finally:
                api.stop()
        finally:
            etcd.stop()


def _measure(api: str, tmp: Path, load_before) -> dict:
    with requests.Session() as s:
        for i in range(NODES):
            s.post(f"{api}/api/v1/nodes", json=node(f"node-{i:03d}"), timeout=10).raise_for_status()
    results: dict = {"nodes": NODES, "pods": PODS}

    # 1. backlog: pods first, then the scheduler
    backlog = [f"backlog-{i:04d}" for i in range(PODS)]
    create_pods(api, backlog)
    watch = BoundWatch(api)
    started = time.monotonic()
    sched = start_scheduler(api, tmp / "scheduler.log")
    try:
        watch.wait_all(backlog, 120)
        times = sorted(watch.bound[n] for n in backlog)
        span = times[-1] - times[0]
        results["backlog_bind_rate_per_s"] = round((PODS - 1) / span, 1) if span else None
        results["backlog_wall_s_from_process_start"] = round(times[-1] - started, 2)
        print(f"backlog: {PODS} pods bound in {span:.2f} s from first to last binding "
              f"({results['backlog_bind_rate_per_s']} /s); {results['backlog_wall_s_from_process_start']} s "
              f"from starting the scheduler process (target: under {TARGET_SECONDS:g} s)", flush=True)

        # 2. latency: the scheduler running, pods arriving as fast as the API server takes them
        fresh = [f"fresh-{i:04d}" for i in range(PODS)]
        t0 = time.monotonic()
        sent = create_pods(api, fresh)
        created_in = time.monotonic() - t0
        watch.wait_all(fresh, 120)
        latencies = [watch.bound[n] - sent[n] for n in fresh]
        last = max(watch.bound[n] for n in fresh) - t0
        results.update({
            "latency_create_rate_per_s": round(PODS / created_in, 1),
            "latency_all_bound_s": round(last, 2),
            "create_to_bound_p50_s": round(statistics.median(latencies), 3),
            "create_to_bound_p99_s": round(percentile(latencies, 99), 3),
            "create_to_bound_max_s": round(max(latencies), 3),
        })
        print(f"latency: {PODS} pods created at {results['latency_create_rate_per_s']} /s, all bound after "
              f"{last:.2f} s; create-to-bound p50 {results['create_to_bound_p50_s']} s, "
              f"p99 {results['create_to_bound_p99_s']} s (2015 pod startup goal: p99 < {POD_STARTUP_SLO_P99:g} s)",
              flush=True)
    finally:
        watch.close()
        sched.stop()
    per_node = requests.get(f"{api}/api/v1/pods", timeout=30).json()["items"]
    counts: dict[str, int] = {}
    for p in per_node:
        counts[p["spec"]["nodeName"]] = counts.get(p["spec"]["nodeName"], 0) + 1
    results["pods_per_node_min_max"] = [min(counts.values()), max(counts.values())]
    results["met"] = results["backlog_wall_s_from_process_start"] < TARGET_SECONDS
    results["loadavg_before_after"] = [round(x, 2) for x in load_before[:1] + os.getloadavg()[:1]]
    print(f"pods per node: {results['pods_per_node_min_max']}; load average (1 min) before/after: "
          f"{results['loadavg_before_after']}", flush=True)
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
