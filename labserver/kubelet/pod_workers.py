"""One worker thread per pod; the latest update wins.

Like pkg/kubelet/pod_workers.go: updates for a pod (from the API watch, from
the runtime's event loop, from timers) never queue up behind each other:
each pod has one slot holding its newest version, and one thread that syncs
whatever is in the slot, so a slow pod (an image pull, a 30 s grace period)
never delays another pod, and a burst of watch events costs one sync.

A worker ends when its sync says the pod is done (deleted and cleaned up);
its uid is remembered so late events for it start nothing.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Callable

from .sync import SyncResult

log = logging.getLogger("kubelet.workers")

SYNC, KILL = "sync", "kill"


class _Worker:
    def __init__(self, uid: str, pod: dict, kind: str):
        self.uid = uid
        self.pod, self.kind = pod, kind
        self.pending = True
        self.thread: threading.Thread | None = None


class PodWorkers:
    """Routes pod updates to per-pod threads running `sync(pod)` or `kill(pod)`."""

    def __init__(self, sync: Callable[[dict], SyncResult], kill: Callable[[dict], SyncResult],
                 resync_interval: float = 10.0, error_backoff: tuple = (0.5, 10.0)):
        self._sync, self._kill = sync, kill
        self.resync_interval = resync_interval
        self.error_backoff = error_backoff
        self._workers: dict[str, _Worker] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._cond = threading.Condition()
        self._stopping = False

    def update(self, pod: dict, kind: str = SYNC, wake: bool = True) -> bool:
        """Hand the newest version of a pod to its worker (started if needed); False if ignored.

        wake=False only records the newer object (its next sync will use it).
        """
        uid = pod["metadata"]["uid"]
        with self._cond:
            if self._stopping or uid in self._finished:
                return False
            worker = self._workers.get(uid)
            if worker is None:
                worker = self._workers[uid] = _Worker(uid, pod, kind)
                worker.thread = threading.Thread(target=self._run, args=(worker,),
                                                 name=f"pod-{pod['metadata'].get('name')}", daemon=True)
                worker.thread.start()
                return True
            if worker.kind == KILL and kind == SYNC:
                return False  # a kill is final
            worker.pod, worker.kind = pod, kind
            if wake:
                worker.pending = True
                self._cond.notify_all()
            return True

    def wake(self, uid: str) -> None:
        """Sync the pod again now (its containers changed)."""
        with self._cond:
            worker = self._workers.get(uid)
            if worker is not None:
                worker.pending = True
                self._cond.notify_all()

    def pods(self) -> dict[str, dict]:
        """uid -> newest pod object of every pod with a worker."""
        with self._cond:
            return {uid: w.pod for uid, w in self._workers.items()}

    def is_finished(self, uid: str) -> bool:
        with self._cond:
            return uid in self._finished

    def _run(self, worker: _Worker) -> None:
        delay = self.error_backoff[0]
        wake_at = 0.0
        while True:
            with self._cond:
                while not worker.pending and not self._stopping:
                    left = wake_at - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._stopping:
                    return
                pod, kind = worker.pod, worker.kind
                worker.pending = False
            try:
                result = (self._kill if kind == KILL else self._sync)(pod)
                delay = self.error_backoff[0]
            except Exception:
                log.exception("syncing pod %s failed; retrying in %.1fs", pod["metadata"].get("name"), delay)
                result = SyncResult(wake_in=delay)
                delay = min(delay * 2, self.error_backoff[1])
            if result.done:
                with self._cond:
                    if worker.pending and worker.kind == SYNC and kind == SYNC:
                        continue  # a newer version arrived meanwhile: look again
                    self._workers.pop(worker.uid, None)
                    self._finished[worker.uid] = None
                    while len(self._finished) > 10000:
                        self._finished.popitem(last=False)
                    self._cond.notify_all()
                return
            wake_at = time.monotonic() + (result.wake_in if result.wake_in is not None else self.resync_interval)

    def wait_idle(self, uid: str, timeout: float) -> bool:
        """Wait until the pod's worker has ended (for tests); True if it did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while uid in self._workers:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop all workers (pods keep running in the runtime)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            threads = [w.thread for w in self._workers.values() if w.thread]
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
