"""Nothing lost under concurrency, against the real server process and etcd."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from api_testing import pod
from labserver.lab.supervise.procs import wait_for

PODS = "/api/v1/namespaces/default/pods"
CLIENTS, EACH = 8, 25   # 8 racing clients are what matters; 25 rounds each still conflict often


def _collect(url: str, events: list, ready: threading.Event, stop: threading.Event) -> None:
    with requests.get(url, stream=True, timeout=120) as r:
        ready.set()
        try:
            for line in r.iter_lines():
                if line:
                    events.append(json.loads(line))
                if stop.is_set():
                    return
        except requests.RequestException:  # the server stopped at the end of the test
            return


def test_concurrent_updates_and_creates_lose_nothing(api):
    """8x25 read-modify-write increments end at 200; 8x25 creates list 200 distinct RVs; a watcher saw all."""
    base = api.base_url
    start_rv = api.post(PODS, json={**pod("counter"), "metadata": {"name": "counter",
                                                                    "annotations": {"count": "0"}}}).json()
    events: list[dict] = []
    ready, stop = threading.Event(), threading.Event()
    url = f"{base}{PODS}?watch=true&resourceVersion={start_rv['metadata']['resourceVersion']}"
    watcher = threading.Thread(target=_collect, args=(url, events, ready, stop), daemon=True)
    watcher.start()
    assert ready.wait(10)

    def increment(worker: int) -> int:
        conflicts = 0
        with requests.Session() as s:
            for _ in range(EACH):
                while True:
                    current = s.get(f"{base}{PODS}/counter", timeout=30).json()
                    current["metadata"]["annotations"]["count"] = str(int(current["metadata"]["annotations"]["count"]) + 1)
                    r = s.put(f"{base}{PODS}/counter", json=current, timeout=30)
                    if r.status_code == 200:
                        break
                    assert r.status_code == 409 and r.json()["reason"] == "Conflict", r.text
                    conflicts += 1
        return conflicts

    def create(worker: int) -> None:
        with requests.Session() as s:
            for i in range(EACH):
                r = s.post(f"{base}{PODS}", json=pod(f"w{worker}-{i}"), timeout=30)
                assert r.status_code == 201, r.text

    with ThreadPoolExecutor(CLIENTS * 2) as pool:
        conflicts = sum(pool.map(increment, range(CLIENTS)))
        list(pool.map(create, range(CLIENTS)))
    final = api.get(PODS + "/counter").json()
    assert final["metadata"]["annotations"]["count"] == str(CLIENTS * EACH)
    assert conflicts > 0   # the clients really raced
    items = [p for p in api.get(PODS).json()["items"] if p["metadata"]["name"] != "counter"]
    assert len(items) == CLIENTS * EACH
    assert len({p["metadata"]["resourceVersion"] for p in items}) == CLIENTS * EACH

    wait_for(lambda: len(events) >= 2 * CLIENTS * EACH, 30, "every change on the watch")
    stop.set()
    modified = [e for e in events if e["type"] == "MODIFIED"]
    added = {e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"}
    assert [e["object"]["metadata"]["annotations"]["count"] for e in modified] == \
        [str(i) for i in range(1, CLIENTS * EACH + 1)]
    assert added == {p["metadata"]["name"] for p in items}


def test_concurrent_patches_are_retried_on_the_server(api):
    """Patches without a resourceVersion never fail with 409: the server re-reads and re-applies them."""
    base = api.base_url
    api.post(PODS, json=pod("patched"))

    def add_labels(worker: int) -> list[int]:
        codes = []
        with requests.Session() as s:
            for i in range(20):
                r = s.patch(f"{base}{PODS}/patched", json={"metadata": {"labels": {f"w{worker}-{i}": "x"}}},
                            headers={"Content-Type": "application/merge-patch+json"}, timeout=30)
                codes.append(r.status_code)
        return codes

    with ThreadPoolExecutor(4) as pool:
        codes = [c for batch in pool.map(add_labels, range(4)) for c in batch]
    assert set(codes) == {200}
    labels = api.get(PODS + "/patched").json()["metadata"]["labels"]
    assert len(labels) == 80
