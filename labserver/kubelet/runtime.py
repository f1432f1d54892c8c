"""The one small interface between the kubelet and whatever runs containers.

Kubernetes calls this the Container Runtime Interface (CRI): the kubelet asks
for a pod *sandbox* (the network namespace and IP the pod's containers share),
then creates and starts containers in it, and asks for their state. Two
runtimes implement it here:

  docker   (runtime_docker.py)   an infra container holds the pod's network
                                 namespace; the pod's containers join it.
  process  (runtime_process.py)  each pod gets its own loopback address; each
                                 container is a host process (sandboxed with
                                 bubblewrap when available).

Everything the runtime knows is recoverable from the runtime itself (container
labels, state files), so a restarted kubelet adopts what is already running.
"""
from __future__ import annotations

import abc
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

from .streams import LogLine, LogOptions, StreamSession


class RuntimeError_(Exception):
    """A runtime operation failed; `reason` is the Kubernetes waiting reason."""

    def __init__(self, message: str, reason: str = "CreateContainerError"):
        super().__init__(message)
        self.reason = reason
        self.message = message


class ImagePullError(RuntimeError_):
    """The image cannot be had: reason ErrImagePull, message says why and what to do."""

    def __init__(self, message: str):
        super().__init__(message, "ErrImagePull")


@dataclass
class PodRef:
    """What identifies a pod to a runtime (labels on Docker containers, state files)."""

    namespace: str
    name: str
    uid: str


@dataclass
class Sandbox:
    """A pod's shared network namespace and volume directory."""

    id: str
    pod: PodRef
    ip: str
    ready: bool = True


@dataclass
class ContainerState:
    """A container as the runtime sees it, enough for a v1 ContainerStatus.

    state is "created", "running" or "exited"; times are RFC 3339 strings.
    """

    id: str                     # runtime-specific id, e.g. a Docker container id
    name: str                   # the container's name in the pod spec
    pod: PodRef
    image: str
    image_id: str               # e.g. "docker-pullable://nginx@sha256:..." or "process://nginx"
    state: str                  # created | running | exited
    restart_count: int = 0      # which attempt this is (kept by the runtime, survives kubelet restarts)
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    reason: str | None = None   # for exited: Completed / Error / OOMKilled
    message: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def container_id(self) -> str:
        """The Kubernetes containerID: '<runtime>://<id>'."""
        return self.extra.get("container_id", self.id)


@dataclass
class PulledImage:
    """Result of ensuring an image: its id, and any warning worth an event."""

    image_id: str
    pulled: bool                 # True when it was fetched now, False when already present
    warning: str | None = None   # e.g. "registry unreachable; using the local image"


class Runtime(abc.ABC):
    """What the kubelet needs from a container runtime; see the module docstring."""

    name: str = "abstract"
    enforces_limits: bool = True   # whether containers' resources.limits are enforced

    @abc.abstractmethod
    def version(self) -> str:
        """For node.status.nodeInfo.containerRuntimeVersion, e.g. 'docker://28.2.2'."""

    @abc.abstractmethod
    def ensure_image(self, image: str, pull_policy: str) -> PulledImage:
        """Make the image available per imagePullPolicy; raise ImagePullError if it can't."""

    @abc.abstractmethod
    def run_sandbox(self, pod: PodRef) -> Sandbox:
        """Create (or return the existing) sandbox of the pod, with its IP."""

    @abc.abstractmethod
    def pod_volume_dir(self, pod: PodRef, volume: str, plugin: str = "empty-dir") -> str:
        """Host directory backing the pod's `volume` of that plugin (empty-dir, configmap, secret,
        downward-api, projected), created if missing, removed with the pod."""

    @abc.abstractmethod
    def start_container(self, pod: PodRef, sandbox: Sandbox, spec: dict,
                        volumes: dict[str, str], restart_count: int) -> ContainerState:
        """Create and start a container from its v1 spec in the sandbox.

        `volumes` maps volume name to host directory; the container sees each
        at its volumeMounts' mountPath. Raises RuntimeError_ on failure.
        """

    @abc.abstractmethod
    def list_containers(self, pod: PodRef | None = None) -> list[ContainerState]:
        """Current state of the containers of one pod, or of all pods this runtime holds."""

    @abc.abstractmethod
    def list_sandboxes(self) -> list[Sandbox]:
        """All sandboxes this runtime holds (for adoption after a kubelet restart)."""

    @abc.abstractmethod
    def stop_container(self, container_id: str, grace_seconds: float) -> None:
        """SIGTERM, then SIGKILL after the grace period."""

    @abc.abstractmethod
    def remove_pod(self, pod: PodRef) -> None:
        """Remove the pod's containers, sandbox and volume dirs; nothing of it remains."""

    @abc.abstractmethod
    def log_lines(self, container_id: str, opts: LogOptions) -> Iterator[LogLine | None]:
        """The container's output as (timestamp, line) pairs, per opts (tail, since, follow).

        With opts.follow the iterator goes on until the container has ended,
        yielding None about every second while nothing new comes, so that the
        caller can notice a client that went away and close the iterator.
        Raises RuntimeError_ (reason NotFound) for an unknown container.
        """

    def logs(self, container_id: str, tail: int | None = None) -> bytes:
        """The container's stdout/stderr so far (no timestamps)."""
        return b"".join(line for _, line in filter(None, self.log_lines(container_id, LogOptions(tail=tail))))

    @abc.abstractmethod
    def exec(self, container_id: str, command: list[str], tty: bool, stdin: bool) -> StreamSession:
        """Run `command` inside the running container (its file system, environment and namespaces)."""

    @abc.abstractmethod
    def attach(self, container_id: str, stdin: bool) -> StreamSession:
        """Connect to the running container's own stdio (its output from now on)."""

    def port_forward(self, sandbox: Sandbox, port: int, timeout: float = 5.0) -> socket.socket:
        """A connected socket to `port` in the pod's network namespace (RuntimeError_ if refused).

        Both runtimes give each pod an address this host reaches (a loopback
        address, or the infra container's address on the Docker bridge), so
        connecting to podIP:port is the pod's own port, as the kubelet's
        port-forward reaches it from inside the sandbox.
        """
        try:
            return socket.create_connection((sandbox.ip, port), timeout=timeout)
        except OSError as e:
            raise RuntimeError_(f"error forwarding port {port} to pod {sandbox.pod.name}: "
                                f"dial tcp {sandbox.ip}:{port}: {e.strerror or e}", "PortForwardError") from None

    def close(self) -> None:  # pragma: no cover - optional
        """Release client resources."""
