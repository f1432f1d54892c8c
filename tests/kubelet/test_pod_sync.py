"""Pod sync against a real API server with a fake runtime: status, restarts, images, deletion, adoption."""
from __future__ import annotations

import os
import threading
import uuid

import pytest
import requests

from kubelet_testing import Env, FakeRuntime, fast_config, nginx_pod, running_ready
from labserver.kubelet.client import APIClient
from labserver.kubelet.kubelet import Kubelet
from labserver.kubelet.server import make_http_server
from labserver.kubelet.runtime import PodRef
from labserver.lab.supervise.components import start_apiserver
from labserver.lab.supervise.procs import wait_for

# One API server for the module: each test's pods go in its own namespace, bound to its own node
# (env.node, `node-<namespace>`), which only its kubelet runs.
pytestmark = pytest.mark.shared_apiserver


def test_pod_goes_pending_then_running_with_full_status(env):
    """The post's pod: Pending with 0/2 first, then Running 2/2 with IPs, conditions and container details."""
    seen = []
    created = env.create(nginx_pod(node=env.node))
    rv = created["metadata"]["resourceVersion"]

    def watch():
        for ev in env.client.watch(f"/api/v1/namespaces/{env.namespace}/pods",
                                   {"resourceVersion": rv, "timeoutSeconds": "10"}, read_timeout=15):
            seen.append(ev["object"])
            if running_ready(ev["object"]):
                return
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    pod = env.wait_pod("nginx", running_ready, "Running with both containers ready")
    t.join(10)
    pending = [p for p in seen if p["status"].get("phase") == "Pending" and p["status"].get("containerStatuses")]
    assert pending and not any(s["ready"] for s in pending[0]["status"]["containerStatuses"])
    assert pending[0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"
    st = pod["status"]
    assert st["hostIP"] == "127.0.0.1" and st["podIP"].startswith("127.1.0.") and st["startTime"]
    assert st["qosClass"] == "BestEffort"
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds["Ready"] == conds["ContainersReady"] == conds["Initialized"] == conds["PodScheduled"] == "True"
    nginx = env.container_status(pod, "nginx")
    assert nginx["containerID"].startswith("fake://") and nginx["imageID"].startswith("fake://nginx")
    assert nginx["started"] and nginx["restartCount"] == 0 and nginx["state"]["running"]["startedAt"]
    # Both containers got the same emptyDir host directory.
    vols = [env.runtime.running("nginx", c).extra["volumes"]["nginx-logs"] for c in ("nginx", "log-truncator")]
    assert vols[0] == vols[1] and os.path.isdir(vols[0])
    # Events are posted asynchronously: wait for them rather than race the recorder.
    wait_for(lambda: {"Pulled", "Created", "Started"} <= {e["reason"] for e in env.events(pod)}, 15,
             "Pulled, Created and Started events")
    started = next(e for e in env.events(pod) if e["reason"] == "Started"
                   and e["involvedObject"].get("fieldPath") == "spec.containers{nginx}")
    assert started["source"] == {"component": "kubelet", "host": env.node} and started["type"] == "Normal"


def test_crashed_container_restarts_with_backoff(env):
    """A container that exits is restarted (restartCount 1), then held in CrashLoopBackOff before the next."""
    env.create(nginx_pod(node=env.node))
    env.wait_pod("nginx", running_ready, "running")
    env.runtime.exit(env.runtime.running("nginx", "nginx").id, 137)
    pod = env.wait_pod("nginx", lambda p: running_ready(p) and env.container_status(p, "nginx")["restartCount"] == 1,
                       "restarted once")
    last = env.container_status(pod, "nginx")["lastState"]["terminated"]
    assert last["exitCode"] == 137 and last["reason"] == "Error"
    env.runtime.exit(env.runtime.running("nginx", "nginx").id, 1)
    pod = env.wait_pod("nginx", lambda p: (env.container_status(p, "nginx")["state"].get("waiting") or {})
                       .get("reason") == "CrashLoopBackOff", "CrashLoopBackOff")
    assert "back-off" in env.container_status(pod, "nginx")["state"]["waiting"]["message"]
    assert pod["status"]["phase"] == "Running"
    env.wait_pod("nginx", lambda p: running_ready(p) and env.container_status(p, "nginx")["restartCount"] == 2,
                 "restarted after the back-off")
    assert "BackOff" in [e["reason"] for e in env.events(pod)]


def test_a_crash_says_why_in_the_status_and_a_warning_event(env):
    """The end of a failed container's log is its terminated message, and the BackOff event quotes it."""
    env.create(nginx_pod(node=env.node))
    env.wait_pod("nginx", running_ready, "running")
    env.runtime.exit(env.runtime.running("nginx", "nginx").id, 1)   # the first crash restarts at once
    env.wait_pod("nginx", lambda p: running_ready(p) and env.container_status(p, "nginx")["restartCount"] == 1,
                 "restarted once")
    why = ("nginx: [emerg] bind() to 127.1.0.2:80 failed (13: Permission denied)\n"
           "nginx: [emerg] still could not bind()\n")
    env.runtime.exit(env.runtime.running("nginx", "nginx").id, 1, why)
    pod = env.wait_pod("nginx", lambda p: (env.container_status(p, "nginx")["state"].get("waiting") or {})
                       .get("reason") == "CrashLoopBackOff", "CrashLoopBackOff")
    assert env.container_status(pod, "nginx")["lastState"]["terminated"]["message"] == why
    backoff = wait_for(lambda: [e for e in env.events(pod) if e["reason"] == "BackOff"], 15, "a BackOff event")
    assert backoff[-1]["type"] == "Warning"
    assert backoff[-1]["message"] == (f"Back-off restarting failed container nginx in pod nginx_{env.namespace}("
                                      f"{pod['metadata']['uid']}): nginx: [emerg] bind() to 127.1.0.2:80 failed "
                                      "(13: Permission denied) / nginx: [emerg] still could not bind()")


@pytest.mark.parametrize("policy,code,restarts,phase", [
    ("Never", 1, False, "Failed"),
    ("Never", 0, False, "Succeeded"),
    ("OnFailure", 0, False, "Succeeded"),
    ("OnFailure", 1, True, "Running"),
])
def test_restart_policy(env, policy, code, restarts, phase):
    """restartPolicy decides whether an exited container comes back, and the pod's final phase."""
    pod = nginx_pod(node=env.node, restartPolicy=policy)
    pod["spec"]["containers"] = pod["spec"]["containers"][:1]
    env.create(pod)
    env.wait_pod("nginx", running_ready, "running")
    env.runtime.exit(env.runtime.running("nginx", "nginx").id, code)
    pod = env.wait_pod("nginx", lambda p: p["status"]["phase"] == phase
                       and (not restarts or env.container_status(p, "nginx")["restartCount"] == 1), phase)
    if not restarts:
        assert env.container_status(pod, "nginx")["state"]["terminated"]["exitCode"] == code
        assert len(env.runtime.find("nginx", "nginx")) == 1


def test_image_pull_error_then_backoff_other_container_runs(env):
    """A missing image gives ErrImagePull then ImagePullBackOff with the message; the other container runs."""
    env.runtime.missing_images["busybox"] = "image busybox is not installed: apt-get install busybox"
    env.create(nginx_pod(node=env.node))
    pod = env.wait_pod("nginx", lambda p: any((s["state"].get("waiting") or {}).get("reason") == "ErrImagePull"
                                              for s in p["status"].get("containerStatuses", [])), "ErrImagePull")
    waiting = env.container_status(pod, "log-truncator")["state"]["waiting"]
    assert "apt-get install busybox" in waiting["message"]
    pod = env.wait_pod("nginx", lambda p: (env.container_status(p, "log-truncator")["state"].get("waiting") or {})
                       .get("reason") == "ImagePullBackOff", "ImagePullBackOff")
    assert "apt-get install busybox" in env.container_status(pod, "log-truncator")["state"]["waiting"]["message"]
    assert env.container_status(pod, "nginx")["ready"] and pod["status"]["phase"] == "Pending"
    # Events are posted apart from the status (the recorder's own thread): wait for them.
    failed = wait_for(lambda: [e for e in env.events(pod) if e["reason"] == "Failed"], 10, "a Failed event")
    assert all(e["type"] == "Warning" for e in failed)
    env.runtime.missing_images.clear()
    env.wait_pod("nginx", running_ready, "running once the image is there")


def test_graceful_deletion(env):
    """deletionTimestamp: containers stopped with the grace period, pod removed, then deleted with grace 0."""
    env.create(nginx_pod(node=env.node))
    pod = env.wait_pod("nginx", running_ready, "running")
    uid = pod["metadata"]["uid"]
    volume = env.runtime.running("nginx", "nginx").extra["volumes"]["nginx-logs"]
    env.client.delete(f"/api/v1/namespaces/{env.namespace}/pods/nginx", {"gracePeriodSeconds": 7})
    wait_for(lambda: env.pod("nginx") is None, 15, "pod deleted by the kubelet")
    assert sorted(g for _, g in env.runtime.stopped) == [7.0, 7.0]
    assert env.runtime.list_containers() == [] and not os.path.exists(volume)
    # The worker's last act is that final DELETE: it records itself finished just after the pod is gone.
    assert env.kubelet.workers.wait_idle(uid, 5) and env.kubelet.workers.is_finished(uid)

    def killing():
        return [e for e in env.events(pod) if e["reason"] == "Killing"]
    wait_for(lambda: len(killing()) >= 2, 15, "a Killing event per container")
    assert len(killing()) == 2


def test_pod_deleted_from_api_is_killed(env):
    """A pod removed outright from the API server (a forced delete) loses its containers."""
    env.create(nginx_pod(node=env.node))
    env.wait_pod("nginx", running_ready, "running")
    # Force-delete the way `kubectl delete --force --grace-period=0` does.
    env.client.delete(f"/api/v1/namespaces/{env.namespace}/pods/nginx", {"gracePeriodSeconds": 0})
    wait_for(lambda: env.runtime.list_containers() == [], 15, "containers removed")


def test_adoption_after_kubelet_restart(make_env, tmp_path):
    """A new kubelet on the same runtime adopts the running containers: nothing restarted, nothing doubled."""
    runtime = FakeRuntime(tmp_path / "rt")
    first = make_env(runtime)
    first.create(nginx_pod(node=first.node))
    first.wait_pod("nginx", running_ready, "running")
    first.kubelet.stop()
    starts = list(runtime.started)
    second = make_env(runtime)
    assert second.kubelet.node.registered.wait(15)
    wait_for(lambda: "nginx" in [p["metadata"]["name"] for p in second.kubelet.pods()], 15, "adopted")
    second.create(nginx_pod("nginx-the-second", node=second.node))
    second.wait_pod("nginx-the-second", running_ready, "second pod running")
    assert [s for s in runtime.started if s[0] == "nginx"] == starts
    assert len([c for c in runtime.list_containers() if c.pod.name == "nginx"]) == 2
    assert running_ready(second.pod("nginx"))


def test_orphans_removed_after_first_list(make_env, tmp_path):
    """Pods the runtime holds that no API pod matches are removed once the kubelet has listed."""
    runtime = FakeRuntime(tmp_path / "rt")
    ghost = PodRef("default", "ghost", "ghost-uid")
    runtime.start_container(ghost, runtime.run_sandbox(ghost), {"name": "c", "image": "nginx"}, {}, 0)
    make_env(runtime)
    wait_for(lambda: not runtime.list_containers() and not runtime.list_sandboxes(), 15, "orphan removed")


def test_pod_bound_to_another_node_ignored(env):
    """A pod bound to another node is neither run nor touched."""
    env.create(nginx_pod("elsewhere", node=f"other-{env.node}"))   # a node no kubelet runs
    env.create(nginx_pod("here", node=env.node))
    env.wait_pod("here", running_ready, "own pod running")
    other = env.pod("elsewhere")
    assert other["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert not env.runtime.find("elsewhere", "nginx")


@pytest.fixture
def private_env(etcd, tmp_path):
    """(API server, Env): an in-process kubelet on a FakeRuntime against an API server of the test's own
    (on the module's etcd, under a prefix of its own), for a test that stops that server."""
    prefix = f"/t-{uuid.uuid4().hex[:8]}/registry"
    server = start_apiserver(etcd.client_url, tmp_path / "apiserver.log", extra_args=[f"--etcd-prefix={prefix}"])
    server.flags["etcd-prefix"] = prefix
    kubelet = None
    try:
        runtime = FakeRuntime(tmp_path / "runtime")
        kubelet = Kubelet(fast_config(), runtime, APIClient(server.url))
        kubelet.start()
        env = Env(kubelet, runtime, APIClient(server.url))
        assert kubelet.node.registered.wait(15), "node never registered"
        wait_for(lambda: kubelet.source.synced.is_set(), 15, "first pod list")
        yield server, env
    finally:
        if kubelet is not None:
            kubelet.stop()
        server.stop()


def test_reconnects_after_api_server_restart(private_env, etcd, tmp_path):
    """The API server goes away and comes back on the same address: pods keep running, new pods are picked up."""
    apiserver, env = private_env
    env.create(nginx_pod(node=env.node))
    env.wait_pod("nginx", running_ready, "running")
    port = int(apiserver.url.rsplit(":", 1)[1])
    apiserver.stop()
    assert env.runtime.running("nginx", "nginx")
    restarted = start_apiserver(etcd.client_url, tmp_path / "apiserver2.log", port=port,
                                extra_args=[f"--etcd-prefix={apiserver.flags['etcd-prefix']}"])
    try:
        env.create(nginx_pod("nginx-the-second", node=env.node))
        env.wait_pod("nginx-the-second", running_ready, "picked up after the restart", timeout=30)
        assert len(env.runtime.find("nginx", "nginx")) == 1
    finally:
        restarted.stop()


def test_kubelet_http_server(env):
    """The kubelet's own server: /healthz, /pods and /containerLogs with tailLines, 404 for unknown containers."""
    env.create(nginx_pod(node=env.node))
    env.wait_pod("nginx", running_ready, "running")
    httpd = make_http_server(env.kubelet, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        assert requests.get(f"{base}/healthz").text == "ok"
        pods = requests.get(f"{base}/pods").json()
        assert pods["kind"] == "PodList" and [p["metadata"]["name"] for p in pods["items"]] == ["nginx"]
        logs = requests.get(f"{base}/containerLogs/{env.namespace}/nginx/nginx", params={"tailLines": 2})
        assert logs.status_code == 200 and logs.headers["Content-Type"].startswith("text/plain")
        assert logs.text == "line 4 of nginx\nline 5 of nginx\n"
        missing = requests.get(f"{base}/containerLogs/{env.namespace}/nginx/nope")
        assert missing.status_code == 404 and missing.json()["reason"] == "NotFound"
    finally:
        httpd.shutdown()
        httpd.server_close()
