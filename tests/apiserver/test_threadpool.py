"""The API server's request thread pool: threads on demand, ended when idle (threadpool.py)."""
from __future__ import annotations

import threading

import pytest

from labserver.apiserver.threadpool import ElasticPool
from labserver.lab.supervise.procs import wait_for


def test_results_and_errors_reach_the_future():
    pool = ElasticPool(4, idle_seconds=5)
    try:
        assert pool.submit(lambda a, b: a + b, 2, b=3).result(timeout=5) == 5
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 / 0).result(timeout=5)
    finally:
        pool.shutdown()


def test_threads_start_on_demand_up_to_the_limit_and_end_when_idle():
    shrunk = threading.Event()
    pool = ElasticPool(3, idle_seconds=0.3, on_shrink=shrunk.set)
    release = threading.Event()
    started = threading.Semaphore(0)

    def hold():
        started.release()
        release.wait(10)
        return threading.current_thread().name

    try:
        futures = [pool.submit(hold) for _ in range(5)]
        for _ in range(3):
            assert started.acquire(timeout=5)
        assert pool.threads == 3                       # the limit: two requests wait in the queue
        assert not started.acquire(timeout=0.2)
        release.set()
        names = {f.result(timeout=5) for f in futures}
        assert len(names) == 3                         # the queued ones ran on the same threads
        assert shrunk.wait(5)                          # idle threads end, and say so
        wait_for(lambda: pool.threads == 0, 5, "every idle thread ended")
        assert pool.submit(lambda: "again").result(timeout=5) == "again"   # and start again when needed
    finally:
        release.set()
        pool.shutdown()


def test_shutdown_runs_what_is_queued_and_refuses_more():
    pool = ElasticPool(1, idle_seconds=5)
    gate = threading.Event()
    first = pool.submit(gate.wait, 5)
    second = pool.submit(lambda: "queued")
    pool.shutdown()
    gate.set()
    assert first.result(timeout=5) is True and second.result(timeout=5) == "queued"
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
