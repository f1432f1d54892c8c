"""Loopback pod ranges for the tests' process-runtime kubelets, disjoint between xdist workers.

The process runtime gives each pod an address of its own in the kubelet's
--pod-cidr, and nginx binds <podIP>:80 there. Two kubelets on one machine with
overlapping ranges could hand out the same address (each root dir keeps its own
allocations), so under `pytest -n N` every worker gets a block of its own:
node n of worker gwK uses 127.(16*(K+1)+n).0.0/24. Alone (no xdist) node n uses
127.n.0.0/24, the range the tests always used. The whole-lab tests (the `lab`
fixture and the notebooks) keep the lab's own ranges 127.1.0.0/16, 127.2.0.0/16 ...,
which no worker's block reaches; in a /16 a random start keeps them apart.
"""
from __future__ import annotations

import os

NODES_PER_WORKER = 15


def worker_index() -> int | None:
    """This xdist worker's number (gw3 -> 3), or None when the tests run in one process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") else None


def pod_cidr(node: int = 1) -> str:
    """The --pod-cidr for this test's node number `node` (1, 2, ...), on this worker."""
    if not 1 <= node <= NODES_PER_WORKER:
        raise ValueError(f"node {node}: the tests give ranges to nodes 1..{NODES_PER_WORKER}")
    worker = worker_index()
    second = node if worker is None else (NODES_PER_WORKER + 1) * (worker + 1) + node
    if second > 254:
        raise ValueError(f"xdist worker gw{worker} has no loopback block left: run fewer workers")
    return f"127.{second}.0.0/24"
