"""The post end to end, for real: etcd, API server, `python -m labserver kubelet`, each runtime.

Every test runs real processes (etcd, the API server, the kubelet) and real
containers (Docker) or host processes (nginx, busybox), talks to them over
loopback or the Docker bridge, and uses the real kubectl from the venv.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from kubelet_testing import PodAPI, nginx_pod, running_ready
from runtimes_available import runtime_skip
from labserver.kubelet.client import APIClient
from labserver.lab.supervise.components import start_apiserver
from labserver.lab.supervise.procs import pid_alive, wait_for

NODE = "lab-node"
KUBECTL = str(Path(sys.executable).parent / "kubectl")
START = 60  # seconds a pod may take to run (the first Docker start may import layers)


@pytest.fixture(params=["process", "docker"])
def runtime_name(request):
    reason = runtime_skip(request.param)
    if reason:
        pytest.skip(reason)
    return request.param


class Cluster(PodAPI):
    """The API server, one kubelet and helpers to look at what they run."""

    wait_timeout = START

    def __init__(self, apiserver, factory, runtime: str, tmp_path: Path):
        self.apiserver, self.factory, self.runtime, self.tmp = apiserver, factory, runtime, tmp_path
        self.root = tmp_path / f"kubelet-{NODE}"
        self.client = APIClient(apiserver.url)
        self.kubelet = self.start_kubelet()

    def start_kubelet(self):
        return self.factory(hostname=NODE, runtime=self.runtime, extra_args=["--restart-backoff=1s"])

    def kubectl(self, *args: str, timeout: float = 60) -> str:
        proc = subprocess.run([KUBECTL, f"--server={self.apiserver.url}", *args],
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def run_nginx(self, name: str = "nginx") -> dict:
        self.create(nginx_pod(name, node=NODE))
        return self.wait_pod(name, running_ready, "Running with both containers ready")

    def volume_dir(self, uid: str, volume: str = "nginx-logs") -> Path:
        found = [p for p in self.root.rglob(volume) if p.is_dir() and uid in str(p)]
        assert len(found) == 1, found
        return found[0]

    def main_pids(self, pod: dict) -> dict[str, int]:
        """container name -> PID of its main process on this host."""
        pids = {}
        for st in pod["status"]["containerStatuses"]:
            kind, _, cid = st["containerID"].partition("://")
            if kind == "docker":
                pids[st["name"]] = self.docker().inspect_container(cid)["State"]["Pid"]
            else:
                state = self.root.glob(f"pods/{pod['metadata']['uid']}/containers/{st['name']}/state.json")
                pids[st["name"]] = json.loads(next(state).read_text())["pid"]
        return pids

    def docker(self):
        import docker
        from labserver.lab.machine.docker_engine import docker_host
        return docker.APIClient(base_url=docker_host(), version="auto")

    def containers_of(self, uid: str, with_sandbox: bool = False) -> list[str]:
        """What the runtime holds for a pod: Docker containers (the infra one too if asked), or process state dirs."""
        if self.runtime == "docker":
            labels = [f"io.kubernetes.pod.uid={uid}"] + ([] if with_sandbox else ["io.kubernetes.docker.type=container"])
            return [c["Id"] for c in self.docker().containers(all=True, filters={"label": labels})]
        return [str(p) for p in self.root.glob(f"pods/{uid}/{'*' if with_sandbox else 'containers/*'}")]


@pytest.fixture
def cluster(apiserver, kubelet_factory, runtime_name, tmp_path):
    c = Cluster(apiserver, kubelet_factory, runtime_name, tmp_path)
    yield c
    try:
        for pod in c.client.get("/api/v1/namespaces/default/pods")["items"]:  # leave no containers behind
            grace = 1 if pod["spec"].get("nodeName") == NODE else 0  # nobody else would finish the delete
            c.client.delete(f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}", {"gracePeriodSeconds": grace})
        wait_for(lambda: not c.client.get("/api/v1/namespaces/default/pods")["items"], 60, "pods deleted")
    finally:
        if c.apiserver is not apiserver:  # a test restarted it: the fixture only knows the first one
            c.apiserver.stop()


def get(url: str) -> requests.Response:
    return requests.get(url, timeout=5)


def welcome_page(ip: str) -> str:
    """nginx's page at ip. A pod with no readiness probe is Ready once its containers run, a moment
    before nginx listens (as on any cluster): wait for the answer, up to 10 s."""
    return wait_for(lambda: get(f"http://{ip}/"), 10, f"nginx to answer on {ip}:80").text


def test_the_post_end_to_end(cluster):
    """Node Ready; nginx pod Pending -> Running 2/2; page served; log truncated; second pod; delete leaves nothing."""
    node = wait_for(lambda: cluster.client.get(f"/api/v1/nodes/{NODE}"), 30, "node registered")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == NODE
    assert next(c for c in node["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"
    created = cluster.create(nginx_pod(node=NODE))
    assert created["status"]["phase"] == "Pending"
    pod = cluster.wait_pod("nginx", running_ready, "Running with both containers ready")
    ip = pod["status"]["podIP"]
    assert "Welcome to nginx!" in welcome_page(ip)
    # The log-truncator empties nginx's access.log in the shared emptyDir.
    access = cluster.volume_dir(pod["metadata"]["uid"]) / "access.log"
    wait_for(lambda: get(f"http://{ip}/").ok and access.exists() and access.stat().st_size > 0, 10,
             "a request logged in the volume")
    wait_for(lambda: access.stat().st_size == 0, 25, "access.log truncated by busybox")
    out = cluster.kubectl("get", "pods")
    row = next(line.split() for line in out.splitlines() if line.startswith("nginx "))
    assert row[1:3] == ["2/2", "Running"], out
    # A second pod beside it, created with kubectl from YAML, with its own IP.
    manifest = cluster.tmp / "nginx-the-second.json"
    manifest.write_text(json.dumps(nginx_pod("nginx-the-second", node=NODE)))
    cluster.kubectl("create", "-f", str(manifest))
    second = cluster.wait_pod("nginx-the-second", running_ready, "second pod running")
    assert second["status"]["podIP"] != ip
    assert "Welcome to nginx!" in welcome_page(second["status"]["podIP"])
    # kubectl describe tells the story from the kubelet's events.
    described = cluster.kubectl("describe", "pod", "nginx")
    for reason in ("Pulled", "Created", "Started"):
        assert reason in described.split("Events:")[1], described
    # Delete both: containers, processes and volume dirs all go.
    pods = [pod, second]
    pids = [pid for p in pods for pid in cluster.main_pids(p).values()]
    volumes = [cluster.volume_dir(p["metadata"]["uid"]) for p in pods]
    # A short grace period: with Docker the truncator's sh is PID 1 of its container and ignores
    # SIGTERM, so the default 30 s would all be waited before the SIGKILL (upstream does the same).
    cluster.kubectl("delete", "pods/nginx", "pods/nginx-the-second", "--grace-period=1", timeout=90)
    assert cluster.pod("nginx") is None and cluster.pod("nginx-the-second") is None
    for p in pods:
        assert cluster.containers_of(p["metadata"]["uid"], with_sandbox=True) == []
    assert not [pid for pid in pids if pid_alive(pid)]
    assert not [v for v in volumes if v.exists()]


def test_killed_container_restarts(cluster):
    """Killing a container's main process: the kubelet restarts it, restartCount 1, page served again."""
    pod = cluster.run_nginx()
    os.kill(cluster.main_pids(pod)["nginx"], signal.SIGKILL)
    pod = cluster.wait_pod("nginx", lambda p: running_ready(p)
                           and cluster.container_status(p, "nginx")["restartCount"] == 1, "restarted")
    nginx = cluster.container_status(pod, "nginx")
    assert "terminated" in nginx["lastState"]
    assert "Welcome to nginx!" in welcome_page(pod["status"]["podIP"])


