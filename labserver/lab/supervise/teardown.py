"""`python -m labserver teardown [--check]`: stop what the lab started, and only that.

Works from any state - a notebook that failed half-way, a kernel that died, a
machine where the API server is already gone - because it goes by the lab's
records (records.py), never by process names:

1. the pods on the lab's node: deleted through the API server when it answers
   (the kubelet then stops their containers, as `kubectl delete` does);
2. the kubelet, by its recorded PID;
3. whatever the runtime still holds for the lab's pods (a kubelet that was
   already gone could not stop them): removed with the runtime's own calls;
4. the API server, by its recorded PID;
5. etcd: the post's container by its recorded id (stopped and removed), or
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
    """Delete the pods bound to the lab's node through the API server, if it answers."""
    api, node = _api_url(), records.kubelet().get("node")
    if not api or not node:
        return []
    listed = requests.get(f"{api}/api/v1/pods", params={"fieldSelector": f"spec.nodeName={node}"}, timeout=5)
    if listed.status_code != 200:
        return []
    pods = listed.json().get("items") or []
    kubelet_up = records.component_alive("kubelet")
    done = []
    for pod in pods:
        meta = pod["metadata"]
        # Without a kubelet nobody would finish a graceful delete: remove the object at once.
        body = {} if kubelet_up else {"gracePeriodSeconds": 0}
        requests.delete(f"{api}/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", json=body, timeout=5)
        done.append(f"deleted pod {meta['namespace']}/{meta['name']} through the API server")
        say(done[-1])
    if pods and kubelet_up:
        def gone():
            r = requests.get(f"{api}/api/v1/pods", params={"fieldSelector": f"spec.nodeName={node}"}, timeout=5)
            return r.status_code == 200 and not r.json().get("items")
        try:
            wait_for(gone, timeout, "the kubelet to stop the deleted pods")
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


def _runtime():
    """The runtime of the lab's first kubelet, or None."""
    rec = records.kubelet()
    return node_runtime(rec.get("runtime"), rec.get("root_dir"), rec.get("endpoint"))


def runtime_containers(say=None) -> list:
    """Containers the runtime still holds for the lab's pods (running or not)."""
    runtime = _runtime()
    if runtime is None:
        if say:
            say("no container runtime to ask: the lab's kubelet never started, or its engine is gone")
        return []
    try:
        found = runtime.list_containers()
    finally:
        runtime.close()
    if say:
        for c in found:
            say(f"[{runtime.name}] {c.pod.namespace}/{c.pod.name} container {c.name}: {c.state} ({c.container_id[:24]})")
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
    """Remove what the runtime still holds for the lab's pods: containers, sandboxes, volumes."""
    return remove_pods(_runtime(), say)


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
    """Stop the kubelet by its recorded PID (its pods keep running, as upstream)."""
    return _stop_component("kubelet", "kubelet", say)


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
    stopped = delete_pods(say)
    stopped += stop_kubelet(say)
    stopped += sweep_runtime(say)
    stopped += stop_apiserver(say)
    stopped += stop_etcd(say)
    return stopped


def leftovers() -> list[str]:
    """Anything the lab started that still runs, or anything on the lab's ports."""
    found = []
    for name in records.COMPONENTS:
        pid = records.component_pid(name)
        if pid is not None:
            found.append(f"{name} (pid {pid}) is still running")
    if records.etcd_container_id() and records.etcd_container_running():
        found.append(f"the etcd container {records.etcd_container_id()[:12]} is still running")
    for c in runtime_containers():
        if c.state == "running":
            found.append(f"container {c.name} of pod {c.pod.namespace}/{c.pod.name} is still running")
    for key, port in asdict(records.ports()).items():
        if port_in_use("127.0.0.1", port):
            found.append(f"something listens on 127.0.0.1:{port} (the lab's {records.PORT_NAMES[key]} port)")
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
