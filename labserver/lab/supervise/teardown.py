"""`python -m labserver teardown [--check]`: stop what the lab started, and only that.

Works from any state - a notebook that failed half-way, a kernel that died, a
machine where the API server is already gone - because it goes by the lab's
records (records.py), never by process names:

1. the controller-manager and the scheduler, by their recorded PIDs (first, so
   no ReplicaSet replaces the pods deleted next, and nothing binds new ones);
2. the pods on the lab's nodes: deleted through the API server when it answers
   (each node's kubelet then stops their containers, as `kubectl delete` does);
3. the kubelets (the first node's and every added node's), by their recorded PIDs;
4. whatever each node's runtime still holds for the lab's pods (a kubelet that was
   already gone could not stop them): removed with the runtime's own calls;
5. the API server, by its recorded PID;
6. etcd: the post's container by its recorded id (stopped and removed), or
   the etcd process by its PID.

The lab's private Docker engine is left alone (`python -m labserver docker
down` stops it). `--check` stops nothing: it lists anything the lab started
that still runs, or anything listening on the lab's ports, and exits 1 if so.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

import requests

from . import records
from .procs import port_in_use, stop_pid, wait_for


def _api_url() -> str | None:
    """The lab's API server URL when it is ours and answers, else None."""
    url = f"http://127.0.0.1:{records.ports().apiserver}"
    if not records.component_alive("apiserver"):
        return None
    try:
        return url if requests.get(f"{url}/readyz", timeout=2).status_code == 200 else None
    except requests.RequestException:
        return None


# --- pods ----------------------------------------------------------------------------------------

def delete_pods(say=print, timeout: float = 40) -> list[str]:
    """Delete the pods bound to the lab's nodes through the API server, if it answers."""
    api = _api_url()
    kubelets = {rec["node"]: records.component_alive(rec.get("component", "kubelet"))
                for rec in records.all_kubelets() if rec.get("node")}
    if not api or not kubelets:
        return []
    done, waiting = [], []
    for node, kubelet_up in kubelets.items():
        listed = requests.get(f"{api}/api/v1/pods", params={"fieldSelector": f"spec.nodeName={node}"}, timeout=5)
        if listed.status_code != 200:
            continue
        pods = listed.json().get("items") or []
        for pod in pods:
            meta = pod["metadata"]
            # Without a kubelet nobody would finish a graceful delete: remove the object at once.
            body = {} if kubelet_up else {"gracePeriodSeconds": 0}
            requests.delete(f"{api}/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", json=body, timeout=5)
            done.append(f"deleted pod {meta['namespace']}/{meta['name']} through the API server")
            say(done[-1])
        if pods and kubelet_up:
            waiting.append(node)

    def gone():
        for node in waiting:
            r = requests.get(f"{api}/api/v1/pods", params={"fieldSelector": f"spec.nodeName={node}"}, timeout=5)
            if r.status_code != 200 or r.json().get("items"):
                return False
        return True
    if waiting:
        try:
            wait_for(gone, timeout, "the kubelets to stop the deleted pods")
        except TimeoutError as e:
            say(f"{e}; their containers are removed below")
    return done


def node_runtime(runtime: str | None, root_dir: str | None, endpoint: str | None = None):
    """The runtime object a kubelet with these flags used, or None.

    Both runtimes scope what they list to one root dir (the Docker runtime
    labels its containers with it), so what it lists is that kubelet's and only that.
    """
    if not runtime or not root_dir:
        return None
    try:
        from ...kubelet.runtimes import make_runtime
        return make_runtime(runtime, root_dir, endpoint=endpoint)
    except Exception:  # no engine answers (so none of its containers run), or runtime missing
        return None


def runtime_containers(say=None) -> list:
    """Containers the runtimes still hold for the lab's pods (running or not), on every node."""
    runtimes = [rt for rec in records.all_kubelets()
                if (rt := node_runtime(rec.get("runtime"), rec.get("root_dir"), rec.get("endpoint")))]
    if not runtimes:
        if say:
            say("no container runtime to ask: the lab's kubelet never started, or its engine is gone")
        return []
    found = []
    for runtime in runtimes:
        try:
            listed = runtime.list_containers()
        finally:
            runtime.close()
        found += listed
        if say:
            for c in listed:
                say(f"[{runtime.name}] {c.pod.namespace}/{c.pod.name} container {c.name}: {c.state} "
                    f"({c.container_id[:24]})")
    if say:
        say(f"containers of the lab's pods left in the runtime: {len(found)}")
    return found


def remove_pods(runtime, say=print) -> list[str]:
    """Remove everything `runtime` holds (containers, sandboxes, volumes); close it; return what was done."""
    if runtime is None:
        return []
    done = []
    try:
        for sandbox in runtime.list_sandboxes():
            runtime.remove_pod(sandbox.pod)
            done.append(f"removed pod {sandbox.pod.namespace}/{sandbox.pod.name}'s containers "
                        f"from the {runtime.name} runtime")
            say(done[-1])
    finally:
        runtime.close()
    return done


