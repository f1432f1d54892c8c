"""Pod workers: one thread per pod, the newest update wins, pods never wait on each other."""
from __future__ import annotations

import threading

from labserver.kubelet.pod_workers import KILL, SYNC, PodWorkers
from labserver.kubelet.sync import SyncResult
from labserver.lab.supervise.procs import wait_for


def pod(uid, version):
    return {"metadata": {"uid": uid, "name": uid, "resourceVersion": str(version)}}


def test_latest_update_wins_and_pods_are_independent():
    """While a pod's sync is busy, its updates collapse to the newest; another pod syncs meanwhile."""
    release = threading.Event()
    seen: list[tuple[str, str]] = []

    def sync(p):
        seen.append((p["metadata"]["uid"], p["metadata"]["resourceVersion"]))
        if p["metadata"]["uid"] == "slow" and p["metadata"]["resourceVersion"] == "1":
            release.wait(10)
        return SyncResult(wake_in=60)

    workers = PodWorkers(sync, lambda p: SyncResult(done=True))
    try:
        workers.update(pod("slow", 1))
        wait_for(lambda: ("slow", "1") in seen, 5, "first sync")
        for v in range(2, 6):
            workers.update(pod("slow", v))
        workers.update(pod("fast", 1))
        wait_for(lambda: ("fast", "1") in seen, 5, "the other pod synced while the first is busy")
        release.set()
        wait_for(lambda: ("slow", "5") in seen, 5, "newest version synced")
        assert [v for u, v in seen if u == "slow"] == ["1", "5"]
    finally:
        release.set()
        workers.stop()


def test_kill_is_final_and_finished_pods_stay_finished():
    """After a kill finishes, later updates for that uid start nothing."""
    calls: list[str] = []
    workers = PodWorkers(lambda p: calls.append("sync") or SyncResult(wake_in=60),
                         lambda p: calls.append("kill") or SyncResult(done=True))
    try:
        workers.update(pod("a", 1), SYNC)
        wait_for(lambda: calls == ["sync"], 5, "sync")
        workers.update(pod("a", 2), KILL)
        assert workers.wait_idle("a", 5)
        assert not workers.update(pod("a", 3), SYNC)
        assert calls == ["sync", "kill"] and workers.is_finished("a")
    finally:
        workers.stop()


def test_failing_sync_is_retried():
    """An exception in a sync is logged and the pod is synced again."""
    attempts = []

    def sync(p):
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("boom")
        return SyncResult(wake_in=60)

    workers = PodWorkers(sync, lambda p: SyncResult(done=True), error_backoff=(0.01, 0.05))
    try:
        workers.update(pod("x", 1))
        wait_for(lambda: len(attempts) >= 3, 5, "retries")
    finally:
        workers.stop()
