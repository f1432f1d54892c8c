"""The kubelet itself: wires node status, the pod source, pod workers and the runtime together.

Like pkg/kubelet/kubelet.go's Run: register the node and start heartbeats,
start the pod source (list + watch of this node's pods), route every pod to
its worker, and relist the runtime every second (the PLEG,
pkg/kubelet/pleg/generic.go) so a container that dies wakes its pod's worker.
After the first list, whatever the runtime holds for pods the API server does
not know is removed; everything it holds for known pods is adopted.

Stopping the kubelet stops these threads only: pods keep running.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from .client import APIClient
from .config import PodSource, needs_sync
from .events import EventRecorder
from .node_status import NodeConfig, NodeStatusManager
from .pod_workers import KILL, SYNC, PodWorkers
from .runtime import ContainerState, PodRef, Runtime
from .status_manager import StatusManager
from .sync import PodSyncer, SyncConfig

log = logging.getLogger("kubelet")


@dataclass
class KubeletConfig:
    node: NodeConfig
    sync: SyncConfig
    relist_period: float = 1.0                     # PLEG: look at the runtime this often
    watch_backoff: tuple = field(default=(0.1, 5.0))


def orphan_pod(ref: PodRef) -> dict:
    """A minimal pod object for something the runtime holds that no API pod matches."""
    return {"metadata": {"namespace": ref.namespace, "name": ref.name, "uid": ref.uid,
                         "deletionGracePeriodSeconds": 2}, "spec": {}}


class Kubelet:
    def __init__(self, cfg: KubeletConfig, runtime: Runtime, client: APIClient):
        self.cfg, self.runtime, self.client = cfg, runtime, client
        name = cfg.node.name
        self.recorder = EventRecorder(client, name)
        self.node = NodeStatusManager(client, cfg.node, runtime.version(), runtime_check=runtime.version,
                                      on_event=self.recorder.node_event)
        self.status = StatusManager(client)
        self.syncer = PodSyncer(runtime, self.status, self.recorder, client, cfg.sync)
        self.workers = PodWorkers(self.syncer.sync, self.syncer.kill, cfg.sync.resync_interval)
        self.syncer.probes.on_change = self.workers.wake   # a probe result changed: sync the pod
        self.source = PodSource(client, name, self._on_set, self._on_event, backoff=cfg.watch_backoff)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._cleaned_orphans = False
        self._signatures: dict[str, tuple] = {}

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        """Start everything in the background (registration retries until the API server answers)."""
        t = threading.Thread(target=self._run, name="kubelet-main", daemon=True)
        t.start()
        self._threads.append(t)

    def _run(self) -> None:
        self.recorder.node_event("Normal", "Starting", "Starting kubelet.")
        try:
            self.node.register()
        except InterruptedError:
            return
        self.node.start()
        self.source.start()
        t = threading.Thread(target=self._pleg_loop, name="pleg", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Stop the kubelet's threads; the pods keep running in the runtime."""
        self._stop.set()
        self.node.stop()
        self.source.stop()
        self.workers.stop()
        self.syncer.probes.stop()
        self.recorder.stop()

    # -- pods from the API server -----------------------------------------------
    def _on_set(self, pods: list[dict]) -> None:
        wanted = {p["metadata"]["uid"]: p for p in pods}
        known = self.workers.pods()
        for pod in pods:
            self._deliver(pod, known.get(pod["metadata"]["uid"]))
        for uid, pod in known.items():
            if uid not in wanted:
                self.workers.update(pod, KILL)
        if not self._cleaned_orphans:
            self._remove_orphans(set(wanted))
            self._cleaned_orphans = True

    def _on_event(self, kind: str, pod: dict) -> None:
        if kind == "DELETED":
            self.workers.update(pod, KILL)
        else:
            self._deliver(pod, self.workers.pods().get(pod["metadata"]["uid"]))

    def _deliver(self, pod: dict, known: dict | None) -> None:
        """Sync the pod if it changed in a way that matters; else just keep the newer object."""
        self.workers.update(pod, SYNC, wake=needs_sync(known, pod))

    def _remove_orphans(self, known: set[str]) -> None:
        """Remove what the runtime runs for pods the API server no longer has."""
        refs: dict[str, PodRef] = {}
        try:
            for sb in self.runtime.list_sandboxes():
                refs[sb.pod.uid] = sb.pod
            for st in self.runtime.list_containers():
                refs[st.pod.uid] = st.pod
        except Exception as e:
            log.warning("listing the runtime for orphans failed: %s", e)
            return
        for uid, ref in refs.items():
            if uid not in known:
                log.info("removing orphaned pod %s/%s (%s)", ref.namespace, ref.name, uid)
                self.workers.update(orphan_pod(ref), KILL)

    # -- the runtime's events (PLEG) ---------------------------------------------
    def _pleg_loop(self) -> None:
        while not self._stop.wait(self.cfg.relist_period):
            try:
                self.relist()
            except Exception as e:
                log.warning("runtime relist failed: %s", e)

    def relist(self) -> None:
        """Wake the worker of every pod whose containers changed; remove unknown pods' containers."""
        by_pod: dict[str, list[ContainerState]] = {}
        for st in self.runtime.list_containers():
            by_pod.setdefault(st.pod.uid, []).append(st)
        known = self.workers.pods()
        signatures = {}
        for uid, states in by_pod.items():
            signatures[uid] = tuple(sorted((s.id, s.state, s.restart_count) for s in states))
            if signatures[uid] != self._signatures.get(uid):
                self.workers.wake(uid)
            if uid not in known and self._cleaned_orphans and not self.workers.is_finished(uid):
                self.workers.update(orphan_pod(states[0].pod), KILL)
        self._signatures = signatures

    # -- what the HTTP server shows ------------------------------------------------
    def pods(self) -> list[dict]:
        return list(self.workers.pods().values())

    def find_container(self, namespace: str, name: str, container: str,
                       previous: bool = False) -> ContainerState | None:
        """The container (current attempt, or the one before with previous=True) of a pod on this node."""
        candidates = [st for st in self.runtime.list_containers()
                      if st.pod.namespace == namespace and st.pod.name == name and st.name == container]
        if not candidates:
            return None
        candidates.sort(key=lambda s: (s.state == "running", s.restart_count, s.started_at or ""), reverse=True)
        if previous:
            return candidates[1] if len(candidates) > 1 else None
        return candidates[0]
