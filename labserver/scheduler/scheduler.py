"""The scheduler's moving parts wired together: informers feed the cache and the queue; one loop schedules.

Pod events sort themselves: a pod with a node is the cache's (it uses
resources on that node); a pod without one, for this scheduler, is the
queue's. Events that may let an unschedulable pod fit (a node added or
changed, a bound pod deleted or finished) move the unschedulable pods back
through back-off to be tried again.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .cache import Cache, is_terminal, pod_key
from ..client import APIClient
from .events import EventRecorder
from ..client import Informer
from .queue import SchedulingQueue
from .schedule_one import schedule_one

log = logging.getLogger("scheduler")
SCHEDULER_NAME = "default-scheduler"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _ours_and_pending(pod: dict) -> bool:
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    return (not spec.get("nodeName") and spec.get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME
            and not meta.get("deletionTimestamp") and not is_terminal(pod))


class Scheduler:
    def __init__(self, client: APIClient, queue: SchedulingQueue | None = None, bind_workers: int = 8):
        self.client = client
        self.cache = Cache()
        self.queue = queue or SchedulingQueue()
        self.events = EventRecorder(client)
        self.binder = ThreadPoolExecutor(bind_workers, thread_name_prefix="bind")
        self.nodes = Informer(client, "/api/v1/nodes", self._nodes_listed, self._node_event)
        self.pods = Informer(client, "/api/v1/pods", self._pods_listed, self._pod_event)
        self.scheduled = 0
        self._stop = threading.Event()

    # -- informer callbacks ------------------------------------------------------------------------
    def _nodes_listed(self, nodes: list[dict]) -> None:
        self.cache.set_nodes(nodes)
        self.queue.move_all()

    def _node_event(self, kind: str, node: dict) -> None:
        if kind == "DELETED":
            self.cache.remove_node(node)
            return
        self.cache.update_node(node)
        self.queue.move_all()

    def _pods_listed(self, pods: list[dict]) -> None:
        self.cache.set_pods(pods)
        for pod in pods:
            if _ours_and_pending(pod):
                self.queue.add(pod)

    def _pod_event(self, kind: str, pod: dict) -> None:
        if kind == "DELETED":
            self.queue.delete(pod)
            if (pod.get("spec") or {}).get("nodeName"):
                self.cache.remove_pod(pod)
                self.queue.move_all()
            return
        if (pod.get("spec") or {}).get("nodeName"):
            self.queue.delete(pod)                    # bound (by us, or by someone naming the node)
            self.cache.update_pod(pod)
            if is_terminal(pod):
                self.queue.move_all()
        elif _ours_and_pending(pod):
            queued = self.queue.latest(pod)
            if queued is not None and _same_request(queued, pod):
                self.queue.update(pod)                # only its status changed (e.g. our condition)
            else:
                self.queue.add(pod)

    # -- outcomes of a cycle ------------------------------------------------------------------------
    def unschedulable(self, pod: dict, message: str, reason: str = "Unschedulable") -> None:
        """Nothing fits: FailedScheduling event, PodScheduled=False, and wait for a cluster event."""
        self.queue.unschedulable(pod)
        self._report_failure(pod, message, reason)

    def failed(self, pod: dict, message: str, reason: str = "SchedulerError") -> None:
        """An error (e.g. the Binding was refused): report it and retry after the back-off."""
        self.queue.error(pod)
        self._report_failure(pod, message, reason)

    def bound(self, pod: dict, host: str) -> None:
        self.scheduled += 1

    def _report_failure(self, pod: dict, message: str, reason: str) -> None:
        self.events.event(pod, "Warning", "FailedScheduling", "Scheduling", message)
        self.binder.submit(self._set_unschedulable_condition, pod, message, reason)

    def _set_unschedulable_condition(self, pod: dict, message: str, reason: str) -> None:
        current = next((c for c in (pod.get("status") or {}).get("conditions") or []
                        if c.get("type") == "PodScheduled"), {})
        if (current.get("status"), current.get("reason"), current.get("message")) == ("False", reason, message):
            return
        meta = pod["metadata"]
        condition = {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                     "lastProbeTime": None,
                     "lastTransitionTime": current.get("lastTransitionTime") if current.get("status") == "False"
                     else _now()}
        try:
            self.client.patch(f"/api/v1/namespaces/{meta.get('namespace', 'default')}/pods/{meta['name']}/status",
                              {"status": {"conditions": [condition]}}, "strategic")
        except Exception as e:
            log.warning("PodScheduled condition of %s not written: %s", pod_key(pod), e)

    # -- the loop --------------------------------------------------------------------------------------
    def start(self) -> None:
        self.nodes.start()
        self.pods.start()

    def wait_for_sync(self, timeout: float) -> bool:
        return self.nodes.synced.wait(timeout) and self.pods.synced.wait(timeout)

    def run(self) -> None:
        """Schedule pods one at a time until stop()."""
        while not self._stop.is_set():
            pod = self.queue.pop(timeout=1.0)
            if pod is None:
                continue
            try:
                schedule_one(self, pod)
            except Exception as e:       # a bug or a malformed pod must not stop the scheduler
                log.exception("scheduling %s failed", pod_key(pod))
                self.failed(pod, f"scheduling failed: {e}")

    def request_stop(self) -> None:
        """Ask run() to return at once (safe from a signal handler: the queue, whose lock the
        interrupted thread may hold, is closed from a thread of its own)."""
        self._stop.set()
        threading.Thread(target=self.queue.close, name="stop", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.nodes.stop()
        self.pods.stop()
        self.queue.close()
        self.binder.shutdown(wait=True)


def _same_request(old: dict, new: dict) -> bool:
    """Whether a pending pod's update leaves what scheduling reads unchanged (only its status moved)."""
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    return old.get("spec") == new.get("spec") and om.get("labels") == nm.get("labels")
