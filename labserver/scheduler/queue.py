"""The pods waiting for a node (upstream's scheduling queue: activeQ, backoffQ, unschedulable pods).

- active: pods to try now, first in first out;
- backoff: pods that failed and wait out their back-off (1 s, doubling to 10 s)
  before going back to active;
- unschedulable: pods nothing fits. They stay until something that could make
  them fit happens (a node added or changed, a pod deleted: `move_all`), then
  go back through back-off; a pod left there for `max_unschedulable` seconds
  is retried anyway.

A cluster event that arrives while a pod is being scheduled counts for it: that
pod goes to back-off instead of waiting for the next event (upstream's
moveRequestCycle), so a node added mid-cycle is never missed.
"""
from __future__ import annotations

import collections
import threading
import time

from .cache import pod_key


class SchedulingQueue:
    def __init__(self, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 max_unschedulable: float = 300.0, clock=time.monotonic):
        self.initial_backoff, self.max_backoff = initial_backoff, max_backoff
        self.max_unschedulable, self.clock = max_unschedulable, clock
        self._cond = threading.Condition()
        self._active: collections.deque[str] = collections.deque()
        self._backoff: dict[str, float] = {}          # key -> when it may be tried again
        self._unschedulable: dict[str, float] = {}    # key -> since when
        self._pods: dict[str, dict] = {}              # key -> latest pod object
        self._attempts: collections.Counter = collections.Counter()
        self._in_flight: dict[str, int] = {}          # key -> move cycle when popped
        self._move_cycle = 0
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._pods)

    def add(self, pod: dict) -> None:
        """A new pending pod, or a pending pod whose spec changed: try it (again) now."""
        key = pod_key(pod)
        with self._cond:
            self._pods[key] = pod
            if key in self._in_flight or key in self._active:
                return
            self._unschedulable.pop(key, None)
            self._backoff.pop(key, None)
            self._active.append(key)
            self._cond.notify()

    def update(self, pod: dict) -> None:
        """Keep the latest object of a queued pod without moving it (a status-only change)."""
        key = pod_key(pod)
        with self._cond:
            if key in self._pods:
                self._pods[key] = pod

    def latest(self, pod: dict) -> dict | None:
        """The queued object of this pod, if it is queued."""
        with self._cond:
            return self._pods.get(pod_key(pod))

    def delete(self, pod: dict) -> None:
        key = pod_key(pod)
        with self._cond:
            self._pods.pop(key, None)
            self._unschedulable.pop(key, None)
            self._backoff.pop(key, None)
            self._attempts.pop(key, None)

    def move_all(self) -> None:
        """Something changed that may let unschedulable pods fit: retry them after their back-off."""
        with self._cond:
            self._move_cycle += 1
            for key in list(self._unschedulable):
                del self._unschedulable[key]
                self._to_backoff(key)
            self._cond.notify()

    def pop(self, timeout: float | None = None) -> dict | None:
        """The next pod to schedule (None after `timeout` or once closed)."""
        deadline = None if timeout is None else self.clock() + timeout
        with self._cond:
            while True:
                self._flush()
                while self._active:
                    key = self._active.popleft()
                    if key in self._pods:
                        self._in_flight[key] = self._move_cycle
                        self._attempts[key] += 1
                        return self._pods[key]
                if self._closed:
                    return None
                wait = self._next_wake()
                if deadline is not None:
                    left = deadline - self.clock()
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)

    def done(self, pod: dict) -> None:
        """The pod was scheduled (or given up on): it leaves the queue."""
        key = pod_key(pod)
        with self._cond:
            self._in_flight.pop(key, None)
            self._pods.pop(key, None)
            self._attempts.pop(key, None)

    def unschedulable(self, pod: dict) -> None:
        """Nothing fits: wait for a cluster event (or back off at once if one came mid-cycle)."""
        key = pod_key(pod)
        with self._cond:
            popped_at = self._in_flight.pop(key, self._move_cycle)
            if key not in self._pods or key in self._active:
                return
            if self._move_cycle > popped_at:
                self._to_backoff(key)
            else:
                self._unschedulable[key] = self.clock()
            self._cond.notify()

    def error(self, pod: dict) -> None:
        """Binding or the API failed: try again after the back-off."""
        key = pod_key(pod)
        with self._cond:
            self._in_flight.pop(key, None)
            if key in self._pods and key not in self._active:
                self._to_backoff(key)
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def pending(self) -> dict[str, int]:
        with self._cond:
            return {"active": len(self._active), "backoff": len(self._backoff),
                    "unschedulable": len(self._unschedulable)}

    # -- inside the lock -----------------------------------------------------------------------
    def _to_backoff(self, key: str) -> None:
        delay = min(self.initial_backoff * 2 ** max(self._attempts[key] - 1, 0), self.max_backoff)
        self._backoff[key] = self.clock() + delay

    def _flush(self) -> None:
        now = self.clock()
        for key, ready in list(self._backoff.items()):
            if ready <= now:
                del self._backoff[key]
                self._active.append(key)
        for key, since in list(self._unschedulable.items()):
            if now - since >= self.max_unschedulable:
                del self._unschedulable[key]
                self._active.append(key)

    def _next_wake(self) -> float | None:
        times = list(self._backoff.values()) + [s + self.max_unschedulable for s in self._unschedulable.values()]
        return max(min(times) - self.clock(), 0.001) if times else None
