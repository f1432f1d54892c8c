"""The API server's request threads: started on demand, and ended again when they have been idle a while.

Why not gunicorn's default (concurrent.futures.ThreadPoolExecutor): its
threads never end. A burst of 200 concurrent clients leaves 200 threads for
the life of the process, and with them what each thread made while the burst
was on: its stack pages, and the Python objects it keeps (its thread state,
frames, locks), scattered through CPython's 1 MiB object arenas, each of which
returns to the OS only once it is entirely empty. Measured with
tests/bench/soak_malformed.py, that alone kept the server ~30% above its
baseline. Here a thread that has waited IDLE_SECONDS without work ends, so
after a burst the server shrinks back to what its steady load needs; glibc is
then asked to give back its free pages (limits.trim_heap).

gunicorn's threaded worker uses only `submit` and `shutdown`, so this is all
the pool offers.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

IDLE_SECONDS = 10.0     # an idle thread ends after this long without a request


class ElasticPool:
    """Up to `max_threads` threads, each started when a request finds none waiting."""

    def __init__(self, max_threads: int, idle_seconds: float = IDLE_SECONDS, on_shrink=None,
                 name: str = "request"):
        self.max_threads, self.idle_seconds, self.on_shrink, self.name = max_threads, idle_seconds, on_shrink, name
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0      # alive
        self._waiting = 0      # blocked in the queue, free to take an item
        self._pending = 0      # items put and not yet taken
        self._started = 0
        self._shut = False

    @property
    def threads(self) -> int:
        return self._threads

    def submit(self, fn, *args, **kwargs) -> Future:
        future: Future = Future()
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new requests after shutdown")
            self._work.put((future, fn, args, kwargs))
            self._pending += 1
            if self._pending > self._waiting and self._threads < self.max_threads:
                self._threads += 1
                self._started += 1
                threading.Thread(target=self._run, name=f"{self.name}-{self._started}").start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Queued requests still run; idle threads end at once."""
        with self._lock:
            self._shut = True
            threads = self._threads
        for _ in range(threads):
            self._work.put(None)
        # Threads are not daemons: the interpreter waits for requests in flight, as it does for
        # ThreadPoolExecutor's; `wait` is accepted for the interface and not needed beyond that.

    def _run(self) -> None:
        while True:
            with self._lock:
                self._waiting += 1
            try:
                item = self._work.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._pending > 0:     # work arrived as the wait ended: take it
                        self._waiting -= 1
                        continue
                    self._waiting -= 1
                    self._threads -= 1
                if self.on_shrink is not None:
                    self.on_shrink()
                return
            with self._lock:
                self._waiting -= 1
                if item is None:              # shutdown
                    self._threads -= 1
                    return
                self._pending -= 1
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as e:    # noqa: BLE001 - handed to the caller through its future
                    future.set_exception(e)
                else:
                    future.set_result(result)
            del item, future, fn, args, kwargs
