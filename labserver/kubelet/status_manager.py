"""Pod status: computed from what the runtime reports, written to the API server on change.

Like pkg/kubelet/status/status_manager.go (the kubelet's source of truth for
pod status) and the status half of kubelet_pods.go (generateAPIPodStatus,
getPhase). The computation is pure functions from runtime ContainerStates to
a v1 PodStatus, so it is unit-tested without any server; StatusManager keeps
the last status written per pod and, only when something changed, sends it
as ONE strategic-merge `PATCH .../pods/<name>/status`, as upstream's status
manager does: no read first, and the API server retries its own races. The
patch names the pod's uid, so a pod deleted and re-created under the same
name (another uid) refuses it with 409 Conflict instead of taking the
old pod's status.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass

from . import init_containers, timefmt
from .client import APIClient, APIStatusError
from .runtime import ContainerState

log = logging.getLogger("kubelet.status")


@dataclass
class Waiting:
    """Why a container is not running (yet): a waiting reason and message."""

    reason: str
    message: str = ""


def container_id(runtime_name: str, state: ContainerState) -> str:
    """The v1 containerID `<runtime>://<id>`."""
    cid = state.container_id
    return cid if "://" in cid else f"{runtime_name}://{cid}"


def terminated(state: ContainerState, runtime_name: str) -> dict:
    """A terminated{} ContainerState for an exited runtime container."""
    code = state.exit_code if state.exit_code is not None else 0
    out = {"exitCode": code, "reason": state.reason or ("Completed" if code == 0 else "Error"),
           "startedAt": state.started_at, "finishedAt": state.finished_at,
           "containerID": container_id(runtime_name, state)}
    if state.message:
        out["message"] = state.message
    return out


def container_status(spec: dict, current: ContainerState | None, previous: ContainerState | None,
                     waiting: Waiting | None, runtime_name: str) -> dict:
    """One v1 ContainerStatus.

    `current` is the latest attempt (or None before the first start),
    `previous` the attempt before it (lastState), `waiting` overrides the state
    while the kubelet holds the container back (ContainerCreating, ErrImagePull,
    ImagePullBackOff, CrashLoopBackOff, ...).
    """
    running = current is not None and current.state == "running" and waiting is None
    status = {"name": spec["name"], "image": spec.get("image", ""),
              "imageID": current.image_id if current else "",
              "ready": running, "started": running,
              "restartCount": current.restart_count if current else 0,
              "state": {}, "lastState": {}}
    if current is not None:
        status["containerID"] = container_id(runtime_name, current)
    if waiting is not None:
        status["state"] = {"waiting": {"reason": waiting.reason, "message": waiting.message}
                           if waiting.message else {"reason": waiting.reason}}
        if current is not None and current.state == "exited":
            status["lastState"] = {"terminated": terminated(current, runtime_name)}
            return status
    elif current is None or current.state == "created":
        status["state"] = {"waiting": {"reason": "ContainerCreating"}}
    elif current.state == "running":
        status["state"] = {"running": {"startedAt": current.started_at}}
    else:
        status["state"] = {"terminated": terminated(current, runtime_name)}
    if previous is not None and previous.state == "exited":
        status["lastState"] = {"terminated": terminated(previous, runtime_name)}
    return status


def pod_phase(spec: dict, statuses: list[dict], init_statuses: list[dict] = ()) -> str:
    """getPhase from kubelet_pods.go: Pending, Running, Succeeded or Failed.

    Each app container of the spec counts by its status (none yet: unknown);
    init containers and sidecars are counted by init_containers.count_init.
    """
    counts = Counter()
    pending_init, failed_init = init_containers.count_init(spec, init_statuses, counts)
    by_name = {s["name"]: s for s in statuses}
    for container in spec.get("containers", []):
        st = by_name.get(container["name"])
        state = (st or {}).get("state") or {}
        if st is None:
            counts["unknown"] += 1
        elif "running" in state:
            counts["running"] += 1
        elif "terminated" in state:
            counts["stopped"] += 1
            counts["succeeded"] += state["terminated"].get("exitCode") == 0
        elif "waiting" in state and "terminated" in (st.get("lastState") or {}):
            counts["stopped"] += 1   # crash-looping: it ran and will run again
        elif "waiting" in state:
            counts["waiting"] += 1
        else:
            counts["unknown"] += 1
    policy = spec.get("restartPolicy", "Always")
    if failed_init and policy == "Never":
        return "Failed"
    if (pending_init and not init_containers.any_regular_started(spec, statuses)) or counts["waiting"]:
        return "Pending"
    if counts["running"] and not counts["unknown"]:
        return "Running"
    if not counts["running"] and counts["stopped"] and not counts["unknown"]:
        if policy == "Always":
            return "Running"
        if counts["stopped"] == counts["succeeded"]:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def _condition(ctype: str, ok: bool, old: dict, now: str, reason: str | None = None,
               message: str | None = None) -> dict:
    status = "True" if ok else "False"
    before = old.get(ctype) or {}
    cond = {"type": ctype, "status": status, "lastProbeTime": None,
            "lastTransitionTime": before.get("lastTransitionTime") if before.get("status") == status
            and before.get("lastTransitionTime") else now}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def pod_status(pod: dict, statuses: list[dict], host_ip: str, pod_ip: str | None,
               old: dict | None = None, init_statuses: list[dict] | None = None) -> dict:
    """The full v1 PodStatus for `pod` from its container statuses (and init containers' ones).

    `old` is the status written last (or the API's); its startTime, qosClass and
    the conditions' lastTransitionTime are kept while nothing changed.
    """
    old = old or {}
    now = timefmt.rfc3339()
    spec = pod.get("spec") or {}
    phase = pod_phase(spec, statuses, init_statuses or [])
    init_ok, init_reason, init_message = init_containers.initialized(spec, init_statuses or [], statuses, phase)
    sidecars = init_containers.sidecar_statuses(spec, init_statuses or [])
    unready = [s["name"] for s in sidecars + statuses if not s.get("ready")]
    old_conds = {c.get("type"): c for c in old.get("conditions") or []}
    if phase == "Succeeded" or (phase == "Failed" and not any("running" in s["state"] for s in statuses)):
        reason, message, ready = "PodCompleted", None, False
    elif unready:
        reason, message, ready = "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]", False
    else:
        reason, message, ready = None, None, True
    status = {
        "phase": phase,
        "conditions": [
            _condition("PodReadyToStartContainers", pod_ip is not None, old_conds, now),
            _condition("Initialized", init_ok, old_conds, now, init_reason, init_message),
            _condition("Ready", ready, old_conds, now, reason, message),
            _condition("ContainersReady", ready, old_conds, now, reason, message),
            _condition("PodScheduled", True, old_conds, now),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": old.get("startTime") or now,
        "containerStatuses": statuses,
    }
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    if old.get("qosClass"):
        status["qosClass"] = old["qosClass"]
    return status


def _comparable(status: dict) -> dict:
    """Status minus the lastTransitionTimes, which only move when a status flips."""
    conds = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions", [])]
    return {**status, "conditions": conds}


def status_patch(uid: str, status: dict) -> dict:
    """The strategic-merge patch that sets `status` on the pod with this uid.

    Lists (conditions, containerStatuses, podIPs) are replaced whole (`$patch:
    replace`), so nothing of an earlier state (a `waiting` beside a new
    `running`) survives a merge. Status fields the kubelet does not set are
    left as they are.
    """
    body = {k: [{"$patch": "replace"}, *v] if isinstance(v, list) else v for k, v in status.items()}
    return {"metadata": {"uid": uid}, "status": body}


class StatusManager:
    """The kubelet's record of each pod's status, pushed to the API server when it changes."""

    def __init__(self, client: APIClient):
        self.client = client
        self._written: dict[str, dict] = {}   # uid -> status last accepted by the API server
        self._lock = threading.Lock()

    def last(self, uid: str) -> dict | None:
        with self._lock:
            return self._written.get(uid)

    def set_status(self, pod: dict, status: dict) -> bool:
        """Write `status` for `pod` when it differs from the last one written.

        Returns True when written (or nothing needed writing), False when the
        write failed (the API server is away, or the pod is gone); the caller
        tries again on its next sync.
        """
        meta = pod["metadata"]
        uid = meta["uid"]
        last = self.last(uid)
        if last is not None and _comparable(last) == _comparable(status):
            return True
        path = f"/api/v1/namespaces/{meta.get('namespace', 'default')}/pods/{meta['name']}/status"
        try:
            self.client.patch(path, status_patch(uid, status), patch_type="strategic")
        except APIStatusError as e:
            log.warning("status of pod %s/%s not written: %s", meta.get("namespace"), meta["name"], e)
            return False
        except Exception as e:
            log.warning("status of pod %s/%s not written (API server away?): %s",
                        meta.get("namespace"), meta["name"], e)
            return False
        with self._lock:
            self._written[uid] = status
        return True

    def forget(self, uid: str) -> None:
        with self._lock:
            self._written.pop(uid, None)
