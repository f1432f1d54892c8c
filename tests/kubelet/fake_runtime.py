"""An in-memory container runtime for the kubelet's unit tests.

It implements runtime.Runtime faithfully (sandboxes with IPs, containers with
states and restart counts, volume dirs on disk, logs) and lets a test play
what a real runtime would do on its own: a container exiting, an image that
cannot be pulled, a start that fails.
"""
from __future__ import annotations

import itertools
import shutil
import threading
from pathlib import Path

from labserver.kubelet import timefmt
from labserver.kubelet.process_streams import ProcessExec
from labserver.kubelet.runtime import (ContainerState, ImagePullError, PodRef, PulledImage, Runtime,
                                       RuntimeError_, Sandbox)
from labserver.kubelet.streams import LogOptions, StreamSession, select_lines, timestamp


class FakeRuntime(Runtime):
    name = "fake"

    def __init__(self, root_dir: str | Path):
        self.root = Path(root_dir)
        self.lock = threading.RLock()
        self.sandboxes: dict[str, Sandbox] = {}
        self.containers: dict[str, ContainerState] = {}
        self.missing_images: dict[str, str] = {}     # image -> pull error message
        self.failing_starts: dict[str, str] = {}     # container name -> start error message
        self.exit_on_start: dict[str, int] = {}      # container name -> exit code right after start
        self.stopped: list[tuple[str, float]] = []   # (container id, grace) per stop_container
        self.started: list[tuple[str, str, int]] = []  # (pod name, container name, restart count)
        self.pulls: list[tuple[str, str]] = []
        self.version_text = "fake://1.0"
        self.down: str | None = None                 # set: the runtime does not answer
        self._ids = itertools.count(1)
        self.execs: list[tuple[str, list[str], bool]] = []   # (container id, command, tty) per exec

    def version(self) -> str:
        if self.down:
            raise RuntimeError_(self.down)
        return self.version_text

    def ensure_image(self, image: str, pull_policy: str) -> PulledImage:
        self.pulls.append((image, pull_policy))
        if image in self.missing_images:
            raise ImagePullError(self.missing_images[image])
        return PulledImage(image_id=f"fake://{image}@sha256:0", pulled=pull_policy == "Always")

    def run_sandbox(self, pod: PodRef) -> Sandbox:
        with self.lock:
            if pod.uid not in self.sandboxes:
                n = len(self.sandboxes) + 1
                self.sandboxes[pod.uid] = Sandbox(f"sb{n}", pod, f"127.1.0.{n + 1}")
            return self.sandboxes[pod.uid]

    def pod_volume_dir(self, pod: PodRef, volume: str, plugin: str = "empty-dir") -> str:
        path = self.root / "pods" / pod.uid / "volumes" / f"kubernetes.io~{plugin}" / volume
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def start_container(self, pod: PodRef, sandbox: Sandbox, spec: dict,
                        volumes: dict[str, str], restart_count: int) -> ContainerState:
        name = spec["name"]
        if name in self.failing_starts:
            raise RuntimeError_(self.failing_starts[name], "CreateContainerError")
        with self.lock:
            cid = f"c{next(self._ids)}"
            state = ContainerState(id=cid, name=name, pod=pod, image=spec["image"],
                                   image_id=f"fake://{spec['image']}@sha256:0", state="running",
                                   restart_count=restart_count, started_at=timefmt.rfc3339(),
                                   extra={"volumes": dict(volumes)})
            self.containers[cid] = state
            self.started.append((pod.name, name, restart_count))
        if name in self.exit_on_start:
            self.exit(cid, self.exit_on_start[name])
        return state

    def exit(self, container_id: str, code: int, message: str | None = None) -> None:
        """Play a container ending by itself with `code` (and a termination message, as the end of its log)."""
        with self.lock:
            st = self.containers[container_id]
            st.state, st.exit_code, st.message = "exited", code, message
            st.finished_at = timefmt.rfc3339()
            st.reason = "Completed" if code == 0 else "Error"

    def find(self, pod_name: str, container: str) -> list[ContainerState]:
        with self.lock:
            return [c for c in self.containers.values() if c.pod.name == pod_name and c.name == container]

    def running(self, pod_name: str, container: str) -> ContainerState:
        return next(c for c in self.find(pod_name, container) if c.state == "running")

    def list_containers(self, pod: PodRef | None = None) -> list[ContainerState]:
        with self.lock:
            return [ContainerState(**vars(c)) for c in self.containers.values()
                    if pod is None or c.pod.uid == pod.uid]

    def list_sandboxes(self) -> list[Sandbox]:
        with self.lock:
            return list(self.sandboxes.values())

    def stop_container(self, container_id: str, grace_seconds: float) -> None:
        with self.lock:
            self.stopped.append((container_id, grace_seconds))
            st = self.containers.get(container_id)
            if st and st.state == "running":
                self.exit(container_id, 137 if grace_seconds == 0 else 0)

    def remove_pod(self, pod: PodRef) -> None:
        with self.lock:
            self.sandboxes.pop(pod.uid, None)
            for cid in [c.id for c in self.containers.values() if c.pod.uid == pod.uid]:
                del self.containers[cid]
        shutil.rmtree(self.root / "pods" / pod.uid, ignore_errors=True)

    def log_lines(self, container_id: str, opts: LogOptions):
        with self.lock:
            if container_id not in self.containers:
                raise RuntimeError_(f"no container {container_id}", "NotFound")
            name = self.containers[container_id].name
        lines = [(timestamp(), f"line {i} of {name}\n".encode()) for i in range(1, 6)]
        return iter(select_lines(lines, opts))

    def exec(self, container_id: str, command: list[str], tty: bool, stdin: bool) -> StreamSession:
        """Runs `command` on the host (the fake has no containers to enter)."""
        with self.lock:
            if container_id not in self.containers:
                raise RuntimeError_(f"no container {container_id}", "NotFound")
        self.execs.append((container_id, list(command), tty))
        return ProcessExec(list(command), {"PATH": "/usr/bin:/bin"}, stdin=stdin, tty=tty)

    def attach(self, container_id: str, stdin: bool) -> StreamSession:
        raise RuntimeError_("the fake runtime cannot attach", "NotFound")
