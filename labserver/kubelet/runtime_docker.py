"""The Docker runtime: run a pod's containers in a real Docker engine, as the post did.

This is what Kubernetes' dockershim did. A pod is one network namespace, held
by an *infra* ("pause") container `k8s_POD_<pod>_<ns>_<uid>_<attempt>` that
only sleeps; the pod's containers join it (`--network container:<infra>`), so
they share the pod IP, which is the infra container's address on docker0.
Volumes are host directories under the kubelet's root dir, bind-mounted at
each container's mountPaths, and so is a per-attempt file at its
terminationMessagePath. The container's own process is PID 1 of its PID
namespace (no docker-init), as with upstream's runtimes, unless the pod
shares one process namespace; resources.limits become the engine's memory
and CPU limits, so a container over its memory limit is OOMKilled.

Containers are named `k8s_<container>_<pod>_<ns>_<uid>_<restartCount>` and
labelled with the pod's namespace, name and uid, the container name and the
restart count, so a restarted kubelet finds (adopts) its own containers from
the engine alone. Several kubelets may share one engine (tests, two-node
labs), so everything also carries the kubelet's root dir as a label and a
runtime only ever lists or removes what carries its own.

Labs are usually offline, and the engine can take long to give up on a
registry, so a pull is only attempted when the image's registry accepts a
connection quickly (cached for a minute), or, for a Docker Hub image, one of the
engine's registry mirrors does; imagePullPolicy Always then falls back to the
local image with a warning the kubelet turns into an event.
"""
from __future__ import annotations

import contextlib
import math
import shutil
import threading
import time
from pathlib import Path

import docker
import requests

from .registry import mirror_reachable, registry_of, registry_reachable
from .runtimes import default_endpoint
from . import docker_streams, termination
from .container_env import quantity
from .volumes import sub_path
from .docker_streams import DockerAttach, DockerExec
from .runtime import ContainerState, ImagePullError, PodRef, PulledImage, Runtime, RuntimeError_, Sandbox
from .streams import LogOptions

INFRA_IMAGE = "busybox:latest"
INFRA_COMMAND = ["sleep", "2147483647"]
L_NS, L_NAME, L_UID = "io.kubernetes.pod.namespace", "io.kubernetes.pod.name", "io.kubernetes.pod.uid"
L_CONTAINER, L_RESTARTS = "io.kubernetes.container.name", "io.kubernetes.container.restartCount"
L_TYPE = "io.kubernetes.docker.type"          # "podsandbox" or "container", as dockershim did
L_ATTEMPT = "io.kubernetes.sandbox.attempt"
L_ROOT = "io.labserver.kubelet.root-dir"     # which kubelet (root dir) made it: several share an engine
L_TERMINATION_LOG = "io.labserver.termination-log"   # host file mounted at terminationMessagePath
OFFLINE_PULL_SECONDS = 3.0   # how long a pull may try when the registry did not answer a probe


def normalize_image(image: str) -> str:
    """`nginx` -> `nginx:latest`; references with a tag or digest are kept."""
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return image
    return f"{image}:latest"


# The engine sets State.OOMKilled when containerd's OOM event arrives, and that event can come
# just after the exit (moby's ProcessEvent applies them in the order containerd delivers them;
# containerd/containerd#8180). So an exit 137 without the flag is inspected again on each relist
# for this long after it was first seen, instead of freezing an early 'Error' in the cache.
OOM_SETTLE_SECONDS = 3.0


def _short_time(docker_time: str | None) -> str | None:
    """Docker's nanosecond timestamps to metav1.Time; Docker's zero time to None."""
    if not docker_time or docker_time.startswith("0001-"):
        return None
    return docker_time[:19] + "Z"


