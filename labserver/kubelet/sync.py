"""One pod's sync: make the runtime match the pod spec, then report status.

Like Kubelet.SyncPod / kuberuntime_manager.go computePodActions: each call
looks at what the runtime holds for the pod and does the next steps:
sandbox, volumes (emptyDir, hostPath, and configMap/secret/downwardAPI/projected
written and refreshed by volumes.py), the init containers first
(init_containers.py), then each container in spec order (image per
imagePullPolicy, create and start), restarting exited containers as
restartPolicy says with a growing back-off (CrashLoopBackOff), and image
failures as ErrImagePull then ImagePullBackOff — one container's trouble
never stops the others. Each container's env is resolved just before it is
created (container_env.py); a missing ConfigMap, Secret or key holds it in
CreateContainerConfigError until it appears. A container whose liveness or
startup probe failed (prober.py) is stopped first and so restarted like one
that exited; the probes' results set each container's `started` and `ready`.
A pod with a deletionTimestamp is torn down (containers stopped within its
grace period, the final terminated status written, everything removed) and
then deleted from the API server with gracePeriodSeconds=0 and a uid precondition.

The runtime is the truth about containers (it survives a kubelet restart, so
running containers are adopted, never duplicated); this module only remembers
back-off timers and the previous attempt of each container (lastState).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from . import timefmt
from . import termination, volumes as pod_volumes
from .client import APIClient, APIStatusError, APIUnavailable
from . import init_containers
from .container_env import ConfigError, api_lookup, resolved_spec
from .events import NORMAL, WARNING, EventRecorder
from .prober import ProbeManager
from .runtime import ContainerState, ImagePullError, PodRef, Runtime, RuntimeError_
from .status_manager import StatusManager, Waiting, container_status, pod_status

log = logging.getLogger("kubelet.sync")

TERMINAL_PHASES = ("Succeeded", "Failed")
FINAL_STATUS_TRIES = 10   # writes of a deleted pod's final status before it is deleted without it


@dataclass
class SyncConfig:
    node_name: str
    node_ip: str = "127.0.0.1"
    restart_backoff: float = 10.0     # first CrashLoopBackOff delay (upstream 10 s)
    max_backoff: float = 300.0        # cap (upstream 5 min)
    resync_interval: float = 10.0     # re-check a quiet pod this often
    retry_interval: float = 1.0       # re-try soon after a failed API write


@dataclass
class SyncResult:
    done: bool = False                # the pod is finished with: its worker may go
    wake_in: float | None = None      # sync again after this many seconds


@dataclass
class Backoff:
    delay: float = 0.0                # current delay; 0 = none yet
    until: float = 0.0                # monotonic time the back-off ends
    crash: str = ""                   # the exited container this back-off is for


@dataclass
class PodMemory:
    """What the kubelet remembers about one pod between syncs."""

    restart: dict[str, Backoff] = field(default_factory=dict)
    image: dict[str, tuple[Backoff, str]] = field(default_factory=dict)  # container -> (backoff, message)
    start_error: dict[str, Waiting] = field(default_factory=dict)
    previous: dict[str, ContainerState] = field(default_factory=dict)   # container -> last exited attempt
    backoff_reported: dict[str, str] = field(default_factory=dict)      # container -> crash reported
    mount_errors: dict[str, str] = field(default_factory=dict)          # volume -> FailedMount reported
    final_status_tries: int = 0                                         # failed writes of the final status
    probe_killed: set[str] = field(default_factory=set)                  # ids stopped for a failed probe


def pod_ref(pod: dict) -> PodRef:
    meta = pod["metadata"]
    return PodRef(meta.get("namespace", "default"), meta["name"], meta["uid"])


def pod_key(pod: dict) -> str:
    meta = pod["metadata"]
    return f"{meta['name']}_{meta.get('namespace', 'default')}({meta['uid']})"


def latest_attempts(states: list[ContainerState]) -> tuple[dict[str, ContainerState], dict[str, ContainerState]]:
    """Per container name: the current attempt and the one before it (if the runtime still has it)."""
    by_name: dict[str, list[ContainerState]] = {}
    for st in states:
        by_name.setdefault(st.name, []).append(st)
    current, previous = {}, {}
    for name, attempts in by_name.items():
        attempts.sort(key=lambda s: (s.state == "running", s.restart_count, s.started_at or ""), reverse=True)
        current[name] = attempts[0]
        older = [s for s in attempts[1:] if s.state == "exited"]
        if older:
            previous[name] = older[0]
    return current, previous


def log_end(message: str, lines: int = 3) -> str:
    """The last few non-empty lines of a termination message, on one line (for an event)."""
    return " / ".join([line.strip() for line in message.splitlines() if line.strip()][-lines:])


def should_restart(policy: str, exit_code: int | None) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


class PodSyncer:
    """Syncs pods against one runtime; safe to call for different pods from different threads."""

    def __init__(self, runtime: Runtime, status: StatusManager, recorder: EventRecorder,
                 client: APIClient, cfg: SyncConfig):
        self.runtime, self.status, self.recorder, self.client, self.cfg = runtime, status, recorder, client, cfg
        self._memory: dict[str, PodMemory] = {}
        self._lock = threading.Lock()
        self.lookup = api_lookup(client)   # ConfigMaps and Secrets for volumes and env
        self.probes = ProbeManager(runtime, recorder)   # its on_change is set to wake the pod's worker

    def memory(self, uid: str) -> PodMemory:
        with self._lock:
            return self._memory.setdefault(uid, PodMemory())

    def forget(self, uid: str) -> None:
        with self._lock:
            self._memory.pop(uid, None)
        self.status.forget(uid)
        self.probes.remove_pod(uid)

    # -- the sync -------------------------------------------------------------
    def sync(self, pod: dict) -> SyncResult:
        """Bring one pod a step closer to its spec and write its status."""
        if pod["metadata"].get("deletionTimestamp"):
            return self.terminate(pod)
        ref = pod_ref(pod)
        spec = pod.get("spec") or {}
        mem = self.memory(ref.uid)
        last = self.status.last(ref.uid) or pod.get("status") or {}
        try:
            sandbox = self.runtime.run_sandbox(ref)
        except RuntimeError_ as e:
            self.recorder.event(pod, WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e.message}")
            waiting = Waiting("ContainerCreating", e.message)
            statuses = [container_status(c, None, None, waiting, self.runtime.name) for c in spec.get("containers", [])]
            self.status.set_status(pod, pod_status(pod, statuses, self.cfg.node_ip, None, last))
            return SyncResult(wake_in=self.cfg.restart_backoff)
        volumes, mount_failed = self._volumes(pod, ref, sandbox.ip, mem)
        current, previous = latest_attempts(self.runtime.list_containers(ref))
        terminal = last.get("phase") in TERMINAL_PHASES
        if not terminal and self.status.last(ref.uid) is None and not any(
                s.state == "running" for s in current.values()):
            # First sight: report Pending with ContainerCreating (kubectl shows 0/N) before starting.
            statuses = self._container_statuses(pod, current, {}, {})
            self.status.set_status(pod, pod_status(pod, statuses, self.cfg.node_ip, sandbox.ip, last,
                                                   self._init_statuses(pod, current, {}, {})))

        waiting: dict[str, Waiting] = {}
        wake: list[float] = [self.cfg.resync_interval]
        self.probes.update(pod, current, sandbox.ip)
        if not terminal and self._kill_unhealthy(pod, current, mem):
            current, previous = latest_attempts(self.runtime.list_containers(ref))
        if mount_failed:  # upstream waits for all volumes before it starts any container
            wake.append(min(self.cfg.resync_interval, 2.0))
        elif not terminal:
            ready = True
            if spec.get("initContainers"):
                ready, _ = init_containers.reconcile(self, pod, ref, sandbox, volumes, current, mem,
                                                     waiting, wake)
            if ready:
                self._reconcile_containers(pod, ref, sandbox, volumes, current, mem, waiting, wake)
            self.probes.update(pod, current, sandbox.ip)

        # (after the starts: a container may have ended already when its start returns)
        termination.fill_messages(self.runtime, spec, [*current.values(), *previous.values()])
        before = {**mem.previous, **previous}
        statuses = self._container_statuses(pod, current, before, waiting)
        ok = self.status.set_status(pod, pod_status(pod, statuses, self.cfg.node_ip, sandbox.ip, last,
                                                    self._init_statuses(pod, current, before, waiting)))
        if not ok:
            wake.append(self.cfg.retry_interval)
        return SyncResult(wake_in=max(0.05, min(wake)))

    def _container_statuses(self, pod: dict, current: dict, previous: dict, waiting: dict,
                            containers: list[dict] | None = None) -> list[dict]:
        """v1 ContainerStatuses of the app containers (or of `containers`), probes applied."""
        spec = pod.get("spec") or {}
        uid = pod["metadata"]["uid"]
        init_names = {c["name"] for c in spec.get("initContainers") or []}
        out = []
        for c in spec.get("containers", []) if containers is None else containers:
            name = c["name"]
            cur = current.get(name)
            st = container_status(c, cur, previous.get(name), waiting.get(name), self.runtime.name)
            if init_names and st["state"] == {"waiting": {"reason": "ContainerCreating"}} and cur is None:
                st["state"] = {"waiting": {"reason": "PodInitializing"}}   # as upstream with init containers
            regular_init = name in init_names and not init_containers.is_sidecar(c)
            out.append(self.probes.container_status(uid, st, cur, regular_init))
        return out

    def _init_statuses(self, pod: dict, current: dict, previous: dict, waiting: dict) -> list[dict] | None:
        inits = (pod.get("spec") or {}).get("initContainers")
        return self._container_statuses(pod, current, previous, waiting, inits) if inits else None

    def _kill_unhealthy(self, pod: dict, current: dict, mem: PodMemory) -> bool:
        """Stop each running container whose liveness or startup probe failed; True if any was."""
        spec = pod.get("spec") or {}
        uid = pod["metadata"]["uid"]
        restart = spec.get("restartPolicy", "Always") != "Never"
        init_names = {c["name"]: c for c in spec.get("initContainers") or []}
        killed = False
        for name, cur in current.items():
            kind = self.probes.failed(uid, name, cur.id) if cur.state == "running" else None
            if kind is None:
                continue
            what = "Init container" if name in init_names else "Container"
            message = f"{what} {name} failed {kind} probe"
            if restart and name not in init_names:   # upstream says it for app containers only
                message += ", will be restarted"
            self.recorder.event(pod, NORMAL, "Killing", message, name)
            grace = self.probes.termination_grace(uid, name, kind)
            if grace is None:
                grace = float(spec.get("terminationGracePeriodSeconds", 30))
            mem.probe_killed.add(cur.id)
            self._stop_one(cur, grace)
            killed = True
        return killed

    def _reconcile_containers(self, pod, ref, sandbox, volumes, current, mem, waiting, wake) -> None:
        """Start what is missing and restart what exited (per restartPolicy and back-off), in spec order.

        Fills `waiting` with the containers held back and why, `wake` with when to look again,
        and `current` with the containers started now.
        """
        spec = pod.get("spec") or {}
        policy = spec.get("restartPolicy", "Always")
        for cspec in spec.get("containers", []):
            self.step_container(pod, ref, sandbox, volumes, cspec, policy, current, mem, waiting, wake)

    def step_container(self, pod, ref, sandbox, volumes, cspec, policy, current, mem, waiting, wake) -> None:
        """One container's next step: start it if missing, restart it if it exited and `policy` says so."""
        name = cspec["name"]
        cur = current.get(name)
        if cur is not None and cur.state == "running":
            mem.start_error.pop(name, None)
            return
        restart_count = 0
        if cur is not None and cur.state == "exited":
            probe_killed = cur.id in mem.probe_killed and policy != "Never"
            if not should_restart(policy, cur.exit_code) and not probe_killed:
                return
            held = self._restart_backoff(pod, mem, cur)
            if held is not None:
                waiting[name], wait_s = held
                wake.append(wait_s)
                return
            restart_count = cur.restart_count + 1
        elif cur is not None:  # created but never started: start a fresh attempt
            restart_count = cur.restart_count
        started = self._start(pod, ref, sandbox, cspec, volumes, restart_count, mem, waiting, wake)
        if started is not None:
            if cur is not None and cur.state == "exited":
                mem.previous[name] = cur
                mem.probe_killed.discard(cur.id)
                self._bump_backoff(mem, name)
            current[name] = started

    def _volumes(self, pod: dict, ref: PodRef, pod_ip: str | None, mem: PodMemory) -> tuple[dict[str, str], bool]:
        """Host directories for the pod's volumes, and whether one failed to set up (FailedMount).

        emptyDir comes from the runtime, hostPath as given; configMap, secret,
        downwardAPI and projected volumes are (re)written on every sync (volumes.py).
        """
        out, failed = {}, False
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            name = vol["name"]
            if "hostPath" in vol:
                out[name] = vol["hostPath"].get("path", "")
                continue
            plugin = pod_volumes.plugin_of(vol)
            if plugin is None:  # emptyDir (the API server defaults a source-less volume to emptyDir)
                out[name] = self.runtime.pod_volume_dir(ref, name)
                continue
            out[name] = self.runtime.pod_volume_dir(ref, name, plugin)
            try:
                pod_volumes.set_up(pod, vol, out[name], self.lookup, pod_ip, self.cfg.node_ip)
                mem.mount_errors.pop(name, None)
            except pod_volumes.VolumeError as e:
                # only a volume never set up holds the pod back; a failed refresh keeps the last files
                failed = failed or not os.path.islink(os.path.join(out[name], pod_volumes.DATA_DIR))
                if mem.mount_errors.get(name) != e.message:  # once per distinct failure
                    mem.mount_errors[name] = e.message
                    self.recorder.event(pod, WARNING, "FailedMount",
                                        f'MountVolume.SetUp failed for volume "{name}" : {e.message}')
        return out, failed

    def _restart_backoff(self, pod: dict, mem: PodMemory, cur: ContainerState) -> tuple[Waiting, float] | None:
        """(CrashLoopBackOff, seconds left) while the exited container must wait, else None."""
        name = cur.name
        bo = mem.restart.get(name)
        started, finished = timefmt.parse(cur.started_at), timefmt.parse(cur.finished_at)
        if bo and started and finished and (finished - started).total_seconds() > 2 * self.cfg.max_backoff:
            mem.restart.pop(name, None)  # it ran long enough: forgive past crashes
            bo = None
        if bo is None or bo.delay <= 0:
            return None
        if bo.crash != cur.id:  # a new crash: its back-off runs from when the kubelet sees it
            bo.crash, bo.until = cur.id, time.monotonic() + bo.delay
        left = bo.until - time.monotonic()
        if left <= 0:
            return None
        message = f"back-off {bo.delay:g}s restarting failed container={name} pod={pod_key(pod)}"
        if mem.backoff_reported.get(name) != cur.id:  # once per crash
            why = f": {log_end(cur.message)}" if cur.message else ""   # the end of its log (process runtime)
            self.recorder.event(pod, WARNING, "BackOff",
                                f"Back-off restarting failed container {name} in pod {pod_key(pod)}{why}", name)
            mem.backoff_reported[name] = cur.id
        return Waiting("CrashLoopBackOff", message), left

    def _bump_backoff(self, mem: PodMemory, name: str) -> None:
        bo = mem.restart.setdefault(name, Backoff())
        bo.delay = self.cfg.restart_backoff if bo.delay <= 0 else min(bo.delay * 2, self.cfg.max_backoff)

    def _start(self, pod, ref, sandbox, cspec, volumes, restart_count, mem, waiting, wake) -> ContainerState | None:
        """Ensure the image, then create and start the container; None when held back or failed."""
        name, image = cspec["name"], cspec.get("image", "")
        policy = cspec.get("imagePullPolicy") or "IfNotPresent"
        held = mem.image.get(name)
        now = time.monotonic()
        if held is not None and now < held[0].until:
            bo, message = held
            waiting[name] = Waiting("ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: {message}')
            wake.append(bo.until - now)
            if mem.backoff_reported.get(name) != f"image:{bo.until}":
                self.recorder.event(pod, NORMAL, "BackOff", f'Back-off pulling image "{image}"', name)
                mem.backoff_reported[name] = f"image:{bo.until}"
            return None
        if policy == "Always":
            self.recorder.event(pod, NORMAL, "Pulling", f'Pulling image "{image}"', name)
        began = time.monotonic()
        try:
            pulled = self.runtime.ensure_image(image, policy)
        except ImagePullError as e:
            bo = held[0] if held else Backoff()
            bo.delay = self.cfg.restart_backoff if bo.delay <= 0 else min(bo.delay * 2, self.cfg.max_backoff)
            bo.until = time.monotonic() + bo.delay
            mem.image[name] = (bo, e.message)
            waiting[name] = Waiting("ErrImagePull", e.message)
            wake.append(min(self.cfg.retry_interval, bo.delay))  # soon: show ImagePullBackOff
            self.recorder.event(pod, WARNING, "Failed", f'Failed to pull image "{image}": {e.message}', name)
            self.recorder.event(pod, WARNING, "Failed", "Error: ErrImagePull", name)
            return None
        mem.image.pop(name, None)
        if pulled.warning:
            self.recorder.event(pod, WARNING, "RuntimeWarning", pulled.warning, name)
        if pulled.pulled:
            took = time.monotonic() - began
            if policy != "Always":
                self.recorder.event(pod, NORMAL, "Pulling", f'Pulling image "{image}"', name)
            self.recorder.event(pod, NORMAL, "Pulled", f'Successfully pulled image "{image}" in {took:.3f}s', name)
        else:
            self.recorder.event(pod, NORMAL, "Pulled", f'Container image "{image}" already present on machine', name)
        try:
            config = self._container_config(pod, cspec, sandbox)
            state = self.runtime.start_container(ref, sandbox, config, volumes, restart_count)
        except ConfigError as e:  # retried on every sync until the ConfigMap / Secret / key appears
            mem.start_error[name] = waiting[name] = Waiting("CreateContainerConfigError", e.message)
            wake.append(self.cfg.restart_backoff)
            self.recorder.event(pod, WARNING, "Failed", f"Error: {e.message}", name)
            return None
        except RuntimeError_ as e:
            mem.start_error[name] = Waiting(e.reason, e.message)
            waiting[name] = mem.start_error[name]
            self._bump_backoff(mem, name)
            wake.append(mem.restart[name].delay)
            self.recorder.event(pod, WARNING, "Failed", f"Error: {e.message}", name)
            return None
        mem.start_error.pop(name, None)
        self.recorder.event(pod, NORMAL, "Created", f"Created container: {name}", name)
        self.recorder.event(pod, NORMAL, "Started", f"Started container {name}", name)
        limits = (cspec.get("resources") or {}).get("limits")
        if limits and not self.runtime.enforces_limits:
            self.recorder.event(pod, WARNING, "LimitsNotEnforced",
                                f"resources.limits of container {name} ({', '.join(sorted(limits))}) are not "
                                f"enforced: the {self.runtime.name} runtime runs containers without cgroup limits", name)
        return state

    def _container_config(self, pod: dict, cspec: dict, sandbox) -> dict:
        """The container spec as the runtime runs it: env resolved, command and args expanded,
        configMap/secret/downwardAPI/projected mounts read-only, and the pod's shareProcessNamespace."""
        spec = pod.get("spec") or {}
        config = resolved_spec(pod, cspec, self.lookup, sandbox.ip, self.cfg.node_ip,
                               lambda reason, msg: self.recorder.event(pod, WARNING, reason, msg, cspec["name"]))
        read_only = {v["name"] for v in spec.get("volumes") or [] if pod_volumes.plugin_of(v)}
        if cspec.get("volumeMounts"):
            config["volumeMounts"] = [{**m, "readOnly": True} if m.get("name") in read_only else m
                                      for m in cspec["volumeMounts"]]
        if spec.get("shareProcessNamespace"):
            config["shareProcessNamespace"] = True
        return config

    # -- teardown ---------------------------------------------------------------
    def stop_pod(self, pod: dict, default_grace: float) -> None:
        """Stop every running container of the pod (in parallel, within its grace period), then remove it all."""
        self.stop_containers(pod, default_grace)
        self.runtime.remove_pod(pod_ref(pod))

    def stop_containers(self, pod: dict, default_grace: float) -> None:
        """Stop every running container of the pod, in parallel, within its grace period.

        The grace period is the pod's deletionGracePeriodSeconds, else its
        terminationGracePeriodSeconds, else `default_grace`.
        """
        ref = pod_ref(pod)
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", default_grace)
        grace = float(grace)
        threads = []
        for st in self.runtime.list_containers(ref):
            if st.state != "running":
                continue
            self.recorder.event(pod, NORMAL, "Killing", f"Stopping container {st.name}", st.name)
            t = threading.Thread(target=self._stop_one, args=(st, grace), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()

    def stop_container(self, st: ContainerState, grace: float) -> None:
        """Stop one container within `grace` seconds (a failure is logged)."""
        self._stop_one(st, grace)

    def _stop_one(self, st: ContainerState, grace: float) -> None:
        try:
            self.runtime.stop_container(st.id, grace)
        except Exception as e:
            log.warning("stopping container %s (%s) failed: %s", st.name, st.id, e)

    def terminate(self, pod: dict) -> SyncResult:
        """Graceful deletion: stop within the grace period, write the final status, remove, DELETE with grace 0.

        The final status (each container terminated with its exit code, reason,
        finishedAt and termination message; phase Succeeded or Failed) is written
        before the pod object goes away, so a watch sees it before DELETED.
        """
        meta = pod["metadata"]
        self.stop_containers(pod, 30)
        mem = self.memory(meta["uid"])
        if not self._final_status(pod) and mem.final_status_tries < FINAL_STATUS_TRIES:
            mem.final_status_tries += 1  # the API server away: try again (a refused write must not block the delete)
            return SyncResult(wake_in=self.cfg.retry_interval)
        self.runtime.remove_pod(pod_ref(pod))
        path = f"/api/v1/namespaces/{meta.get('namespace', 'default')}/pods/{meta['name']}"
        try:
            self.client.delete(path, {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                                      "preconditions": {"uid": meta["uid"]}})
        except APIStatusError as e:
            if e.code not in (404, 409):  # gone already, or a new pod with the same name
                log.warning("deleting pod %s failed: %s", meta["name"], e)
                return SyncResult(wake_in=self.cfg.retry_interval)
        except (APIUnavailable, OSError) as e:
            log.warning("deleting pod %s failed (API server away?): %s", meta["name"], e)
            return SyncResult(wake_in=self.cfg.retry_interval)
        self.forget(meta["uid"])
        return SyncResult(done=True)

    def _final_status(self, pod: dict) -> bool:
        """Write the stopped pod's terminal status (as upstream's podIsTerminal getPhase); False if not written."""
        ref = pod_ref(pod)
        spec = pod.get("spec") or {}
        current, previous = latest_attempts(self.runtime.list_containers(ref))
        if not current:
            return True  # nothing ever ran: nothing to report
        termination.fill_messages(self.runtime, spec, [*current.values(), *previous.values()])
        mem = self.memory(ref.uid)
        before = {**mem.previous, **previous}
        statuses = self._container_statuses(pod, current, before, {})
        last = self.status.last(ref.uid) or pod.get("status") or {}
        sandbox_ip = last.get("podIP")
        terminal = {**pod, "spec": {**spec, "restartPolicy": "Never"}}  # a terminal pod: Succeeded or Failed
        return self.status.set_status(pod, pod_status(terminal, statuses, self.cfg.node_ip, sandbox_ip, last,
                                                      self._init_statuses(pod, current, before, {})))

    def kill(self, pod: dict) -> SyncResult:
        """The pod is gone from the API server (or never was): stop and remove what the runtime holds."""
        self.stop_pod(pod, 2)
        self.forget(pod["metadata"]["uid"])
        return SyncResult(done=True)
