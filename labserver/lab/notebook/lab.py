"""What the notebooks call: start the post's cluster one piece at a time, and look at it.

The notebooks stay short (a sentence, a cell, its output); the work is here.
`Lab()` picks the container runtime (env LAB_RUNTIME = process | docker | auto;
auto means Docker when an engine answers, as in the post) and says which one it
uses. Each `start_*` is idempotent: when the piece already runs (started by an
earlier notebook, whose kernel is gone) it says so and reuses it. Everything a
later kernel needs to find it again - pid files, the etcd container id, ports,
logs - lives in the lab state dir (`.lab/`), like the post's `etcd-container-id`.

Lines that differ between the two runtimes start with `[docker]` or
`[process]`, so a reader sees which runtime did what, and the notebook tests
can mask exactly those lines (notebooks/sanitize.cfg).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

from ..supervise import records
from ..supervise.components import choose_runtime, default_node_name, start_apiserver, start_kubelet
from ..supervise.etcd import start_etcd as start_etcd_process
from ..supervise.procs import LabError, port_in_use, wait_for
from ..supervise.records import Ports
from ..supervise.state import REPO_ROOT, state_dir
from .controlplane import ControlPlane, progress
from .curl import Exchange, Exchanges
from .kubectl import Kubectl
from .manifests import post_pod
from .pictures import Pictures
from .svg import architecture
from . import exercises, shell

LEASE_DEMO = "/apis/coordination.k8s.io/v1/namespaces/default/leases/demo"



# Waiting reasons that waiting longer does not cure (the kubelet retries, with a back-off, the same failure).
FAILED_WAITING = ("CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                  "CreateContainerError", "RunContainerError", "CreateContainerConfigError")


def pod_failure(pod: dict) -> str | None:
    """Why the pod's containers cannot run, from their statuses; None while nothing has failed.

    A container that ended with a non-zero code (now, or in its last attempt while
    it is not running again) says so with the end of its log (the kubelet puts it
    in the terminated message), e.g. nginx's `bind() to 127.1.0.2:80 failed (13:
    Permission denied)`. One running again after an end (notebook 06 kills nginx
    on purpose) is not a failure, ready yet or not.
    """
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        state, last = cs.get("state") or {}, cs.get("lastState") or {}
        ended = state.get("terminated") or (None if "running" in state else last.get("terminated")) or {}
        if ended.get("exitCode", 0) != 0:
            lines = [line.strip() for line in (ended.get("message") or "").splitlines() if line.strip()]
            said = f": {' / '.join(lines[-3:])}" if lines else " (`kubectl logs --previous` shows its output)"
            return f"container {cs['name']} exited with code {ended['exitCode']}{said}"
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in FAILED_WAITING:
            return f"container {cs['name']} is {waiting['reason']}: {waiting.get('message') or 'no message'}"
    return None


class Lab(ControlPlane):
    """The post's cluster, driven from notebooks; see the module docstring.

    The scheduler, the controller-manager and more nodes (notebooks 08 and 09) are
    started by the methods it takes from ControlPlane (controlplane.py).
    """

    def __init__(self, runtime: str | None = None, ports: Ports | None = None, quiet: bool = False):
        self.dir = state_dir()
        self.runtime, why, self.docker_host = choose_runtime(runtime)
        self.ports = ports or records.ports()
        records.save_ports(self.ports)
        if self.docker_host:  # this kernel's Docker calls and the `docker` lines shown use it
            os.environ["DOCKER_HOST"] = self.docker_host
        self.etcd_url = f"http://127.0.0.1:{self.ports.etcd}"
        self.api_url = f"http://127.0.0.1:{self.ports.apiserver}"
        self.curl = Exchanges()  # what notebook 02's curls did, read back from their files for the picture
        self.kubectl = Kubectl(self.dir, self.api_url)
        self.pictures = Pictures(self.curl, self.kubectl, self.etcd_client)
        if not quiet:
            print(f"[{self.runtime}] runtime: {self.runtime} ({why})")
            print(f"lab state (pid files, container ids, logs): {self.shown(self.dir)}/")

    # --- small helpers -----------------------------------------------------------------------

    def shell_setup(self) -> None:
        """Write .lab/env.sh and set the same in this kernel, so `!` commands reach the lab; print it."""
        self.kubectl.env()  # writes .lab/kubeconfig
        path = shell.apply(self.dir, self.ports, self.runtime, self.docker_host)
        try:
            from IPython import get_ipython
            ip = get_ipython()
        except ImportError:  # pragma: no cover - the venv has IPython
            ip = None
        if ip is not None:
            shell.install_system(ip)
        print(f"wrote {self.shown(path)}; this notebook's `!` commands now run with bash, with these settings "
              f"(in a terminal: `source {self.shown(path)}`):")
        print(path.read_text().rstrip())

    def check(self, exercise: str, **values) -> None:
        """Check an exercise (exercises.py): print ✓ or a hint; never raises."""
        exercises.check(self, exercise, **values)

    def shown(self, path) -> str:
        """A path as the notebooks show it: relative to the checkout when inside it."""
        path = Path(path)
        with contextlib.suppress(ValueError):
            return str(path.resolve().relative_to(REPO_ROOT))
        return str(path)

    def _shown_cmd(self, args) -> str:
        words = ["python" if a == sys.executable else a for a in args]
        if self.docker_host:  # the engine this kernel exported: shown as a reader's shell has it
            words = [w.replace(self.docker_host, "$DOCKER_HOST") for w in words]
        return "$ " + " ".join(w.replace(str(self.dir), self.shown(self.dir)) for w in words)

    def _healthy(self, url: str) -> bool:
        try:
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    # --- etcd ----------------------------------------------------------------------------------

    def etcd_running(self) -> bool:
        return records.etcd_alive() and self._healthy(f"{self.etcd_url}/health")

    def start_etcd(self) -> None:
        """Start etcd (the post's container, or the etcd binary) with an empty data dir, or reuse it."""
        self._start_etcd()

    def _start_etcd(self, fresh: bool = True) -> bool:
        """Start etcd (the post's container, or the etcd binary) with an empty data dir.

        With `fresh` False the data dir is kept, so etcd comes back with
        everything it stored (notebook 06 stops and starts it). Returns True
        when it was started now, False when a running one is reused.
        """
        if self.etcd_running():
            print(f"etcd is already running at {self.etcd_url}: reusing it")
            print(f"[{records.etcd_kind()}] {records.etcd_describe()}")
            return False
        for port in (self.ports.etcd, self.ports.etcd_peer):
            if port_in_use("127.0.0.1", port):
                raise LabError(f"port {port} is taken by something the lab did not start: stop it "
                               f"(`ss -ltnp 'sport = :{port}'` shows what), or run `python -m labserver teardown`")
        data = self.dir / "etcd-data"
        if fresh or not data.is_dir():
            if data.exists():
                shutil.rmtree(data)
                progress(f"removed {self.shown(data)}/ left by an earlier run")
            data.mkdir()
            print(f"etcd's data dir: {self.shown(data)}/, empty, so the cluster starts from nothing")
        else:
            print(f"etcd's data dir: {self.shown(data)}/, kept, so etcd starts with everything it stored")
        if self.runtime == "docker" and self.ports.etcd == 2379:
            self._start_etcd_container(data)
        else:
            self._start_etcd_process(data)
        wait_for(lambda: self._healthy(f"{self.etcd_url}/health") or records.etcd_failed(),
                 30, "etcd /health", progress=progress)
        if records.etcd_failed():
            raise LabError(f"etcd exited: {records.etcd_log_tail()}")
        print(f"etcd answers on {self.etcd_url}")
        return True

    def _start_etcd_container(self, data: Path) -> None:
        """The post's own command, run by a shell in the lab dir exactly as shown.

        Not root (a docker-group user): etcd runs as this user, so that its files in
        etcd-data/ stay this user's, and the next notebook 01 can remove them.
        """
        from ..machine.images import ETCD, ETCD_DATA_DIR
        user = "--user=$(id -u):$(id -g) " if os.geteuid() != 0 else ""
        command = (f"docker run {user}--volume=$PWD/{data.name}:{ETCD_DATA_DIR} --detach --net=host "
                   f"{ETCD} > {records.ETCD_CONTAINER}")
        print(f"[docker] $ cd {self.shown(self.dir)}")
        print(f"[docker] $ {command}")
        r = subprocess.run(["bash", "-c", command], cwd=self.dir, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise LabError(f"docker run {ETCD} exited with {r.returncode}: {r.stderr.strip()[-300:]}")
        container_id = records.etcd_container_id() or ""
        records.save_etcd_container(container_id)  # the same id, and no etcd pid file is left to mislead
        print(f"[docker] container {container_id[:12]} started; its id is saved in "
              f"{self.shown(self.dir / records.ETCD_CONTAINER)}")

    def _start_etcd_process(self, data: Path) -> None:
        server = start_etcd_process(data, self.ports.etcd, self.ports.etcd_peer,
                                    log_path=self.dir / "etcd.log", pid_path=self.dir / records.ETCD_PID,
                                    progress=progress)
        print(f"[process] {self._shown_cmd(server.process.popen.args)}"
              .replace(str(Path(server.process.popen.args[0]).parent) + "/", ""))
        print(f"[process] etcd runs as process {server.process.pid}; its pid is saved in "
              f"{self.shown(self.dir / records.ETCD_PID)}")

    # --- pictures (pictures.py) ---------------------------------------------------------------

    def sequence(self, who: tuple[str, ...], path: str = LEASE_DEMO, files_dir: Path | None = None) -> str:
        """Sequence diagram of what each of `who` read, sent and got back, from the files their curls wrote.

        Notebook 02's curl commands leave, for each client, `<who>.json` (the GET
        answer), `lease-<who>.json` (the PUT body) and `<who>-put.json` (the PUT answer).
        """
        exchanges = self.curl.exchanges
        exchanges.clear()
        files_dir = files_dir or shell.NOTEBOOKS_DIR
        files = {w: {part: files_dir / name.format(w) for part, name in
                     (("read", "{}.json"), ("sent", "lease-{}.json"), ("answer", "{}-put.json"))} for w in who}
        missing = [str(f.name) for w in who for f in files[w].values() if not f.exists()]
        if missing:
            raise LabError(f"run the curl cells above first: no {', '.join(missing)}")
        loaded = {w: {part: json.loads(f.read_text()) for part, f in files[w].items()} for w in who}
        for w in who:
            exchanges.append(Exchange(w, "GET", path, 200, loaded[w]["read"]))
        for w in who:
            answer = loaded[w]["answer"]
            status = answer.get("code", 500) if answer.get("kind") == "Status" else 200
            exchanges.append(Exchange(w, "PUT", path, status, answer, loaded[w]["sent"]))
        return self.pictures.sequence(who)

    def kubectl_sequence(self, *args: str) -> str:
        """Run kubectl with -v=6 and draw the requests it logged."""
        return self.pictures.kubectl_sequence(*args)

    def pod_history(self, name: str, namespace: str = "default") -> list[tuple]:
        """Every revision of the pod's etcd key, oldest first.

        The table's middle rows are progress lines ('  … ', dropped by the notebook
        tests); the other rows get the same indent, so the columns line up.
        """
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rows = self.pictures.pod_history(name, namespace)
        text = out.getvalue().splitlines()
        for i, line in enumerate(text):
            print(line if i == 0 or line.startswith("  … ") else f"    {line}")
        return rows

    def etcd_value(self, key: str) -> dict:
        """Print one etcd value as stored, with its revisions; return it parsed."""
        return self.pictures.etcd_value(key)

    def architecture(self, highlight=None, caption: str | None = None):
        """The post's cluster as an SVG picture, with `highlight` (e.g. 'etcd') lit up."""
        return architecture(highlight, caption)

    def pod_flow(self, name: str = "nginx"):
        """The pod's journey (POST, etcd, watch, kubelet, runtime, status) as recorded, as an SVG picture."""
        return self.pictures.pod_flow(self.api_url, name)

    # --- etcd, continued ---------------------------------------------------------------------------

    def etcd_client(self):
        """An etcd3-API client on the lab's etcd (the same library the API server uses)."""
        import pyetcd
        return pyetcd.client("127.0.0.1", self.ports.etcd)

    def etcd_keys(self, prefix: str = "/registry/") -> list[tuple[str, int]]:
        """(key, mod_revision) of every key under prefix, sorted by key."""
        client = self.etcd_client()
        try:
            return sorted((meta.key.decode(), meta.mod_revision)
                          for _, meta in client.get_prefix(prefix, keys_only=True))
        finally:
            client.close()

    # --- API server and kubelet ----------------------------------------------------------------

    def _running(self, name: str, health: str) -> bool:
        return records.component_alive(name) and self._healthy(health)

    def running(self, name: str) -> bool:
        """Whether the lab's 'etcd', 'apiserver' or 'kubelet' runs and answers."""
        if name == "etcd":
            return self.etcd_running()
        port = self.ports.apiserver if name == "apiserver" else self.ports.kubelet
        return self._running(name, f"http://127.0.0.1:{port}/{'readyz' if name == 'apiserver' else 'healthz'}")

    def start_apiserver(self) -> None:
        """Start the API server on etcd, like the post's ./kube-apiserver command, or reuse it."""
        self._start_apiserver()

    def _start_apiserver(self) -> bool:
        """Start the API server on etcd, like the post's ./kube-apiserver command; True if started now."""
        if self._running("apiserver", f"{self.api_url}/readyz"):
            print(f"the API server is already running at {self.api_url}: reusing it")
            return False
        if not self.etcd_running():
            raise LabError("etcd is not running: run notebook 01 first (or this notebook's catch-up cell)")
        if port_in_use("127.0.0.1", self.ports.apiserver):
            raise LabError(f"port {self.ports.apiserver} is taken by something the lab did not start: stop it, "
                           f"or run `python -m labserver teardown`")
        server = start_apiserver(self.etcd_url, self.dir / "apiserver.log", port=self.ports.apiserver,
                                 pid_path=self.dir / records.pid_file("apiserver"), progress=progress)
        print(self._shown_cmd(server.process.popen.args))
        print(f"API server process {server.process.pid} (pid in {self.shown(self.dir / 'apiserver.pid')}, "
              f"log in {self.shown(self.dir / 'apiserver.log')})")
        print(f"the API server answers on {self.api_url} (GET /readyz: 200)")
        return True

    def node_name(self) -> str:
        """The node's name, as the lab passed it to its kubelet (--hostname-override)."""
        return records.kubelet().get("node") or default_node_name()

    def start_kubelet(self) -> None:
        """Start the kubelet with --api-servers and wait until its node is Ready, or reuse it."""
        self._start_kubelet()

    def _start_kubelet(self) -> bool:
        """Start the kubelet with --api-servers; wait until its node is Ready. True if started now.

        The lab decides the node name, the runtime and its engine once and passes
        them as flags; the runtime is then read back from the node's status.
        """
        health = f"http://127.0.0.1:{self.ports.kubelet}/healthz"
        if self._running("kubelet", health):
            node = self.get_node(self.node_name()) or {}
            runtime = self._runtime_of(node) or records.kubelet().get("runtime")
            print(f"the kubelet is already running (node {self.node_name()}): reusing it")
            print(f"[{runtime}] its pods run with the {runtime} runtime")
            return False
        if not self._running("apiserver", f"{self.api_url}/readyz"):
            raise LabError("the API server is not running: run notebook 02 first (or this notebook's catch-up cell)")
        if port_in_use("127.0.0.1", self.ports.kubelet):
            raise LabError(f"port {self.ports.kubelet} is taken by something the lab did not start: stop it, "
                           f"or run `python -m labserver teardown`")
        root = self.dir / "kubelet"
        server = start_kubelet(f"127.0.0.1:{self.ports.apiserver}", root, self.dir / "kubelet.log",
                               hostname=default_node_name(), runtime=self.runtime, endpoint=self.docker_host,
                               port=self.ports.kubelet, pid_path=self.dir / records.pid_file("kubelet"),
                               progress=progress)
        flags = server.flags
        # What teardown needs even if the kubelet dies: recorded from the flags passed.
        records.save_kubelet({"runtime": flags["runtime"], "endpoint": flags.get("container-runtime-endpoint"),
                              "root_dir": flags["root-dir"], "node": flags["hostname-override"],
                              "port": flags["port"]})
        print(self._shown_cmd(server.process.popen.args))
        print(f"kubelet process {server.process.pid} (pid in {self.shown(self.dir / 'kubelet.pid')}, "
              f"log in {self.shown(self.dir / 'kubelet.log')})")
        node = self.wait_for_node(flags["hostname-override"])
        lease = f"{self.api_url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node['metadata']['name']}"
        wait_for(lambda: requests.get(lease, timeout=2).status_code == 200, 30,
                 f"the Lease of node {node['metadata']['name']}", progress=progress)
        if self._runtime_of(node) != flags["runtime"]:
            raise LabError(f"the kubelet was told --runtime={flags['runtime']} but its node reports "
                           f"{node['status']['nodeInfo'].get('containerRuntimeVersion')!r}")
        return True

    @staticmethod
    def _runtime_of(node: dict) -> str | None:
        """'docker' or 'process', from the node's status.nodeInfo.containerRuntimeVersion."""
        version = node.get("status", {}).get("nodeInfo", {}).get("containerRuntimeVersion") or ""
        return version.split("://", 1)[0] or None

    def get_node(self, name: str) -> dict | None:
        r = requests.get(f"{self.api_url}/api/v1/nodes/{name}", timeout=5)
        return r.json() if r.status_code == 200 else None

    def wait_for_node(self, node: str, timeout: float = 30) -> dict:
        """Wait until the node exists and its Ready condition is True."""
        def ready():
            r = requests.get(f"{self.api_url}/api/v1/nodes/{node}", timeout=2)
            if r.status_code != 200:
                return None
            obj = r.json()
            conds = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
            return obj if conds.get("Ready") == "True" else None
        obj = wait_for(ready, timeout, f"node {node} to be Ready", progress=progress)
        print(f"node {node} is registered and Ready")
        return obj

    # --- pods ----------------------------------------------------------------------------------

    def pod_manifest(self, name: str = "nginx") -> dict:
        """The post's nginx pod (notebooks/nginx.yaml), renamed, with this node as nodeName."""
        return post_pod(name, self.node_name())

    def get_pod(self, name: str, namespace: str = "default") -> dict | None:
        r = requests.get(f"{self.api_url}/api/v1/namespaces/{namespace}/pods/{name}", timeout=5)
        return r.json() if r.status_code == 200 else None

    def wait_for_pod(self, name: str, timeout: float = 60, namespace: str = "default") -> dict:
        """Poll the pod until it is Running with every container ready; show each change."""
        start = time.monotonic()
        seen: list[str] = []

        def running():
            pod = self.get_pod(name, namespace)
            if pod is None:
                return None
            status = pod.get("status", {})
            cs = status.get("containerStatuses") or []
            ready = sum(1 for c in cs if c.get("ready"))
            total = len(pod["spec"]["containers"])
            waiting = [c["state"]["waiting"].get("reason") for c in cs if "waiting" in c.get("state", {})]
            now = f"{status.get('phase')} {ready}/{total} ready" + (f" ({', '.join(sorted(set(waiting)))})"
                                                                   if waiting else "")
            if not seen or seen[-1] != now:
                seen.append(now)
                progress(f"{time.monotonic() - start:5.1f}s  {name}: {now}")
            if status.get("phase") == "Running" and ready == total:
                return pod
            failure = pod_failure(pod)
            if failure:   # stop now: the kubelet would only retry the same failure
                raise LabError(f"pod {name} cannot run: {failure} (`kubectl describe pod {name}` shows its events)")
            return None

        pod = wait_for(running, timeout, f"pod {name} to be Running", progress=progress, every=5)
        print(f"{name} is Running with {len(pod['spec']['containers'])}/{len(pod['spec']['containers'])} "
              f"containers ready, after {time.monotonic() - start:.1f}s")
        return pod

    def ensure_pod(self, name: str) -> None:
        """Create the post's pod under this name unless it exists; wait until Running."""
        self._ensure_pod(name)

    def _ensure_pod(self, name: str) -> bool:
        """Create the post's pod under this name unless it exists; wait until Running. True if created now."""
        created = self.get_pod(name) is None
        if created:
            r = requests.post(f"{self.api_url}/api/v1/namespaces/default/pods",
                              json=self.pod_manifest(name), timeout=10)
            if r.status_code != 201:
                raise LabError(f"creating pod {name}: HTTP {r.status_code} {r.text[:200]}")
            print(f"created pod {name}")
        else:
            print(f"pod {name} already exists")
        self.wait_for_pod(name)
        return created

    def remove_leftover(self, path: str, timeout: float = 60) -> None:
        """Delete the object at `path` if an earlier run of the notebook left it; wait until gone.

        Prints nothing when there is nothing to remove (a first run).
        """
        url = f"{self.api_url}{path}"
        if requests.get(url, timeout=5).status_code != 200:
            return
        requests.delete(url, timeout=5)
        wait_for(lambda: requests.get(url, timeout=5).status_code == 404, timeout,
                 f"{path} to be deleted", progress=progress)
        print(f"(deleted {path.rsplit('/', 1)[-1]}, left by an earlier run of this notebook)")

    def write_file(self, name: str, text: str) -> Path:
        """Write a file next to the notebooks (where the `!` commands run); print its name."""
        path = shell.NOTEBOOKS_DIR / name
        path.write_text(text)
        print(f"wrote {self.shown(path)}")
        return path

    # --- bringing a notebook up to date, and taking it all down ----------------------------------

    def catch_up(self, upto: int, pods: bool = True) -> None:
        """Start what notebooks 01..upto would have started; print one line per piece.

        pods=False leaves out the post's two pods (notebooks 04 and 05): the later
        notebooks need the servers, not those pods.
        """
        steps = [(1, "etcd", self._start_etcd, self.etcd_url),
                 (2, "API server", self._start_apiserver, self.api_url),
                 (3, "kubelet", self._start_kubelet, f"node {self.node_name()}"),
                 (4, "pod nginx", lambda: self._ensure_pod("nginx"), "Running"),
                 (5, "pod nginx-the-second", lambda: self._ensure_pod("nginx-the-second"), "Running"),
                 (8, "scheduler", lambda: self._start_loop("scheduler", self.ports.scheduler),
                  f"127.0.0.1:{self.ports.scheduler}"),
                 (8, "kubelet of node-2", lambda: self._add_node("node-2"), "node node-2")]
        for number, what, start, where in steps:
            if number > upto:
                break
            if not pods and what.startswith("pod "):
                continue
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    started = start()
            except Exception:
                print(out.getvalue())
                raise
            how = "started now" if started else "already running"
            print(f"✓ {what:<22} {where:<24} ({how}, notebook {number:02d})")

    def pod_containers(self) -> list:
        """The containers the runtime still holds for the lab's pods (see teardown)."""
        from ..supervise import teardown
        return teardown.runtime_containers(say=print)

    def stop(self, what: str) -> None:
        """Stop one piece: 'controller-manager', 'scheduler', 'kubelet' (the first node's), an added node's
        kubelet by the node's name ('node-2'), 'kubelets' (all), 'apiserver' or 'etcd'; say what was stopped."""
        from ..supervise import teardown
        stops = {"kubelet": teardown.stop_kubelet, "kubelets": teardown.stop_kubelets,
                 "scheduler": teardown.stop_scheduler, "controller-manager": teardown.stop_controller_manager,
                 "apiserver": teardown.stop_apiserver, "etcd": teardown.stop_etcd}
        if what in records.added_nodes():
            stopped = teardown.stop_node_kubelet(what, say=print)
        elif what in stops:
            stopped = stops[what](say=print)
        else:
            raise LabError(f"lab.stop({what!r}): choose one of {', '.join(map(repr, stops))} or an added node's name")
        if not stopped:
            print(f"{what}: was not running")

    def start(self, what: str) -> None:
        """Start a stopped piece again: 'etcd' on the data it kept, 'apiserver' or 'kubelet'."""
        starts = {"etcd": lambda: self._start_etcd(fresh=False), "apiserver": self._start_apiserver,
                  "kubelet": self._start_kubelet}
        if what not in starts:
            raise LabError(f"lab.start({what!r}): choose one of {', '.join(map(repr, starts))}")
        started = starts[what]()
        if started:
            print(f"{what}: started again")
        if what == "etcd" and records.component_alive("apiserver"):
            self._wait_reads_again()

    def _wait_reads_again(self, steady: float = 2.0, timeout: float = 30) -> None:
        """Wait until every read the API server answers has been OK for `steady` seconds.

        It reconnects to etcd by itself, one etcd connection at a time, each
        with its own retry delay (up to a second): one good answer does not
        mean the next one is good too.
        """
        since: list[float] = []

        def steady_ok():
            ok = requests.get(f"{self.api_url}/api/v1/pods", timeout=5).ok
            if not ok:
                since.clear()
            elif not since:
                since.append(time.monotonic())
            return ok and time.monotonic() - since[0] >= steady

        wait_for(steady_ok, timeout, "the API server to read from etcd again", progress=progress)
        print(f"the API server reads from etcd again (every answer OK for {steady:g} s)")

    def leftovers(self) -> list[str]:
        """What the lab started that still runs or listens; printed, and returned."""
        from ..supervise import teardown
        found = teardown.leftovers()
        for line in found:
            print(f"✗ {line}")
        if not found:
            print("nothing the lab started is running, and ports "
                  f"{self.ports.etcd}, {self.ports.apiserver} and {self.ports.kubelet} are free")
        return found