def test_api_server_restart(cluster, etcd, etcd_prefix, tmp_path):
    """The API server restarts: pods keep serving meanwhile, the kubelet reconnects, no duplicates."""
    pod = cluster.run_nginx()
    ids = sorted(s["containerID"] for s in pod["status"]["containerStatuses"])
    port = int(cluster.apiserver.url.rsplit(":", 1)[1])
    cluster.apiserver.stop()
    assert "Welcome to nginx!" in welcome_page(pod["status"]["podIP"])
    cluster.apiserver = start_apiserver(etcd.client_url, tmp_path / "apiserver-2.log", port=port,
                                        extra_args=[f"--etcd-prefix={etcd_prefix}"])
    cluster.create(nginx_pod("nginx-the-second", node=NODE))
    cluster.wait_pod("nginx-the-second", running_ready, "new pod picked up after the restart")
    again = cluster.pod("nginx")
    assert running_ready(again)
    assert sorted(s["containerID"] for s in again["status"]["containerStatuses"]) == ids
    assert len(cluster.containers_of(pod["metadata"]["uid"])) == 2


def test_kubelet_restart_adopts(cluster):
    """The kubelet stops (pods keep serving) and starts again: it adopts them, nothing restarted or doubled."""
    pod = cluster.run_nginx()
    ids = sorted(s["containerID"] for s in pod["status"]["containerStatuses"])
    cluster.kubelet.stop()
    assert cluster.kubelet.process.popen.returncode == 0  # SIGTERM: a clean exit, not a SIGKILL
    assert "Welcome to nginx!" in welcome_page(pod["status"]["podIP"])
    cluster.kubelet = cluster.start_kubelet()
    cluster.create(nginx_pod("nginx-the-second", node=NODE))
    cluster.wait_pod("nginx-the-second", running_ready, "the new kubelet runs new pods")
    again = cluster.pod("nginx")
    assert running_ready(again)
    assert sorted(s["containerID"] for s in again["status"]["containerStatuses"]) == ids
    assert all(s["restartCount"] == 0 for s in again["status"]["containerStatuses"])
    assert len(cluster.containers_of(pod["metadata"]["uid"])) == 2


