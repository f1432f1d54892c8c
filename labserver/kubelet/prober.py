"""Container probes: startup, liveness and readiness checks, as the kubelet's prober runs them.

Like pkg/kubelet/prober (manager.go, worker.go, prober.go) and pkg/probe:
every probe a running container declares gets a worker thread of its own
that runs the check every periodSeconds (after initialDelaySeconds) and
turns successThreshold / failureThreshold consecutive outcomes into a
result, kept per container attempt (a restarted container starts over):

  readiness  starts Failure; drives containerStatuses[].ready, so the pod's
             ContainersReady / Ready conditions and kubectl's READY column.
  liveness   starts Success; on Failure the pod's sync kills the container
             ("Container X failed liveness probe, will be restarted") and
             the restart policy brings it back.
  startup    starts Unknown; until it succeeds the container is not
             `started` and neither liveness nor readiness runs; on Failure
             the container is killed like for liveness.

The three handlers run where upstream's do: exec through the runtime's exec
(the container's own view), httpGet and tcpSocket from the host against the
pod IP, which both runtimes make reachable from the host. Each failed attempt
is a Warning `Unhealthy` event "<Type> probe failed: <output>". A change of
result wakes the pod's worker (`on_change`), which writes the status; a pod
without probes costs nothing: no thread, and its containers are ready as soon
as they run.
"""
from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from . import timefmt
from .events import WARNING, EventRecorder
from .runtime import ContainerState, Runtime, RuntimeError_

log = logging.getLogger("kubelet.prober")

LIVENESS, READINESS, STARTUP = "Liveness", "Readiness", "Startup"
SUCCESS, FAILURE, UNKNOWN = "Success", "Failure", "Unknown"
FIELDS = {LIVENESS: "livenessProbe", READINESS: "readinessProbe", STARTUP: "startupProbe"}
INITIAL = {LIVENESS: SUCCESS, READINESS: FAILURE, STARTUP: UNKNOWN}
USER_AGENT = "kube-probe/1.37"
MAX_OUTPUT = 10 * 1024      # upstream keeps at most 10 KiB of a probe's output
MAX_REDIRECTS = 10


@dataclass
class ProbeSpec:
    """A v1 Probe with upstream's defaults filled in."""

    handler: dict
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace: float | None = None

    @classmethod
    def from_v1(cls, probe: dict) -> ProbeSpec:
        def num(key, default):
            value = probe.get(key)
            return default if value in (None, 0) else value
        grace = probe.get("terminationGracePeriodSeconds")
        return cls(handler=probe, initial_delay=float(probe.get("initialDelaySeconds") or 0),
                   period=float(num("periodSeconds", 10)), timeout=float(num("timeoutSeconds", 1)),
                   success_threshold=int(num("successThreshold", 1)),
                   failure_threshold=int(num("failureThreshold", 3)),
                   termination_grace=None if grace is None else float(grace))


def container_port(port, container: dict) -> int:
    """An IntOrString probe port: a number, or the name of one of the container's ports."""
    if isinstance(port, str):
        named = next((p.get("containerPort") for p in container.get("ports") or [] if p.get("name") == port), None)
        if named is None:
            if not port.isdigit():   # upstream falls back to strconv.Atoi and says so
                raise ValueError(f'strconv.Atoi: parsing "{port}": invalid syntax')
            named = int(port)
        port = named
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"invalid port number: {port}")
    return port


def _errno_text(e: OSError) -> str:
    """Go's wording of a socket error: 'connection refused', 'i/o timeout'."""
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "i/o timeout"
    text = e.strerror or str(e)
    return text[:1].lower() + text[1:]


def tcp_probe(host: str, port: int, timeout: float) -> tuple[str, str]:
    """Success when a TCP connection opens within the timeout."""
    target = f"{host}:{port}"
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return FAILURE, f"dial tcp {target}: " + ("i/o timeout" if isinstance(e, (socket.timeout, TimeoutError))
                                                  else f"connect: {_errno_text(e)}")
    return SUCCESS, ""