def sweep_runtime(say=print) -> list[str]:
    """Remove what each node's runtime still holds for the lab's pods: containers, sandboxes, volumes."""
    done = []
    for rec in records.all_kubelets():
        done += remove_pods(node_runtime(rec.get("runtime"), rec.get("root_dir"), rec.get("endpoint")), say)
    return done


# --- the servers ---------------------------------------------------------------------------------

def _stop_component(name: str, what: str, say, tag: str = "") -> list[str]:
    pid = records.component_pid(name)
    records_pid = records.read_pid(name)
    if pid is None:
        if records_pid is not None:
            records.forget_pid(name)
        return []
    stop_pid(pid)
    records.forget_pid(name)
    say(f"{tag}stopped the {what} (pid {pid})")
    return [f"{what} (pid {pid})"]


def stop_kubelet(say=print) -> list[str]:
    """Stop the first node's kubelet by its recorded PID (its pods keep running, as upstream)."""
    return _stop_component("kubelet", "kubelet", say)


def stop_node_kubelet(node: str, say=print) -> list[str]:
    """Stop the kubelet of an added node (its pods keep running, as upstream)."""
    rec = records.added_nodes().get(node)
    return _stop_component(rec["component"], f"kubelet of node {node}", say) if rec else []


def stop_kubelets(say=print) -> list[str]:
    """Stop every kubelet the lab started: the first node's, then each added node's."""
    stopped = stop_kubelet(say)
    for node in records.added_nodes():
        stopped += stop_node_kubelet(node, say)
    return stopped


def stop_scheduler(say=print) -> list[str]:
    return _stop_component("scheduler", "scheduler", say)


def stop_controller_manager(say=print) -> list[str]:
    return _stop_component("controller-manager", "controller-manager", say)


def stop_apiserver(say=print) -> list[str]:
    return _stop_component("apiserver", "API server", say)


def stop_etcd(say=print) -> list[str]:
    """Stop the post's etcd container (and remove it), or the etcd process."""
    cid = records.etcd_container_id()
    if not cid:
        return _stop_component("etcd", "etcd process", say, tag="[process] ")
    container = records._container(cid)
    records.forget_etcd_container()
    if container is None:
        return []
    was_running = container.status == "running"
    say(f"[docker] $ docker stop $(cat {records.ETCD_CONTAINER}) && docker rm $(cat {records.ETCD_CONTAINER})")
    container.stop(timeout=10)
    container.remove()
    say(f"[docker] stopped and removed the etcd container {cid[:12]}")
    return [f"etcd container {cid[:12]}"] if was_running else []


def stop_everything(say=print) -> list[str]:
    """Teardown in the order described in the module docstring; return what was stopped."""
    stopped = stop_controller_manager(say)
    stopped += stop_scheduler(say)
    stopped += delete_pods(say)
    stopped += stop_kubelets(say)
    stopped += sweep_runtime(say)
    stopped += stop_apiserver(say)
    stopped += stop_etcd(say)
    return stopped


def leftovers() -> list[str]:
    """Anything the lab started that still runs, or anything on the lab's ports."""
    found = []
    added = {rec["component"]: node for node, rec in records.added_nodes().items()}
    for name in [*records.COMPONENTS, *added]:
        pid = records.component_pid(name)
        if pid is not None:
            what = f"the kubelet of node {added[name]}" if name in added else name
            found.append(f"{what} (pid {pid}) is still running")
    if records.etcd_container_id() and records.etcd_container_running():
        found.append(f"the etcd container {records.etcd_container_id()[:12]} is still running")
    for c in runtime_containers():
        if c.state == "running":
            found.append(f"container {c.name} of pod {c.pod.namespace}/{c.pod.name} is still running")
    for key, port in asdict(records.ports()).items():
        if port_in_use("127.0.0.1", port):
            found.append(f"something listens on 127.0.0.1:{port} (the lab's {records.PORT_NAMES[key]} port)")
    for node, rec in records.added_nodes().items():
        if rec.get("port") and port_in_use("127.0.0.1", rec["port"]):
            found.append(f"something listens on 127.0.0.1:{rec['port']} (the port of node {node}'s kubelet)")
    return found


def main(argv: list[str] | None = None) -> int:
    """`python -m labserver teardown [--check]`."""
    p = argparse.ArgumentParser(prog="python -m labserver teardown",
                                description="Stop everything the lab started (and only that).")
    p.add_argument("--check", action="store_true",
                   help="stop nothing; exit 1 and list what the lab started that still runs or listens")
    args = p.parse_args(argv)

    def say(line: str) -> None:
        print(f"teardown: {line}", flush=True)

    if args.check:
        found = leftovers()
        for line in found:
            print(f"teardown --check: {line}", file=sys.stderr)
        if not found:
            say("nothing the lab started is running or listening")
        return 1 if found else 0
    stopped = stop_everything(say)
    if not stopped:
        say("nothing was running")
    found = leftovers()
    for line in found:
        print(f"teardown: still there: {line}", file=sys.stderr)
    return 1 if found else 0
