"""The Docker runtime against a real engine: the post's pod, adoption, image errors, cleanup.

Skipped (with the reason) only when no Docker engine answers; `make docker-up
images` provides one with the lab's images.
"""
from __future__ import annotations

import ipaddress
import time
import uuid
from pathlib import Path

import docker
import pytest
import requests

from labserver.kubelet import runtime_docker
from labserver.kubelet.runtime import ImagePullError, PodRef
from labserver.lab.machine.docker_engine import docker_host
from labserver.lab.machine.images import BUSYBOX, ETCD, NGINX, ensure_images
from labserver.lab.supervise.procs import wait_for

pytestmark = [pytest.mark.docker,
              pytest.mark.skipif(docker_host() is None,
                                 reason="no Docker engine answers (run `python -m labserver docker up`)")]

TRUNCATOR = "while true; do cat /dev/null > /logdir/access.log; sleep 1; done"  # the post's loop, 1 s


def post_containers() -> list[dict]:
    """The post's two containers (the truncator sleeps 1 s instead of 10 to keep the test short)."""
    return [
        {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}],
         "volumeMounts": [{"name": "nginx-logs", "mountPath": "/var/log/nginx"}]},
        {"name": "log-truncator", "image": "busybox", "command": ["/bin/sh"], "args": ["-c", TRUNCATOR],
         "volumeMounts": [{"name": "nginx-logs", "mountPath": "/logdir"}]},
    ]


STARTED: list[PodRef] = []   # pods the tests made, removed by the runtime fixture


def new_pod(name: str) -> PodRef:
    pod = PodRef("default", name, str(uuid.uuid4()))
    STARTED.append(pod)
    return pod


def start_pod(rt, pod: PodRef, containers: list[dict]):
    """What the kubelet's sync does: sandbox, volumes, then containers in order."""
    sandbox = rt.run_sandbox(pod)
    volumes = {"nginx-logs": rt.pod_volume_dir(pod, "nginx-logs")}
    states = [rt.start_container(pod, sandbox, c, volumes, 0) for c in containers]
    return sandbox, volumes, states


@pytest.fixture(scope="module")
def engine():
    """The docker SDK client, with the lab's images made present."""
    ensure_images((NGINX, BUSYBOX, ETCD), progress=lambda _line: None)
    client = docker.DockerClient(base_url=docker_host())
    yield client
    client.close()


@pytest.fixture
def runtime(engine, tmp_path):
    """A DockerRuntime in a tmp root dir; every pod it started is removed at the end."""
    rt = runtime_docker.DockerRuntime(tmp_path / "kubelet", docker_host=docker_host())
    yield rt
    while STARTED:
        rt.remove_pod(STARTED.pop())
    rt.close()


@pytest.fixture
def post_pod(runtime):
    """The post's nginx pod running in the runtime."""
    pod = new_pod("t-nginx")
    sandbox, volumes, states = start_pod(runtime, pod, post_containers())
    yield pod, sandbox, volumes, states


def get_page(ip: str) -> str:
    return requests.get(f"http://{ip}/", timeout=1).text


def test_containers_share_the_pod_ip_and_nginx_serves_it(engine, runtime, post_pod):
    """Both containers join the infra container's network: one IP on docker0, nginx answers there."""
    pod, sandbox, _, states = post_pod
    bridge = engine.networks.get("bridge").attrs["IPAM"]["Config"][0]["Subnet"]
    assert ipaddress.ip_address(sandbox.ip) in ipaddress.ip_network(bridge)
    for state in states:
        attrs = engine.containers.get(state.id).attrs
        assert attrs["HostConfig"]["NetworkMode"] == f"container:{sandbox.id}"
        assert state.state == "running"
    page = wait_for(lambda: get_page(sandbox.ip), 10, "nginx at the pod IP")
    assert "Welcome to nginx!" in page
    # the busybox container reaches nginx on its own loopback: the same network namespace
    truncator = engine.containers.get(states[1].id)
    out = truncator.exec_run(["wget", "-qO-", "http://127.0.0.1/"]).output.decode()
    assert "Welcome to nginx!" in out


def test_truncator_truncates_access_log_in_the_emptydir(post_pod):
    """nginx writes access.log into the emptyDir host dir; the busybox loop empties it."""
    pod, sandbox, volumes, _ = post_pod
    log = Path(volumes["nginx-logs"]) / "access.log"
    assert str(log).startswith(str(Path(volumes["nginx-logs"])))
    wait_for(lambda: get_page(sandbox.ip), 10, "nginx at the pod IP")

    def grew_then_emptied():
        get_page(sandbox.ip)
        return log.exists() and log.stat().st_size > 0

    wait_for(grew_then_emptied, 10, "nginx writing access.log")
    wait_for(lambda: log.stat().st_size == 0, 10, "the truncator emptying access.log")


def test_a_new_runtime_instance_adopts_running_pods(runtime, post_pod, tmp_path):
    """A restarted kubelet's runtime finds the same sandbox and containers from labels alone."""
    pod, sandbox, _, states = post_pod
    fresh = runtime_docker.DockerRuntime(tmp_path / "kubelet", docker_host=docker_host())
    try:
        assert [s.id for s in fresh.list_sandboxes() if s.pod.uid == pod.uid] == [sandbox.id]
        assert fresh.run_sandbox(pod).id == sandbox.id          # no second infra container
        found = {c.name: c for c in fresh.list_containers(pod)}
        assert {n: c.id for n, c in found.items()} == {s.name: s.id for s in states}
        assert found["nginx"].pod == pod and found["nginx"].restart_count == 0
        assert found["nginx"].container_id == f"docker://{states[0].id}"
        assert found["nginx"].image_id.startswith(("docker://sha256:", "docker-pullable://"))
    finally:
        fresh.close()