def http_probe(url: str, headers: dict[str, str], timeout: float) -> tuple[str, str]:
    """GET `url`: 2xx and 3xx succeed, anything else (or no answer) fails; same-host redirects are followed."""
    first = urlsplit(url)
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        kwargs = {"context": ssl._create_unverified_context()} if parts.scheme == "https" else {}
        conn = conn_cls(parts.hostname, parts.port, timeout=timeout, **kwargs)
        try:
            conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                         headers={"User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close", **headers})
            res = conn.getresponse()
            body = res.read(MAX_OUTPUT)
        except (socket.timeout, TimeoutError):
            return FAILURE, (f'Get "{url}": context deadline exceeded '
                             f"(Client.Timeout exceeded while awaiting headers)")
        except OSError as e:
            return FAILURE, f'Get "{url}": dial tcp {parts.hostname}:{parts.port}: connect: {_errno_text(e)}'
        except http.client.HTTPException as e:
            return FAILURE, f'Get "{url}": {e}'
        finally:
            conn.close()
        location = res.getheader("Location")
        if 300 <= res.status < 400 and location:
            target = urljoin(url, location)
            if urlsplit(target).hostname != first.hostname:
                return SUCCESS, "Probe terminated redirects"
            url = target
            continue
        if 200 <= res.status < 400:
            return SUCCESS, body.decode(errors="replace")
        return FAILURE, f"HTTP probe failed with statuscode: {res.status}"
    return FAILURE, f'Get "{url}": stopped after {MAX_REDIRECTS} redirects'


def _timed_out(command: list[str], timeout: float) -> str:
    return f'command timed out: "{" ".join(command)}" timed out after {timeout:g}s'


def exec_probe(runtime: Runtime, container_id: str, command: list[str], timeout: float) -> tuple[str, str]:
    """Run the command in the container: exit status 0 succeeds; the output is stdout and stderr together."""
    try:
        session = runtime.exec(container_id, command, tty=False, stdin=False)
    except RuntimeError_ as e:
        return UNKNOWN, e.message
    deadline = time.monotonic() + timeout
    output = b""
    while True:
        left = deadline - time.monotonic()
        item = session.output(max(0.0, left)) if left > 0 else None
        if item is None:
            session.kill()
            return FAILURE, _timed_out(command, timeout)
        channel, data = item
        if channel == 0:
            break
        if len(output) < MAX_OUTPUT:
            output += data
    code = session.wait(max(0.5, deadline - time.monotonic()))
    text = output[:MAX_OUTPUT].decode(errors="replace")
    if code is None:
        session.kill()
        return FAILURE, _timed_out(command, timeout)
    return (SUCCESS if code == 0 else FAILURE), text


def run_probe(runtime: Runtime, spec: ProbeSpec, container: dict, state: ContainerState,
              pod_ip: str) -> tuple[str, str]:
    """One attempt of the probe: (Success | Failure | Unknown, output)."""
    handler = spec.handler
    try:
        if "exec" in handler:
            return exec_probe(runtime, state.id, list((handler["exec"] or {}).get("command") or []), spec.timeout)
        if "httpGet" in handler:
            get = handler["httpGet"] or {}
            port = container_port(get.get("port"), container)
            host = get.get("host") or pod_ip
            path = get.get("path") or ""
            if path and not path.startswith("/"):
                path = "/" + path
            headers = {h["name"]: h.get("value", "") for h in get.get("httpHeaders") or [] if h.get("name")}
            url = f"{(get.get('scheme') or 'HTTP').lower()}://{host}:{port}{path}"
            return http_probe(url, headers, spec.timeout)
        if "tcpSocket" in handler:
            sock = handler["tcpSocket"] or {}
            return tcp_probe(sock.get("host") or pod_ip, container_port(sock.get("port"), container), spec.timeout)
        if "grpc" in handler:
            return UNKNOWN, "gRPC probes are not supported by this kubelet"
    except ValueError as e:
        return UNKNOWN, str(e)
    return UNKNOWN, "missing probe handler"


