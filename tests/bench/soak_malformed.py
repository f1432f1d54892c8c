"""Soak (issue #13): many concurrent clients sending malformed bodies leave the API server answering,
its memory back within 10% of where it started.

One etcd and one API server process (its workers included) are started in a
temp dir. After a warm-up (so one-time caches are in the baseline), CLIENTS
threads send for SECONDS a mix of bad requests: truncated and 5,000-deep
JSON, NaN, YAML alias bombs, JSON patch copy bombs, 3 MiB+ bodies, wrong
types. Then the server must answer a GET and a create, and the resident
memory of its processes must come back to at most 1.1 x the baseline
(waited for, with progress, up to 60 s). Run by `make fuzz`:

    python tests/bench/soak_malformed.py --seconds 30 --clients 200
"""
from __future__ import annotations

import argparse
import collections
import json
import os
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
from labserver.lab.supervise.procs import wait_for  # noqa: E402

PODS = "/api/v1/namespaces/default/pods"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "victim"},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
ALIASES = ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))).encode()
MALFORMED = [
    ("POST", PODS, b'{"kind": "Pod", "metadata": {"name": ', "application/json"),
    ("POST", PODS, b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json"),
    ("POST", PODS, json.dumps(POD).replace('"busybox"', "NaN").encode(), "application/json"),
    ("POST", PODS, ALIASES, "application/yaml"),
    ("PATCH", PODS + "/victim", json.dumps([{"op": "add", "path": "/metadata/annotations", "value": {"a": "x" * 40}}]
                                           + [{"op": "copy", "from": "/metadata/annotations",
                                               "path": f"/metadata/annotations/a{i}"} for i in range(30)]).encode(),
     "application/json-patch+json"),
    ("POST", PODS, b'{"kind":"Pod","x":"' + b"x" * (3 * 1024 * 1024) + b'"}', "application/json"),
    ("POST", PODS, json.dumps({**POD, "spec": {"containers": [None], "volumes": "x"}}).encode(), "application/json"),
    ("PATCH", PODS + "/victim/status", b'{"status":"x"}', "application/merge-patch+json"),
]


def rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and all its descendants (the API server's workers)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children[ppid].append(int(proc.name))
            except (OSError, IndexError, ValueError):
                continue
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def hammer(url: str, seconds: float, clients: int) -> collections.Counter:
    """`clients` threads sending MALFORMED in turn for `seconds`; answers counted by status code."""
    codes: collections.Counter = collections.Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(offset: int):
        session = requests.Session()
        i = offset
        while time.monotonic() < deadline:
            method, path, body, ctype = MALFORMED[i % len(MALFORMED)]
            i += 1
            try:
                code = session.request(method, url + path, data=body, headers={"Content-Type": ctype},
                                       timeout=60).status_code
            except requests.RequestException as e:
                code = type(e).__name__
            with lock:
                codes[code] += 1
        session.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    return codes


def run(seconds: float = 30.0, clients: int = 200) -> dict:
    with tempfile.TemporaryDirectory(prefix="labserver-soak-") as tmp:
        etcd = start_etcd(Path(tmp) / "etcd")
        server = start_apiserver(etcd.client_url, Path(tmp) / "apiserver.log")
        try:
            assert requests.post(server.url + PODS, json=POD, timeout=30).status_code == 201
            warm = hammer(server.url, min(5.0, seconds), 20)
            before = rss_bytes(server.process.pid)
            print(f"warm-up answers {dict(warm)}; baseline memory {before / 2**20:.1f} MiB", flush=True)
            codes = hammer(server.url, seconds, clients)
            peak = rss_bytes(server.process.pid)
            print(f"{clients} clients x {seconds:g}s: {sum(codes.values())} requests, answers {dict(codes)}; "
                  f"memory right after {peak / 2**20:.1f} MiB", flush=True)
            assert requests.get(server.url + PODS, timeout=30).status_code == 200
            created = requests.post(server.url + PODS, json={**POD, "metadata": {"name": "after"}}, timeout=30)
            assert created.status_code == 201, created.text
            latest = {"rss": peak}

            def back_within_10_percent():
                latest["rss"] = rss_bytes(server.process.pid)
                if latest["rss"] <= 1.1 * before:
                    return latest["rss"]
                raise ValueError(f"{latest['rss'] / 2**20:.1f} MiB, above {1.1 * before / 2**20:.1f} MiB")

            after = wait_for(back_within_10_percent, 60, "API server memory back within 10% of the baseline",
                             interval=1.0,
                             progress=lambda line: print(f"{line} ({latest['rss'] / 2**20:.1f} MiB)", flush=True))
            print(f"memory back to {after / before:.1%} of the baseline, {after / 2**20:.1f} MiB", flush=True)
            bad = {c: n for c, n in codes.items() if isinstance(c, int) and c >= 500 and c not in (503, 504)}
            assert not bad, f"5xx under load: {bad}"
            # Every request gets an answer: a connection the server closes must have said so
            # (`Connection: close` after a 413 whose body it did not read), none is refused or dropped.
            unanswered = {c: n for c, n in codes.items() if not isinstance(c, int)}
            assert not unanswered, f"requests without an answer: {unanswered}"
            return {"clients": clients, "seconds": seconds, "requests": sum(codes.values()),
                    "answers": {str(c): n for c, n in sorted(codes.items(), key=str)},
                    "baseline_mib": round(before / 2**20, 1), "peak_mib": round(peak / 2**20, 1),
                    "after_mib": round(after / 2**20, 1), "load_average": os.getloadavg()}
        finally:
            server.stop()
            etcd.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 30)))
    parser.add_argument("--clients", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(run(args.seconds, args.clients)))
