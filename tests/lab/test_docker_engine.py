"""`python -m labserver docker up|status|down`, engine discovery, and the post's etcd container.

The private-engine test runs a second engine in its own state dir and stops
only that one; the engine other tests use (sharing docker0, which dockerd
leaves in place) keeps serving its containers throughout.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from labserver.kubelet import registry as image_registry
from labserver.lab.machine import docker_engine
from labserver.lab.supervise import notebooks_lock
from labserver.lab.machine.images import ETCD, ETCD_DATA_DIR, NGINX, ensure_images
from labserver.lab.supervise.procs import pid_alive, port_in_use, wait_for

pytestmark = pytest.mark.integration   # starts processes itself (tests/conftest.py)

REPO = Path(__file__).resolve().parents[2]


def labctl(state: Path, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m labserver docker ...` with its own state dir and no DOCKER_HOST."""
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env.update(LABSERVER_STATE_DIR=str(state), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "labserver", "docker", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("image, registry", [
    ("nginx", "registry-1.docker.io"),
    ("library/busybox:1.36", "registry-1.docker.io"),
    ("quay.io/coreos/etcd", "quay.io"),
    ("localhost:5000/app:v1", "localhost:5000"),
])
def test_registry_of_names_the_registry_an_image_comes_from(image, registry):
    """Image references without a registry host come from Docker Hub, others from their host."""
    assert image_registry.registry_of(image) == registry


def test_offline_mode_never_looks_up_a_registry(monkeypatch):
    """With LABSERVER_OFFLINE set, no registry is resolved or connected to: the answer is False at once."""
    def no_network(*args, **kwargs):
        raise AssertionError("registry_reachable touched the network")
    monkeypatch.setenv("LABSERVER_OFFLINE", "1")
    monkeypatch.setattr(image_registry.socket, "create_connection", no_network)
    monkeypatch.setattr(image_registry, "_registry_cache", {})
    assert image_registry.registry_reachable("nginx:latest") is False


def test_an_engine_mirror_that_answers_serves_docker_hub_images_only(monkeypatch):
    """A listening mirror makes Docker Hub images pullable; other registries' images are not mirrored."""
    monkeypatch.delenv("LABSERVER_OFFLINE", raising=False)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        mirror = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        assert image_registry.mirror_reachable("nginx:latest", [mirror]) is True
        assert image_registry.mirror_reachable("library/busybox", ["http://192.0.2.1:9/", mirror]) is True
        assert image_registry.mirror_reachable("quay.io/coreos/etcd:latest", [mirror]) is False
        monkeypatch.setenv("LABSERVER_OFFLINE", "1")
        assert image_registry.mirror_reachable("nginx:latest", [mirror]) is False
    assert image_registry.mirror_reachable("nginx:latest", []) is False


def test_a_mirror_that_does_not_answer_is_not_used(monkeypatch):
    """A mirror whose port is closed does not count: the pull would fail."""
    monkeypatch.delenv("LABSERVER_OFFLINE", raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert image_registry.mirror_reachable("nginx:latest", [f"http://127.0.0.1:{closed}"], timeout=1) is False


def test_docker_host_skips_engines_that_do_not_answer(tmp_path, monkeypatch):
    """A DOCKER_HOST pointing at a dead socket is passed over for an engine that answers (or None)."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    monkeypatch.setenv("LABSERVER_STATE_DIR", str(tmp_path / "state"))
    docker_engine._cache.clear()
    found = docker_engine.docker_host()
    assert found != f"unix://{tmp_path}/nothing.sock"
    assert found is None or docker_engine.ping(found)
    docker_engine._cache.clear()


def test_docker_host_also_looks_for_the_workbooks_engine(tmp_path, monkeypatch):
    """A moved state dir still finds the engine `make docker-up` started; up and status do not."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("LABSERVER_STATE_DIR", str(tmp_path / "state"))
    workbook = f"unix://{REPO / '.lab' / 'docker' / 'docker.sock'}"
    urls = [url for _, url in docker_engine.candidates()]
    assert urls == [f"unix://{tmp_path / 'state' / 'docker' / 'docker.sock'}", workbook,
                    docker_engine.SYSTEM_SOCKET]
    assert workbook not in [url for _, url in docker_engine.candidates(workbook=False)]


PRIVATE_ENGINE_MARKS = [
    pytest.mark.docker,
    pytest.mark.skipif(not (sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("dockerd")),
                       reason="a private engine needs root on Linux and dockerd (apt-get install docker.io)"),
    pytest.mark.skipif(docker_engine.ping(docker_engine.SYSTEM_SOCKET),
                       reason="a system engine answers at /var/run/docker.sock, so `up` would use it"),
]


def needs_private_engine(test):
    """Skip (with the reason) where `docker up` could not start a private engine."""
    for mark in PRIVATE_ENGINE_MARKS:
        test = mark(test)
    return test


@pytest.fixture
def private_state(tmp_path):
    """A state dir of its own for a second private engine, which is stopped at the end."""
    state = tmp_path / "state"
    yield state
    labctl(state, "down")


@needs_private_engine
def test_up_status_down_runs_and_stops_only_the_private_engine(private_state):
    """up starts a private engine and prints its DOCKER_HOST; a second up reuses it; down stops it."""
    state = private_state
    up = labctl(state, "up")
    assert up.returncode == 0, up.stderr
    sock = state / "docker" / "docker.sock"
    assert f"export DOCKER_HOST=unix://{sock}" in up.stdout
    pid = json.loads((state / "docker.json").read_text())["pid"]
    assert pid_alive(pid) and docker_engine.ping(f"unix://{sock}")

    status = labctl(state, "status")
    assert status.returncode == 0 and f"DOCKER_HOST=unix://{sock}" in status.stdout
    assert f"started by the lab (pid {pid}" in status.stdout

    again = labctl(state, "up")
    assert again.returncode == 0 and "already answers" in again.stdout
    assert json.loads((state / "docker.json").read_text())["pid"] == pid

    down = labctl(state, "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not pid_alive(pid) and not sock.exists()
    assert labctl(state, "status").returncode == 3
    nothing = labctl(state, "down")
    assert nothing.returncode == 0 and "nothing to stop" in nothing.stdout


@needs_private_engine
@pytest.mark.skipif(docker_engine.docker_host() is None, reason="needs a Docker engine already running")
def test_a_second_private_engine_leaves_the_first_ones_containers_alone(private_state):
    """Starting and stopping another lab engine keeps the first engine's containers served on docker0."""
    ensure_images([NGINX], progress=lambda _line: None)
    import docker
    first = docker.DockerClient(base_url=docker_engine.docker_host())
    container = first.containers.run(NGINX, detach=True, remove=True)
    try:
        container.reload()
        ip = container.attrs["NetworkSettings"]["IPAddress"]
        page = lambda: "Welcome to nginx!" in requests.get(f"http://{ip}/", timeout=1).text  # noqa: E731
        wait_for(page, 10, "nginx in the first engine")
        assert labctl(private_state, "up").returncode == 0
        assert labctl(private_state, "down").returncode == 0
        assert wait_for(page, 5, "nginx in the first engine after the second engine's up/down")
    finally:
        container.remove(force=True)
        first.close()


def test_up_without_dockerd_says_what_to_install(tmp_path):
    """With no engine answering and no dockerd on PATH, up exits 1 with the install command."""
    if docker_engine.ping(docker_engine.SYSTEM_SOCKET):
        pytest.skip("a system engine answers at /var/run/docker.sock, so `up` would use it")
    result = labctl(tmp_path / "state", "up", env_extra={"PATH": str(tmp_path / "empty-bin"),
                                                         "DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert result.returncode == 1
    assert "apt-get install docker.io" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.fixture
def posts_etcd_port():
    """Port 2379 under the notebooks' lock: `make test` runs the notebooks (their etcd on 2379) beside the tests."""
    with notebooks_lock.holding(say=lambda line: None):
        assert not port_in_use("127.0.0.1", 2379), "port 2379 is taken (not by the notebooks); the post's etcd needs it"
        yield


@pytest.mark.docker
@pytest.mark.skipif(docker_engine.docker_host() is None or not shutil.which("docker"),
                    reason="needs a Docker engine and the docker CLI (`python -m labserver docker up`)")
@pytest.mark.posts_ports   # port 2379 is also the notebooks' etcd's: never beside them (tests/conftest.py)
def test_the_posts_etcd_docker_run_works_unchanged(tmp_path, posts_etcd_port):
    """The post's `docker run --volume=$PWD/etcd-data:... --detach --net=host quay.io/coreos/etcd` serves etcd,
    its data in etcd-data/ (mounted where today's image keeps it, /var/lib/etcd/default.etcd)."""
    ensure_images([ETCD], progress=lambda _line: None)
    env = dict(os.environ, DOCKER_HOST=docker_engine.docker_host())
    run = subprocess.run(f"docker run --volume=$PWD/etcd-data:{ETCD_DATA_DIR} --detach --net=host {ETCD}",
                         shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    container_id = run.stdout.strip()
    try:
        health = wait_for(lambda: requests.get("http://127.0.0.1:2379/health", timeout=1).json(),
                          20, "etcd in the container")
        assert health["health"] == "true"
        assert (tmp_path / "etcd-data" / "member").is_dir()
    finally:
        subprocess.run(["docker", "rm", "--force", container_id], env=env, capture_output=True, timeout=60)


@pytest.mark.skipif(os.geteuid() != 0 or not sys.platform.startswith("linux"),
                    reason="mounting needs root on Linux (a private engine does too)")
def test_down_unmounts_what_an_engine_that_ended_left_mounted(tmp_path):
    """An engine that ended without cleaning up leaves a netns file mounted under its exec root; down
    unmounts it (and only mounts under the lab's dirs), so the state dir can be deleted."""
    state = tmp_path / "state"
    exec_root = state / "docker" / "exec"
    netns = exec_root / "netns" / "default"
    netns.parent.mkdir(parents=True)
    netns.touch()
    outside = tmp_path / "outside"
    outside.touch()
    for target in (netns, outside):
        subprocess.run(["mount", "--bind", "/proc/self/ns/net", str(target)], check=True)
    try:
        (state / "docker.json").write_text(json.dumps({"pid": 0, "exec_root": str(exec_root)}))
        down = labctl(state, "down")
        assert down.returncode == 0, down.stderr
        assert f"unmounting {netns}" in down.stdout
        mounted = Path("/proc/self/mountinfo").read_text()
        assert f" {netns} " not in mounted and f" {outside} " in mounted
        shutil.rmtree(state)   # "Device or resource busy" while the netns file was mounted
    finally:
        for target in (netns, outside):
            subprocess.run(["umount", str(target)], stderr=subprocess.DEVNULL, check=False)