def test_restarted_kubelet_finishes_pods_deleted_while_it_was_away(cluster):
    """While the kubelet is down, one pod is force-deleted and one deleted gracefully (it stays Terminating):
    the restarted kubelet removes the first's containers (no API pod matches them any more) and stops the
    second's, then deletes it; a third pod is adopted untouched."""
    pods = {name: cluster.run_nginx(name) for name in ("forced", "graceful", "kept")}
    uids = {name: pod["metadata"]["uid"] for name, pod in pods.items()}
    kept_ids = sorted(s["containerID"] for s in pods["kept"]["status"]["containerStatuses"])
    cluster.kubelet.stop()
    cluster.client.delete("/api/v1/namespaces/default/pods/forced", {"gracePeriodSeconds": 0})
    cluster.client.delete("/api/v1/namespaces/default/pods/graceful", {"gracePeriodSeconds": 1})
    assert cluster.pod("forced") is None and cluster.pod("graceful")["metadata"]["deletionTimestamp"]
    assert cluster.containers_of(uids["forced"]) and cluster.containers_of(uids["graceful"])  # still there
    cluster.kubelet = cluster.start_kubelet()
    wait_for(lambda: cluster.pod("graceful") is None, 30, "the graceful pod finished and deleted", progress=print)
    wait_for(lambda: not cluster.containers_of(uids["forced"], with_sandbox=True)
             and not cluster.containers_of(uids["graceful"], with_sandbox=True), 30,
             "their containers and sandboxes removed", progress=print)
    again = cluster.pod("kept")
    assert running_ready(again) and sorted(s["containerID"] for s in again["status"]["containerStatuses"]) == kept_ids


def test_missing_image_and_other_node(cluster):
    """A missing image: ErrImagePull with a message, other pods unharmed; a pod bound elsewhere is ignored."""
    bad = nginx_pod("broken", node=NODE)
    bad["spec"]["containers"][1]["image"] = "labserver-no-such-image:1.0"
    cluster.create(bad)
    cluster.create(nginx_pod("elsewhere", node="some-other-node"))
    pod = cluster.run_nginx()

    def pull_error(p):
        st = next(s for s in p["status"].get("containerStatuses", []) if s["name"] == "log-truncator")
        return (st["state"].get("waiting") or {}).get("reason") in ("ErrImagePull", "ImagePullBackOff") and st
    broken = cluster.wait_pod("broken", pull_error, "ErrImagePull")
    st = pull_error(broken)
    assert "labserver-no-such-image" in st["state"]["waiting"]["message"]
    assert next(s for s in broken["status"]["containerStatuses"] if s["name"] == "nginx")["ready"]
    assert running_ready(cluster.pod("nginx")) and pod["status"]["podIP"]
    assert cluster.pod("elsewhere")["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_logs_through_the_api_server(cluster):
    """`kubectl logs` (and --tail) reach the container's output through the API server's pods/log proxy."""
    pod = nginx_pod("talker", node=NODE)
    pod["spec"]["containers"][1]["args"] = ["-c", "echo first line; echo hello from labserver; sleep 3600"]
    cluster.create(pod)
    cluster.wait_pod("talker", running_ready, "running")
    wait_for(lambda: "hello from labserver" in cluster.kubectl("logs", "talker", "-c", "log-truncator"), 15,
             "the container's output")
    assert cluster.kubectl("logs", "talker", "-c", "log-truncator", "--tail=1") == "hello from labserver\n"
    cluster.kubectl("logs", "talker", "-c", "nginx")