class _Worker:
    """One probe of one container of one pod, on a thread of its own (worker.go)."""

    def __init__(self, manager: ProbeManager, uid: str, container: dict, kind: str, spec: ProbeSpec):
        self.manager, self.uid, self.container, self.kind, self.spec = manager, uid, container, kind, spec
        self.name = container["name"]
        self.container_id: str | None = None
        self.result = INITIAL[kind]
        self.last, self.run = None, 0
        self.on_hold = False
        self.steps, self.delay = 0, 0.0     # looks taken, and the wait before the next (for tests)
        self.stop_event = threading.Event()
        self.trigger = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True,
                                       name=f"probe-{kind.lower()}-{self.name}")

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                delay = self._step()
            except Exception:  # a probe never takes the kubelet down
                log.exception("%s probe of %s failed unexpectedly", self.kind, self.name)
                delay = self.spec.period
            self.steps, self.delay = self.steps + 1, delay
            self.trigger.wait(delay)
            self.trigger.clear()

    def _step(self) -> float:
        """Probe once if it is time; return how long to wait before looking again."""
        m = self.manager
        pod, state, pod_ip = m.view(self.uid, self.name)
        if pod is None:
            return self.spec.period
        if state is None or state.id != self.container_id:  # a new attempt: start over
            self.container_id = state.id if state else None
            self.last, self.run, self.on_hold = None, 0, False
            self._set(INITIAL[self.kind])
        if state is None or self.on_hold:
            return self.spec.period
        if state.state != "running":
            if self.kind == READINESS:
                self._set(FAILURE)
            return self.spec.period
        if pod["metadata"].get("deletionTimestamp") and self.kind != READINESS:
            self._set(SUCCESS)     # a terminating pod's containers are not restarted for probes
            return self.spec.period
        started = timefmt.parse(state.started_at)
        if started is not None:
            running_for = time.time() - started.timestamp()
            if running_for < self.spec.initial_delay:
                return self.spec.initial_delay - running_for
        if self.kind == STARTUP:
            if m.result(self.uid, self.name, self.container_id, STARTUP) == SUCCESS:
                return self.spec.period      # started: the startup probe is done
        elif not m.started(self.uid, self.name, self.container_id):
            return self.spec.period      # liveness and readiness wait for the startup probe
        result, output = run_probe(m.runtime, self.spec, self.container, state, pod_ip)
        if self.stop_event.is_set() or m.view(self.uid, self.name)[1] is None:
            return self.spec.period
        if result != SUCCESS:
            verb = "failed" if result == FAILURE else "errored and resulted in unknown state"
            m.recorder.event(pod, WARNING, "Unhealthy", f"{self.kind} probe {verb}: {output}", self.name)
            if result == UNKNOWN:
                return self.spec.period  # an error keeps the last result, as upstream
        if result == self.last:
            self.run += 1
        else:
            self.last, self.run = result, 1
        threshold = self.spec.failure_threshold if result == FAILURE else self.spec.success_threshold
        if self.run >= threshold:
            self._set(result)
            if result == FAILURE and self.kind in (LIVENESS, STARTUP):
                self.on_hold, self.run = True, 0     # wait for the restarted container
        return self.spec.period

    def _set(self, result: str) -> None:
        if result != self.result:
            self.result = result
            self.manager.changed(self.uid)


