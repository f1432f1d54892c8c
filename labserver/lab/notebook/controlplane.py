"""The series' next step for `Lab`: the scheduler, the controller-manager, more nodes, and waits on what they make.

Notebooks 08 and 09 call these through `Lab`, which this class is mixed into:
each start is idempotent like the rest of the lab's (a running one is reused),
leaves a pid file and a record in the state dir, so `python -m labserver
teardown` finds it again, and prints the command line it ran. An added node
is a second kubelet on this machine with its own name, root dir, port and
(for the process runtime) its own pod range 127.N.0.0/16, so a pod's IP says
which node runs it.

It relies on what `Lab` sets up: api_url, ports, dir, runtime, docker_host, and
its helpers _running, _shown_cmd, node_name and wait_for_node.
"""
from __future__ import annotations

import requests

from ..supervise import components, records
from ..supervise.components import start_kubelet
from ..supervise.procs import LabError, free_port, port_in_use, wait_for


def progress(line: str) -> None:
    """Progress lines start with '  … ' (timing-dependent: the notebook tests drop them)."""
    print(f"  … {line.strip()}", flush=True)


class ControlPlane:
    """Start the scheduler, the controller-manager and added nodes; wait for pods and rollouts."""

    def start_scheduler(self) -> None:
        """Start `python -m labserver scheduler --master=...`, or reuse it."""
        self._start_loop("scheduler", self.ports.scheduler)

    def start_controller_manager(self) -> None:
        """Start `python -m labserver controller-manager --master=...`, or reuse it."""
        self._start_loop("controller-manager", self.ports.controller_manager)

    def _start_loop(self, component: str, port: int) -> bool:
        """Start a component that watches the API server and serves /healthz on `port`; True if started now."""
        if self._running(component, f"http://127.0.0.1:{port}/healthz"):
            print(f"the {component} is already running: reusing it")
            return False
        if not self._running("apiserver", f"{self.api_url}/readyz"):
            raise LabError("the API server is not running: run notebook 02 first (or this notebook's catch-up cell)")
        if port_in_use("127.0.0.1", port):
            raise LabError(f"port {port} is taken by something the lab did not start: stop it, "
                           f"or run `python -m labserver teardown`")
        start = components.start_scheduler if component == "scheduler" else components.start_controller_manager
        server = start(self.api_url, self.dir / f"{component}.log", port=port,
                       pid_path=self.dir / records.pid_file(component), progress=progress)
        print(self._shown_cmd(server.process.popen.args))
        print(f"{component} process {server.process.pid} (pid in {self.shown(self.dir / f'{component}.pid')}, "
              f"log in {self.shown(self.dir / f'{component}.log')}); GET /healthz: 200")
        return True

    def add_node(self, name: str) -> None:
        """Start one more kubelet, for node `name`, beside the first; wait until the node is Ready."""
        self._add_node(name)

    def _add_node(self, name: str) -> bool:
        """Start a kubelet with --hostname-override=name, its own root dir and port (and, for the process
        runtime, its own pod range 127.N.0.0/16, so a pod's IP says its node); True if started now."""
        added = records.added_nodes()
        rec = added.get(name)
        if rec and self._running(rec["component"], f"http://127.0.0.1:{rec['port']}/healthz"):
            print(f"the kubelet of node {name} is already running: reusing it")
            return False
        if not self._running("apiserver", f"{self.api_url}/readyz"):
            raise LabError("the API server is not running: run notebook 02 first (or this notebook's catch-up cell)")
        if name == self.node_name():
            raise LabError(f"node {name} is the lab's first node (notebook 03 starts its kubelet)")
        index = rec["index"] if rec else 2 + len([n for n in added if n != name])
        port = self.ports.kubelet + 10 * (index - 1)
        if port_in_use("127.0.0.1", port):
            port = free_port()   # a lab on other ports than the post's (the tests)
        component = f"kubelet-{name}"
        extra = [f"--pod-cidr=127.{index}.0.0/16"]   # used by the process runtime; the same line for both
        server = start_kubelet(f"127.0.0.1:{self.ports.apiserver}", self.dir / component, self.dir / f"{component}.log",
                               hostname=name, runtime=self.runtime, endpoint=self.docker_host, port=port,
                               pid_path=self.dir / records.pid_file(component), extra_args=extra,
                               progress=progress)
        flags = server.flags
        records.save_added_node({"runtime": flags["runtime"], "endpoint": flags.get("container-runtime-endpoint"),
                                 "root_dir": flags["root-dir"], "node": name, "port": port, "index": index,
                                 "component": component})
        print(self._shown_cmd(server.process.popen.args))
        print(f"kubelet process {server.process.pid} for node {name} (pid in "
              f"{self.shown(self.dir / records.pid_file(component))}, log in {self.shown(self.dir / f'{component}.log')})")
        self.wait_for_node(name)
        return True

    def pods(self, selector: str | None = None, namespace: str = "default") -> list[dict]:
        """The pods of a namespace (those matching a label selector, if given), sorted by name."""
        params = {"labelSelector": selector} if selector else {}
        r = requests.get(f"{self.api_url}/api/v1/namespaces/{namespace}/pods", params=params, timeout=5)
        return sorted(r.json().get("items") or [], key=lambda p: p["metadata"]["name"])

    def wait_for_pods(self, count: int, selector: str | None = None, timeout: float = 60,
                      namespace: str = "default") -> list[dict]:
        """Wait until exactly `count` pods (matching `selector`) exist, none being deleted, all Running
        with every container ready; return them."""
        what = f"{count} pods" + (f" with {selector}" if selector else "")

        def ready():
            pods = self.pods(selector, namespace)
            ok = [p for p in pods if p.get("status", {}).get("phase") == "Running"
                  and not p["metadata"].get("deletionTimestamp")
                  and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])]
            return (pods,) if len(pods) == len(ok) == count else None
        (pods,) = wait_for(ready, timeout, f"{what} Running", progress=progress, every=5)
        print(f"{what}: all Running and ready" if count else "no pods left" + (f" with {selector}" if selector else ""))
        return pods

    def wait_for_deployment(self, name: str, timeout: float = 60, namespace: str = "default") -> dict:
        """Wait until the Deployment's rollout is complete, as `kubectl rollout status` judges it: its
        controller saw the latest spec, and every replica is updated and available, none old left."""
        url = f"{self.api_url}/apis/apps/v1/namespaces/{namespace}/deployments/{name}"

        def done():
            d = requests.get(url, timeout=5).json()
            st, want = d.get("status") or {}, d["spec"].get("replicas", 1)
            ok = (st.get("observedGeneration", 0) >= d["metadata"]["generation"]
                  and st.get("updatedReplicas", 0) == want == st.get("replicas", 0) == st.get("availableReplicas", 0))
            return d if ok else None
        d = wait_for(done, timeout, f"deployment {name} rolled out", progress=progress, every=5)
        print(f"deployment {name}: {d['spec']['replicas']} of {d['spec']['replicas']} replicas updated and available")
        return d
