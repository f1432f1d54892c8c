"""Init containers: run to completion one at a time, in order, before the app containers.

Like computeInitContainerActions in pkg/kubelet/kuberuntime (1.29+, with
sidecars) and the init-container parts of kubelet_pods.go / status/generate.go:

- A regular init container must exit 0 before the next one starts; one that
  fails is started again with the usual back-off (Init:CrashLoopBackOff)
  unless the pod's restartPolicy is Never, which fails the pod.
- A sidecar (an init container with restartPolicy: Always) is started in its
  turn, the next one starts once it has *started* (its startup probe, if
  any, succeeded), and it keeps running (restarted whenever it exits)
  beside the app containers.
- Once any app container has run, the pod stays initialized: completed init
  containers are never run again.
- When every app container has ended for good (restartPolicy Never or
  OnFailure), the sidecars are stopped, last first, so the pod can complete.

The pure functions here also compute what the pod status says about them:
the phase (getPhase), the Initialized condition, and which containers count
for readiness.
"""
from __future__ import annotations

from collections import Counter

from .runtime import ContainerState


def is_sidecar(container: dict | None) -> bool:
    return bool(container) and container.get("restartPolicy") == "Always"


def init_policy(pod_policy: str, container: dict) -> str:
    """The restart policy an init container is reconciled with."""
    if is_sidecar(container):
        return "Always"
    return "Never" if pod_policy == "Never" else "OnFailure"


def reconcile(syncer, pod: dict, ref, sandbox, volumes, current: dict[str, ContainerState], mem,
              waiting: dict, wake: list) -> tuple[bool, bool]:
    """Start or restart the init container(s) due now; (initialized, failed).

    `syncer` is the PodSyncer (its `step_container` starts one container as
    for app containers: image, back-off, events); `started(name, state)` says
    whether a running sidecar has started.
    """
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy", "Always")
    app_names = {c["name"] for c in spec.get("containers", [])}
    previously = any(name in current for name in app_names)
    uid = pod["metadata"]["uid"]
    if previously and app_finished(spec, current):
        stop_sidecars(syncer, pod, ref, current)
        return True, False
    for c in spec.get("initContainers") or []:
        name = c["name"]
        cur = current.get(name)
        sidecar = is_sidecar(c)
        if previously and not sidecar:
            continue   # initialized before: regular init containers are done with
        if cur is None or cur.state == "created":
            syncer.step_container(pod, ref, sandbox, volumes, c, init_policy(policy, c), current, mem, waiting, wake)
            if previously:
                continue
            return False, False
        if cur.state == "running":
            if not sidecar or not syncer.probes.started(uid, name, cur.id):
                return False, False   # wait for it to finish (or for the sidecar to start)
            continue
        # exited
        if sidecar:
            syncer.step_container(pod, ref, sandbox, volumes, c, "Always", current, mem, waiting, wake)
            if not previously:
                return False, False
            continue
        if cur.exit_code != 0:
            if policy == "Never":
                return False, True
            syncer.step_container(pod, ref, sandbox, volumes, c, "OnFailure", current, mem, waiting, wake)
            return False, False
    return True, False


def app_finished(spec: dict, current: dict[str, ContainerState]) -> bool:
    """Every app container has exited and its restart policy will not bring it back."""
    policy = spec.get("restartPolicy", "Always")
    if policy == "Always":
        return False
    for c in spec.get("containers", []):
        cur = current.get(c["name"])
        if cur is None or cur.state != "exited" or (policy == "OnFailure" and cur.exit_code != 0):
            return False
    return True


def stop_sidecars(syncer, pod: dict, ref, current: dict[str, ContainerState]) -> None:
    """Stop the running sidecars in reverse order, each within the pod's grace period; `current` follows."""
    spec = pod.get("spec") or {}
    grace = float(spec.get("terminationGracePeriodSeconds", 30))
    stopped = set()
    for c in reversed(spec.get("initContainers") or []):
        cur = current.get(c["name"])
        if is_sidecar(c) and cur is not None and cur.state == "running":
            syncer.recorder.event(pod, "Normal", "Killing", f"Stopping container {c['name']}", c["name"])
            syncer.stop_container(cur, grace)
            stopped.add(cur.id)
    if stopped:
        for st in syncer.runtime.list_containers(ref):
            if st.id in stopped:
                current[st.name] = st


# -- status -------------------------------------------------------------------------------


def any_regular_started(spec: dict, statuses: list[dict]) -> bool:
    """HasAnyRegularContainerStarted: an app container runs, ran, or waits to run again."""
    names = {c["name"] for c in spec.get("containers", [])}
    for st in statuses:
        if st.get("name") not in names:
            continue
        state = st.get("state") or {}
        if "running" in state or "terminated" in state:
            return True
        if "waiting" in state and "terminated" in (st.get("lastState") or {}):
            return True
    return False


def count_init(spec: dict, init_statuses: list[dict], counts: Counter) -> tuple[int, int]:
    """getPhase's init-container half: (pending, failed) init containers.

    Sidecars (restartPolicy Always) also add to the pod's running / waiting /
    unknown `counts`, which status_manager.pod_phase then fills from the app containers.
    """
    by_name = {s["name"]: s for s in init_statuses}
    pending = failed = 0
    for c in spec.get("initContainers") or []:
        st = by_name.get(c["name"])
        state = (st or {}).get("state") or {}
        last = (st or {}).get("lastState") or {}
        if is_sidecar(c):
            if st is None:
                counts["unknown"] += 1
            elif "running" in state:
                pending += 0 if st.get("started") else 1
                counts["running"] += 1
            elif "terminated" in state:
                pass
            elif "waiting" in state:
                if "terminated" not in last:
                    pending += 1
                    counts["waiting"] += 1
            else:
                pending += 1
                counts["unknown"] += 1
            continue
        if st is None or "running" in state:
            pending += 1
        elif "terminated" in state:
            failed += state["terminated"].get("exitCode") != 0
        elif "waiting" in state:
            if "terminated" in last:
                failed += last["terminated"].get("exitCode") != 0
            else:
                pending += 1
        else:
            pending += 1
    return pending, failed


def initialized(spec: dict, init_statuses: list[dict], statuses: list[dict], phase: str
                ) -> tuple[bool, str | None, str | None]:
    """GeneratePodInitializedCondition: (status, reason, message)."""
    inits = spec.get("initContainers") or []
    if not inits:
        return True, None, None
    by_name = {s["name"]: s for s in init_statuses}
    unknown, incomplete = [], []
    for c in inits:
        st = by_name.get(c["name"])
        if st is None:
            unknown.append(c["name"])
        elif is_sidecar(c):
            if not st.get("started"):
                incomplete.append(c["name"])
        elif not st.get("ready"):
            incomplete.append(c["name"])
    if phase == "Succeeded" and not unknown:
        return True, "PodCompleted", None
    if any_regular_started(spec, statuses):
        return True, None, None
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: [{' '.join(unknown)}]")
    if incomplete:
        messages.append(f"containers with incomplete status: [{' '.join(incomplete)}]")
    if messages:
        return False, "ContainersNotInitialized", ", ".join(messages)
    return True, None, None


def sidecar_statuses(spec: dict, init_statuses: list[dict]) -> list[dict]:
    """The sidecars' statuses: they count for the pod's readiness like app containers."""
    sidecars = {c["name"] for c in spec.get("initContainers") or [] if is_sidecar(c)}
    return [s for s in init_statuses if s["name"] in sidecars]