def resource_limits(spec: dict) -> dict:
    """The engine's limits for a container's resources (as dockershim): memory with no extra swap,
    CPU as a quota; requests.cpu as relative shares (1 CPU = 1024)."""
    resources = spec.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    out = {}
    if limits.get("memory") is not None:
        out["mem_limit"] = out["memswap_limit"] = int(quantity(limits["memory"]))
    if limits.get("cpu") is not None:
        out["nano_cpus"] = int(quantity(limits["cpu"]) * 1e9)
    cpu_request = requests.get("cpu", limits.get("cpu"))
    if cpu_request is not None:
        out["cpu_shares"] = max(2, int(quantity(cpu_request) * 1024))
    return out


def _strip(container_id: str) -> str:
    return container_id.split("://", 1)[-1]


class DockerRuntime(Runtime):
    """Runtime over a Docker engine, through the docker SDK; see the module docstring."""

    name = "docker"

    def __init__(self, root_dir, docker_host: str | None = None):
        url = docker_host or default_endpoint()
        self.root_dir = Path(root_dir).resolve()
        self.url = url
        try:
            self.api = docker.APIClient(base_url=url, timeout=60, version="auto")
        except docker.errors.DockerException as e:
            raise RuntimeError_(f"no Docker engine answers at {url}: {e}", "RuntimeUnavailable") from None
        self._sandbox_lock = threading.Lock()
        self._init = None  # whether the engine has docker-init, learnt on first use
        self._mirrors: list[str] | None = None  # the engine's registry mirrors, learnt on first pull
        # id -> (ps key, state, monotonic time until which it is inspected again anyway, or None)
        self._states: dict[str, tuple[tuple[str, str], ContainerState, float | None]] = {}
        self._image_ids: dict[str, str] = {}  # image sha256 -> Kubernetes imageID

    # --- engine ------------------------------------------------------------------------------

    def version(self) -> str:
        return f"docker://{self.api.version()['Version']}"

    def _use_init(self) -> bool:
        """Run the pod's infra container under docker-init (it reaps a shared process namespace)."""
        if self._init is None:
            with contextlib.suppress(Exception):
                self._init = bool(self.api.info().get("InitBinary"))
            self._init = bool(self._init)
        return self._init

    # --- images ------------------------------------------------------------------------------

    def _registry_answers(self, image: str) -> bool:
        """The image's registry answers, or (Docker Hub images) one of the engine's mirrors."""
        if registry_reachable(image):
            return True
        if self._mirrors is None:
            self._mirrors = []
            with contextlib.suppress(Exception):
                self._mirrors = list((self.api.info().get("RegistryConfig") or {}).get("Mirrors") or [])
        return bool(self._mirrors) and mirror_reachable(image, self._mirrors)

    def _local_image_id(self, image: str) -> str | None:
        try:
            info = self.api.inspect_image(image)
        except docker.errors.ImageNotFound:
            return None
        return self._image_id(info)

    @staticmethod
    def _image_id(info: dict) -> str:
        digests = info.get("RepoDigests") or []
        if digests:
            return f"docker-pullable://{digests[0]}"
        return f"docker://{info['Id']}"

    def _pull(self, image: str, bounded: bool) -> None:
        """Pull `image`; raise ImagePullError with the engine's message.

        When `bounded`, give up after OFFLINE_PULL_SECONDS (the registry did not
        answer a probe, so only the engine's error message is of interest).
        """
        repo, _, tag = image.rpartition(":") if "@" not in image else (image, "", None)
        result: dict = {}

        def pull():
            try:
                for line in self.api.pull(repo, tag=tag or None, stream=True, decode=True):
                    if "error" in line:
                        result["error"] = line.get("error")
                        return
                result["ok"] = True
            except docker.errors.APIError as e:
                result["error"] = e.explanation or str(e)
            except requests.RequestException as e:
                result["error"] = str(e)

        if not bounded:
            pull()
        else:
            t = threading.Thread(target=pull, daemon=True, name=f"pull {image}")
            t.start()
            t.join(OFFLINE_PULL_SECONDS)
            if t.is_alive():
                result["error"] = (f"registry {registry_of(image)} did not answer within "
                                   f"{OFFLINE_PULL_SECONDS:g}s")
        if not result.get("ok"):
            raise ImagePullError(f'Failed to pull image "{image}": {result.get("error")}. '
                                 f"Offline? Build the lab's images with `python -m labserver images`.")

    def ensure_image(self, image: str, pull_policy: str) -> PulledImage:
        ref = normalize_image(image)
        local = self._local_image_id(ref)
        if pull_policy == "Never":
            if local:
                return PulledImage(local, pulled=False)
            err = ImagePullError(f'Container image "{image}" is not present with pull policy of Never')
            err.reason = "ErrImageNeverPull"
            raise err
        if pull_policy == "IfNotPresent" and local:
            return PulledImage(local, pulled=False)
        online = self._registry_answers(ref)
        if local and not online:
            return PulledImage(local, pulled=False,
                               warning=f"registry {registry_of(ref)} unreachable; using the local image "
                                       f"{ref} ({local.split('://', 1)[1][:19]})")
        self._pull(ref, bounded=not online)
        return PulledImage(self._local_image_id(ref) or "", pulled=True)

    # --- sandboxes -----------------------------------------------------------------------------

    def _pod_filter(self, pod: PodRef | None, kind: str) -> dict:
        labels = [f"{L_TYPE}={kind}", f"{L_ROOT}={self.root_dir}"]
        if pod:
            labels.append(f"{L_UID}={pod.uid}")
        return {"label": labels}

    def _sandbox_from(self, info: dict) -> Sandbox:
        labels = info["Config"]["Labels"]
        pod = PodRef(labels[L_NS], labels[L_NAME], labels[L_UID])
        net = info.get("NetworkSettings") or {}
        ip = net.get("IPAddress") or next(
            (n.get("IPAddress") for n in (net.get("Networks") or {}).values() if n.get("IPAddress")), "")
        return Sandbox(info["Id"], pod, ip, ready=bool(info["State"].get("Running")))

    def _sandbox_infos(self, pod: PodRef | None = None) -> list[dict]:
        infos = []
        for s in self._summaries(pod, "podsandbox"):
            with contextlib.suppress(docker.errors.NotFound):
                infos.append(self.api.inspect_container(s["Id"]))
        return infos

    def run_sandbox(self, pod: PodRef) -> Sandbox:
        with self._sandbox_lock:
            infos = sorted(self._sandbox_infos(pod), key=lambda i: int(i["Config"]["Labels"].get(L_ATTEMPT, 0)))
            for info in infos:
                if info["State"].get("Running"):
                    return self._sandbox_from(info)
            attempt = int(infos[-1]["Config"]["Labels"].get(L_ATTEMPT, 0)) + 1 if infos else 0
            for info in infos:  # dead sandboxes: their network namespace is gone
                with contextlib.suppress(docker.errors.NotFound):
                    self.api.remove_container(info["Id"], force=True)
            if not self._local_image_id(INFRA_IMAGE):
                raise RuntimeError_(f"the pod infra image {INFRA_IMAGE} is missing: "
                                    f"run `python -m labserver images`", "CreatePodSandboxError")
            name = f"k8s_POD_{pod.name}_{pod.namespace}_{pod.uid}_{attempt}"
            labels = {L_NS: pod.namespace, L_NAME: pod.name, L_UID: pod.uid,
                      L_TYPE: "podsandbox", L_ATTEMPT: str(attempt), L_ROOT: str(self.root_dir)}
            try:
                created = self.api.create_container(
                    INFRA_IMAGE, command=INFRA_COMMAND, name=name, labels=labels, hostname=pod.name[:63],
                    host_config=self.api.create_host_config(init=self._use_init() or None, ipc_mode="shareable"))
                self.api.start(created["Id"])
                return self._sandbox_from(self.api.inspect_container(created["Id"]))
            except docker.errors.APIError as e:
                raise RuntimeError_(f"pod sandbox: {e.explanation or e}", "CreatePodSandboxError") from None

    def list_sandboxes(self) -> list[Sandbox]:
        return [self._sandbox_from(i) for i in self._sandbox_infos()]

    def pod_volume_dir(self, pod: PodRef, volume: str, plugin: str = "empty-dir") -> str:
        path = self.root_dir / "pods" / pod.uid / "volumes" / volume
        if plugin != "empty-dir":
            path = path.parent / f"kubernetes.io~{plugin}" / volume
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    # --- containers ----------------------------------------------------------------------------

    def start_container(self, pod: PodRef, sandbox: Sandbox, spec: dict,
                        volumes: dict[str, str], restart_count: int) -> ContainerState:
        cname = spec["name"]
        image = normalize_image(spec["image"])
        binds = []
        for m in spec.get("volumeMounts") or []:
            host = volumes.get(m["name"])
            if host is None:
                raise RuntimeError_(f'volume "{m["name"]}" of container "{cname}" is not defined')
            if m.get("subPath"):
                host = sub_path(host, m["subPath"])
            binds.append(f"{host}:{m['mountPath']}:{'ro' if m.get('readOnly') else 'rw'}")
        # the terminationMessagePath: a host file per attempt, read by the kubelet once it exits
        termination_log = self.root_dir / "pods" / pod.uid / "containers" / cname / f"{restart_count}.termination-log"
        termination_log.parent.mkdir(parents=True, exist_ok=True)
        termination_log.write_bytes(b"")
        termination_log.chmod(0o666)
        binds.append(f"{termination_log}:{termination.message_path(spec)}:rw")
        env = [f"{e['name']}={e.get('value', '')}" for e in spec.get("env") or [] if "name" in e]
        labels = {L_NS: pod.namespace, L_NAME: pod.name, L_UID: pod.uid, L_TYPE: "container",
                  L_CONTAINER: cname, L_RESTARTS: str(restart_count), "io.kubernetes.sandbox.id": sandbox.id,
                  L_ROOT: str(self.root_dir), L_TERMINATION_LOG: str(termination_log)}
        # The process is PID 1 of its own PID namespace, as upstream: no init wrapper, unless the
        # pod shares one process namespace (the sandbox's, whose init then reaps and signals).
        shared_pids = bool(spec.get("shareProcessNamespace"))
        name = f"k8s_{cname}_{pod.name}_{pod.namespace}_{pod.uid}_{restart_count}"
        self._remove_old_attempts(pod, cname, restart_count)
        try:
            created = self.api.create_container(
                image, name=name, labels=labels,
                entrypoint=spec.get("command") or None,      # command overrides ENTRYPOINT
                command=spec.get("args") or None,            # args override CMD
                environment=env or None, working_dir=spec.get("workingDir") or None,
                tty=bool(spec.get("tty")), stdin_open=bool(spec.get("stdin")),
                host_config=self.api.create_host_config(
                    binds=binds or None, network_mode=f"container:{sandbox.id}",
                    ipc_mode=f"container:{sandbox.id}", pid_mode=f"container:{sandbox.id}" if shared_pids else None,
                    **resource_limits(spec)))
            self.api.start(created["Id"])
            return self._state_from(self.api.inspect_container(created["Id"]))
        except docker.errors.ImageNotFound as e:
            raise ImagePullError(e.explanation or str(e)) from None
        except docker.errors.APIError as e:
            # a container that was created but did not start still holds its name
            with contextlib.suppress(Exception):
                self.api.remove_container(name, force=True)
            raise RuntimeError_(f"{e.explanation or e}", "CreateContainerError") from None

    def _remove_old_attempts(self, pod: PodRef, cname: str, restart_count: int) -> None:
        """Keep only the previous attempt (for `logs --previous`); drop a same-named leftover."""
        for summary in self._summaries(pod, "container"):
            labels = summary["Labels"]
            if labels.get(L_CONTAINER) != cname:
                continue
            n = int(labels.get(L_RESTARTS, 0))
            if n >= restart_count or n < restart_count - 1:
                with contextlib.suppress(docker.errors.NotFound):
                    self.api.remove_container(summary["Id"], force=True)

    def _summaries(self, pod: PodRef | None, kind: str) -> list[dict]:
        """`docker ps -a` rows (id, state, labels) of this runtime's containers of `kind`."""
        return self.api.containers(all=True, filters=self._pod_filter(pod, kind))

    def _state_from(self, info: dict) -> ContainerState:
        labels = info["Config"]["Labels"]
        st = info["State"]
        status = st.get("Status", "")
        state = "running" if status in ("running", "paused", "restarting") else \
            "created" if status == "created" else "exited"
        reason = None
        if state == "exited":
            reason = "OOMKilled" if st.get("OOMKilled") else ("Completed" if st.get("ExitCode") == 0 else "Error")
        image_id = self._image_ids.get(info["Image"])
        if image_id is None:
            with contextlib.suppress(docker.errors.APIError):
                image_id = self._image_ids[info["Image"]] = self._image_id(self.api.inspect_image(info["Image"]))
        return ContainerState(
            id=info["Id"], name=labels[L_CONTAINER],
            pod=PodRef(labels[L_NS], labels[L_NAME], labels[L_UID]),
            image=info["Config"]["Image"], image_id=image_id or "", state=state,
            restart_count=int(labels.get(L_RESTARTS, 0)),
            started_at=_short_time(st.get("StartedAt")),
            finished_at=_short_time(st.get("FinishedAt")) if state == "exited" else None,
            exit_code=st.get("ExitCode") if state == "exited" else None,
            reason=reason, message=st.get("Error") or None,
            extra={"container_id": f"docker://{info['Id']}", "name": info["Name"].lstrip("/"),
                   "termination_log": labels.get(L_TERMINATION_LOG)})

    def list_containers(self, pod: PodRef | None = None) -> list[ContainerState]:
        """Each container's current attempt and, once it restarted, the exited one before it.

        The kubelet relists often, so a container is inspected again only when
        `docker ps` shows its state changed; otherwise the last answer is reused.
        Except a fresh exit 137 without OOMKilled: see OOM_SETTLE_SECONDS.
        """
        states, seen = [], set()
        for summary in self._summaries(pod, "container"):
            key = (summary["Id"], summary["State"])
            seen.add(summary["Id"])
            cached = self._states.get(summary["Id"])
            if cached is None or cached[0] != key or (cached[2] and time.monotonic() < cached[2]):
                try:
                    state = self._state_from(self.api.inspect_container(summary["Id"]))
                except docker.errors.NotFound:
                    continue
                recheck = None
                if state.state == "exited" and state.exit_code == 137 and state.reason != "OOMKilled":
                    recheck = cached[2] if cached and cached[0] == key and cached[2] else \
                        time.monotonic() + OOM_SETTLE_SECONDS
                cached = self._states[summary["Id"]] = (key, state, recheck)
            states.append(cached[1])
        if pod is None:
            for gone in set(self._states) - seen:
                self._states.pop(gone, None)
        return sorted(states, key=lambda c: (c.pod.namespace, c.pod.name, c.name, c.restart_count))

    def stop_container(self, container_id: str, grace_seconds: float) -> None:
        try:
            self.api.stop(_strip(container_id), timeout=max(0, math.ceil(grace_seconds)))
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            raise RuntimeError_(f"stop {container_id}: {e.explanation or e}", "KillContainerError") from None

    def remove_pod(self, pod: PodRef) -> None:
        for summary in self._summaries(pod, "container") + self._summaries(pod, "podsandbox"):
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(summary["Id"], force=True)
            self._states.pop(summary["Id"], None)
        shutil.rmtree(self.root_dir / "pods" / pod.uid, ignore_errors=True)

    def log_lines(self, container_id: str, opts: LogOptions):
        return docker_streams.log_lines(self.api, _strip(container_id), opts)

    def exec(self, container_id: str, command: list[str], tty: bool, stdin: bool) -> DockerExec:
        return DockerExec(self.api, _strip(container_id), command, tty=tty, stdin=stdin)

    def attach(self, container_id: str, stdin: bool) -> DockerAttach:
        return DockerAttach(self.api, _strip(container_id), stdin=stdin)

    def close(self) -> None:
        self.api.close()