class ProbeManager:
    """All probe workers of the kubelet (manager.go); the pod sync feeds it and asks it."""

    def __init__(self, runtime: Runtime, recorder: EventRecorder, on_change=None):
        self.runtime, self.recorder = runtime, recorder
        self.on_change = on_change or (lambda uid: None)
        self._lock = threading.Lock()
        self._workers: dict[tuple[str, str, str], _Worker] = {}
        self._pods: dict[str, tuple[dict, dict[str, ContainerState], str]] = {}  # uid -> (pod, current, ip)

    @staticmethod
    def probes_of(container: dict) -> dict[str, ProbeSpec]:
        return {kind: ProbeSpec.from_v1(container[field]) for kind, field in FIELDS.items()
                if container.get(field)}

    def update(self, pod: dict, current: dict[str, ContainerState], pod_ip: str | None) -> None:
        """The pod's containers as the sync sees them now; starts the workers its probes need."""
        spec = pod.get("spec") or {}
        containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
        probed = [(c, self.probes_of(c)) for c in containers
                  if c.get("livenessProbe") or c.get("readinessProbe") or c.get("startupProbe")]
        uid = pod["metadata"]["uid"]
        if not probed and uid not in self._pods:
            return
        start = []
        with self._lock:
            self._pods[uid] = (pod, dict(current), pod_ip or "")
            for container, probes in probed:
                for kind, probe in probes.items():
                    key = (uid, container["name"], kind)
                    if key not in self._workers:
                        self._workers[key] = worker = _Worker(self, uid, container, kind, probe)
                        start.append(worker)
                    elif self._new_attempt(key, current):
                        self._workers[key].trigger.set()   # probe the new attempt now
        for worker in start:
            worker.thread.start()

    def _new_attempt(self, key: tuple[str, str, str], current: dict[str, ContainerState]) -> bool:
        worker = self._workers[key]
        state = current.get(key[1])
        return state is not None and state.id != worker.container_id

    def view(self, uid: str, name: str) -> tuple[dict | None, ContainerState | None, str]:
        with self._lock:
            entry = self._pods.get(uid)
        if entry is None:
            return None, None, ""
        pod, current, ip = entry
        return pod, current.get(name), ip

    def result(self, uid: str, name: str, container_id: str | None, kind: str) -> str | None:
        """The probe's result for this container attempt; None when the container has no such probe."""
        with self._lock:
            worker = self._workers.get((uid, name, kind))
        if worker is None:
            return None
        if container_id is None or worker.container_id != container_id:
            return INITIAL[kind]
        return worker.result

    def started(self, uid: str, name: str, container_id: str | None) -> bool:
        """A running container is started once its startup probe succeeded (at once without one)."""
        return self.result(uid, name, container_id, STARTUP) in (None, SUCCESS)

    def ready(self, uid: str, name: str, container_id: str | None) -> bool:
        """Started, and its readiness probe (if any) succeeded for this attempt."""
        return self.started(uid, name, container_id) and \
            self.result(uid, name, container_id, READINESS) in (None, SUCCESS)

    def failed(self, uid: str, name: str, container_id: str | None) -> str | None:
        """'liveness' or 'startup' when that probe failed this attempt (the container must go), else None."""
        if self.result(uid, name, container_id, LIVENESS) == FAILURE:
            return "liveness"
        if self.result(uid, name, container_id, STARTUP) == FAILURE:
            return "startup"
        return None

    def termination_grace(self, uid: str, name: str, kind: str) -> float | None:
        """A probe's own terminationGracePeriodSeconds, if it sets one."""
        with self._lock:
            worker = self._workers.get((uid, name, LIVENESS if kind == "liveness" else STARTUP))
        return worker.spec.termination_grace if worker else None

    def changed(self, uid: str) -> None:
        try:
            self.on_change(uid)
        except Exception as e:  # pragma: no cover - the callback is the pod workers' wake
            log.warning("waking pod %s after a probe result failed: %s", uid, e)

    def remove_pod(self, uid: str) -> None:
        """Stop the pod's workers (it is gone)."""
        with self._lock:
            self._pods.pop(uid, None)
            workers = [w for key, w in self._workers.items() if key[0] == uid]
            for w in workers:
                del self._workers[(w.uid, w.name, w.kind)]
        for w in workers:
            w.stop_event.set()
            w.trigger.set()

    def container_status(self, uid: str, status: dict, state: ContainerState | None, regular_init: bool) -> dict:
        """Set `started` and `ready` of a v1 ContainerStatus from the probes (prober_manager UpdatePodStatus).

        A regular init container is ready once it completed and never `started`
        after it ended; every other container is started while running and its
        startup probe (if any) succeeded, and ready when also its readiness
        probe (if any) succeeded.
        """
        running = state is not None and state.state == "running" and "running" in status.get("state", {})
        cid = state.id if state is not None else None
        started = running and self.started(uid, status["name"], cid)
        status["started"] = started
        if regular_init:
            term = status.get("state", {}).get("terminated")
            status["ready"] = bool(term) and term.get("exitCode") == 0
        else:
            status["ready"] = started and self.ready(uid, status["name"], cid)
        return status

    def stop(self) -> None:
        with self._lock:
            uids = list(self._pods)
        for uid in uids:
            self.remove_pod(uid)