def test_a_runtime_with_another_root_dir_sees_none_of_these_pods(post_pod, tmp_path):
    """Kubelets sharing an engine only list (and so only ever remove) the pods they made."""
    pod, _, _, _ = post_pod
    other = runtime_docker.DockerRuntime(tmp_path / "another-kubelet", docker_host=docker_host())
    try:
        assert pod.uid not in {c.pod.uid for c in other.list_containers()}
        assert pod.uid not in {s.pod.uid for s in other.list_sandboxes()}
        other.remove_pod(pod)
    finally:
        other.close()
    runtime = runtime_docker.DockerRuntime(tmp_path / "kubelet", docker_host=docker_host())
    assert {c.name for c in runtime.list_containers(pod)} == {"nginx", "log-truncator"}
    runtime.close()


@pytest.mark.parametrize("spec, expected", [
    ({"image": "busybox", "command": ["echo", "from-command"]}, "from-command"),
    # the pinned etcd image has a CMD and no ENTRYPOINT (as the real v3.5 one): args alone would replace etcd itself
    ({"image": ETCD, "command": ["/usr/local/bin/etcd"], "args": ["--version"]}, "etcd Version"),
    ({"image": "busybox", "command": ["/bin/sh", "-c"], "args": ["echo from-$0", "args"]}, "from-args"),
])
def test_command_and_args_map_to_entrypoint_and_cmd(runtime, spec, expected):
    """command overrides the image's ENTRYPOINT, args override its CMD, as in Kubernetes."""
    pod = new_pod("t-cmd")
    _, _, (state,) = start_pod(runtime, pod, [{"name": "c", **spec}])
    wait_for(lambda: runtime.list_containers(pod)[0].state == "exited", 10, "the container to exit")
    done = runtime.list_containers(pod)[0]
    assert (done.exit_code, done.reason) == (0, "Completed")
    assert expected in runtime.logs(state.container_id).decode()


def test_shell_as_pid_1_outlives_sigterm_until_the_grace_period(runtime, post_pod):
    """As upstream (no init wrapper): the truncator's shell is PID 1 and ignores SIGTERM, so
    docker stop kills it after the grace period (exit 137); nginx handles SIGTERM and exits at once."""
    pod, _, _, states = post_pod
    assert runtime.api.inspect_container(states[1].id)["HostConfig"].get("Init") is None
    start = time.monotonic()
    runtime.stop_container(states[0].container_id, grace_seconds=20)
    assert time.monotonic() - start < 10, "nginx stops on SIGTERM"
    start = time.monotonic()
    runtime.stop_container(states[1].container_id, grace_seconds=2)
    took = time.monotonic() - start
    assert 1.5 < took < 15, took
    state = {c.name: c for c in runtime.list_containers(pod)}["log-truncator"]
    assert state.state == "exited" and state.finished_at and state.exit_code == 137


def test_restarts_keep_the_current_and_the_previous_attempt(runtime):
    """Each restart is a new container named by its restartCount; only the one before it is kept."""
    pod = new_pod("t-restart")
    sandbox = runtime.run_sandbox(pod)
    spec = {"name": "fails", "image": "busybox", "command": ["sh", "-c", "echo attempt; exit 3"]}
    for attempt in range(3):
        runtime.start_container(pod, sandbox, spec, {}, attempt)
        wait_for(lambda: all(c.state == "exited" for c in runtime.list_containers(pod)), 10, "exit")
    states = runtime.list_containers(pod)
    assert [c.restart_count for c in states] == [1, 2]
    assert all((c.exit_code, c.reason) == (3, "Error") for c in states)
    assert states[-1].extra["name"] == f"k8s_fails_t-restart_default_{pod.uid}_2"


@pytest.mark.parametrize("policy", ["IfNotPresent", "Always", "Never"])
def test_missing_image_is_an_image_pull_error(runtime, policy):
    """An image neither local nor pullable fails fast with the engine's (or the kubelet's) message."""
    image = f"labserver-test/no-such-image:{uuid.uuid4().hex[:8]}"
    start = time.monotonic()
    with pytest.raises(ImagePullError) as err:
        runtime.ensure_image(image, policy)
    assert time.monotonic() - start < runtime_docker.OFFLINE_PULL_SECONDS + 2
    assert image in err.value.message
    assert err.value.reason == ("ErrImageNeverPull" if policy == "Never" else "ErrImagePull")


def test_always_falls_back_to_the_local_image_with_a_warning(runtime, monkeypatch):
    """Pull policy Always with the registry unreachable uses the local image and says so."""
    monkeypatch.setattr(runtime_docker, "registry_reachable", lambda image: False)
    pulled = runtime.ensure_image("nginx", "Always")
    assert not pulled.pulled and pulled.image_id.startswith(("docker://sha256:", "docker-pullable://"))
    assert "unreachable" in pulled.warning and "nginx:latest" in pulled.warning


def test_remove_pod_leaves_nothing(engine, runtime):
    """remove_pod deletes the pod's containers, its infra container and its volume dirs."""
    pod = new_pod("t-remove")
    _, volumes, _ = start_pod(runtime, pod, post_containers())
    assert Path(volumes["nginx-logs"]).is_dir()
    runtime.remove_pod(pod)
    left = engine.containers.list(all=True, filters={"label": f"io.kubernetes.pod.uid={pod.uid}"})
    assert left == []
    assert not (runtime.root_dir / "pods" / pod.uid).exists()
    assert runtime.list_containers(pod) == [] and pod.uid not in {s.pod.uid for s in runtime.list_sandboxes()}
