"""`make test-registry`: the online image path, offline: a Docker engine pulls the lab's images.

Online, `make images` pulls `nginx` and `busybox` from Docker Hub and `quay.io/coreos/etcd`
from quay.io, and the kubelet pulls again for imagePullPolicy Always. CI has no registry,
so this stands one up on loopback and lets a Docker engine of its own pull from it:

1. Debian's `docker-registry` (distribution 2.8) serves HTTPS (a throwaway self-signed
   certificate) on 127.77.x.y:443, its config and storage in a temp dir;
2. the images `make images` built in the lab's engine are pushed into it
   (library/nginx, library/busybox, coreos/etcd);
3. a second, empty engine starts (its own data, exec root and bridge; no iptables) with
   the registry as its Docker Hub mirror (`registry-mirrors`), and with `quay.io` naming
   the registry: this whole test runs in its own mount namespace (`unshare --mount`)
   whose /etc/hosts says so (no other process on the machine sees it);
4. `make images` against that engine must pull all three (each gets a RepoDigest; an
   image built offline has none), then `make test-notebooks LAB_RUNTIME=docker` must pass,
   and the registry's log must show the kubelet's pulls of nginx and busybox;
5. always: the engine, the registry (by PID), the bridge and the temp dir are removed.

The lab's engine (DOCKER_HOST) is only read from and tagged/untagged for the push.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import urllib3

from labserver.lab.machine.docker_engine import client, ping
from labserver.lab.machine.images import IMAGES
from labserver.lab.supervise.procs import LabError, pid_alive, start_process, stop_pid, wait_for
from labserver.lab.supervise.state import REPO_ROOT, state_dir

INSIDE = "LABSERVER_REGISTRY_TEST_NS"   # set once the test runs in its own mount namespace


def say(line: str) -> None:
    print(f"registry-test: {line}", flush=True)


def repository(image: str) -> str:
    """The registry path an image has: nginx:latest -> library/nginx, quay.io/coreos/etcd -> coreos/etcd."""
    name = image.rsplit(":", 1)[0]
    if name.startswith("quay.io/"):
        return name[len("quay.io/"):]
    return name if "/" in name else f"library/{name}"


def free_address() -> str:
    """A loopback address on which port 443 is free."""
    for _ in range(50):
        addr = f"127.77.{random.randint(1, 254)}.{random.randint(1, 254)}"
        with socket.socket() as s:
            try:
                s.bind((addr, 443))
                return addr
            except OSError:
                continue
    raise LabError("no loopback address with a free port 443 in 127.77.0.0/16")


def free_subnet() -> str:
    """A /24 for the engine's bridge that no route on this machine uses (172.30.N.0/24)."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for n in random.sample(range(1, 255), 254):
        if f"172.30.{n}." not in routes:
            return f"172.30.{n}.1/24"
    raise LabError("no free 172.30.N.0/24 for the test engine's bridge")


def run(args: list[str], what: str, **kw) -> None:
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise LabError(f"{what} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")


class Registry:
    """docker-registry serving HTTPS on addr:443 from its own temp dir; stopped by PID."""

    def __init__(self, work: Path, addr: str):
        self.work, self.addr = work, addr
        self.log = work / "registry.log"
        cert, key = work / "registry.crt", work / "registry.key"
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=quay.io", "-addext", f"subjectAltName=DNS:quay.io,IP:{addr}",
             "-keyout", str(key), "-out", str(cert)], "openssl (the registry's certificate)")
        config = work / "registry.yml"
        config.write_text(json.dumps({  # YAML is a superset of JSON
            "version": 0.1, "log": {"level": "info"},
            "storage": {"filesystem": {"rootdirectory": str(work / "storage")}, "delete": {"enabled": True}},
            "http": {"addr": f"{addr}:443", "tls": {"certificate": str(cert), "key": str(key)}},
        }))
        self.proc = start_process(["docker-registry", "serve", str(config)], self.log, name="docker-registry")
        say(f"registry: pid {self.proc.pid}, https://{addr}/ (log {self.log})")

        def answers():
            if not self.proc.alive():
                raise LabError(f"docker-registry exited: {self.proc.log_tail(3).strip()}")
            return requests.get(f"https://{addr}/v2/", verify=False, timeout=2).status_code == 200

        wait_for(answers, 30, "the registry", interval=0.2, progress=say)

    def manifest_gets(self) -> dict[str, int]:
        """How often each repository's manifest was asked for (GET or HEAD) so far, from the access log."""
        counts: dict[str, int] = {}
        for m in re.finditer(r'"(?:GET|HEAD) /v2/([\w./-]+)/manifests/[^ "]+', self.log.read_text(errors="replace")):
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        return counts

    def stop(self) -> None:
        stop_pid(self.proc.pid)


def push_lab_images(addr: str) -> None:
    """Push what `make images` built in the lab's engine into the registry (tags removed after)."""
    dc = client(timeout=600)
    try:
        for image in IMAGES:
            try:
                dc.images.get(image)
            except Exception:
                raise LabError(f"the lab's engine has no {image}: run `make images` first") from None
            target, tag = f"{addr}/{repository(image)}", image.rsplit(":", 1)[1]
            dc.api.tag(image, target, tag)
            try:
                for line in dc.api.push(target, tag=tag, stream=True, decode=True):
                    if "error" in line:
                        raise LabError(f"push of {image} to {target} failed: {line['error']}")
            finally:
                dc.api.remove_image(f"{target}:{tag}")  # only the tag: the image keeps its own name
            say(f"pushed {image} as {target}:{tag}")
    finally:
        dc.close()


class Engine:
    """A second, empty dockerd with the registry as its mirror and as quay.io; stopped by PID."""

    def __init__(self, work: Path, addr: str):
        self.work = work
        self.bridge = f"lsreg{random.randrange(16**4):04x}"
        subnet = free_subnet()
        run(["ip", "link", "add", self.bridge, "type", "bridge"], f"creating the bridge {self.bridge}")
        run(["ip", "addr", "add", subnet, "dev", self.bridge], "addressing the bridge")
        run(["ip", "link", "set", self.bridge, "up"], "bringing the bridge up")
        self.exec_root = Path("/run") / f"labserver-{self.bridge}"  # short: containerd's socket paths
        (work / "daemon.json").write_text(json.dumps({
            "registry-mirrors": [f"https://{addr}"],
            "insecure-registries": ["quay.io"],   # its certificate is the test's own, not a CA's
        }))
        sock = work / "docker.sock"
        self.url = f"unix://{sock}"
        self.proc = start_process(
            [shutil.which("dockerd") or "dockerd", "--config-file", str(work / "daemon.json"),
             "--data-root", str(work / "data"), "--exec-root", str(self.exec_root),
             "-H", self.url, "--pidfile", str(work / "dockerd.pid"), "--bridge", self.bridge,
             "--iptables=false", "--ip-masq=false"], work / "dockerd.log", name="dockerd")
        say(f"engine: pid {self.proc.pid}, bridge {self.bridge} {subnet}, {self.url}")

        def answers():
            if not self.proc.alive():
                raise LabError(f"dockerd exited: {self.proc.log_tail(3).strip()}")
            return ping(self.url)

        wait_for(answers, 60, "the test engine", interval=0.2, progress=say)

    def client(self):
        import docker
        return docker.DockerClient(base_url=self.url, timeout=60)

    def stop(self) -> None:
        if pid_alive(self.proc.pid):
            stop_pid(self.proc.pid, timeout=30, group=False)  # dockerd stops its containers and containerd
            stop_pid(self.proc.pid, timeout=5)                # then whatever is left of its group
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)
        # dockerd leaves its network namespace file (netns/default) mounted in this namespace
        with open("/proc/self/mounts") as f:
            mounted = [line.split()[1] for line in f if line.split()[1].startswith(f"{self.exec_root}/")]
        for path in reversed(mounted):
            subprocess.run(["umount", "-l", path], capture_output=True)
        shutil.rmtree(self.exec_root, ignore_errors=True)
        if self.exec_root.exists():
            say(f"could not remove {self.exec_root}")


def timed(what: str, args: list[str], env: dict, timeout: float = 1800) -> float:
    say(f"{what}: {' '.join(args)}")
    start = time.monotonic()
    try:
        r = subprocess.run(args, env=env, cwd=REPO_ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LabError(f"{what} did not finish within {timeout:.0f} s") from None
    if r.returncode != 0:
        raise LabError(f"{what} failed (exit status {r.returncode})")
    seconds = time.monotonic() - start
    say(f"{what}: done in {seconds:.1f} s")
    return seconds


def inside() -> int:
    """The test proper, in its own mount namespace (see the module docstring)."""
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    run(["mount", "--make-rprivate", "/"], "making this mount namespace private")
    work = Path(tempfile.mkdtemp(prefix="labserver-registry-"))
    registry = engine = None
    times: dict[str, float] = {}
    try:
        addr = free_address()
        registry = Registry(work, addr)
        start = time.monotonic()
        push_lab_images(addr)
        times["push"] = time.monotonic() - start
        hosts = work / "hosts"
        hosts.write_text(Path("/etc/hosts").read_text() + f"\n{addr} quay.io  # labserver registry test\n")
        run(["mount", "--bind", str(hosts), "/etc/hosts"], "the test's /etc/hosts")
        engine = Engine(work, addr)
        if engine.client().images.list():
            raise LabError("the test engine should start without images")
        env = {k: v for k, v in os.environ.items() if k not in ("LABSERVER_OFFLINE", INSIDE)}
        env.update(DOCKER_HOST=engine.url, LAB_RUNTIME="docker")
        times["make images (pulls)"] = timed("make images", ["make", "images"], env)
        dc = engine.client()
        try:
            for image in IMAGES:
                name = image.rsplit(":", 1)[0]
                digests = [d for d in dc.images.get(image).attrs.get("RepoDigests") or []
                           if d.startswith(f"{name}@sha256:")]
                if not digests:
                    raise LabError(f"{image} was not pulled as {name} (no RepoDigest): `make images` built it")
                say(f"pulled {image}: {digests[0]}")
        finally:
            dc.close()
        before = registry.manifest_gets()
        say(f"manifest fetches after make images: {before}")
        if not all(before.get(repository(i)) for i in IMAGES):
            raise LabError(f"the registry served no manifest for some image: {before}")
        times["notebooks (docker)"] = timed("notebooks", ["make", "test-notebooks", "LAB_RUNTIME=docker"], env)
        after = registry.manifest_gets()
        pulled = [r for r in ("library/nginx", "library/busybox") if after.get(r, 0) > before.get(r, 0)]
        say(f"manifest fetches after the notebooks: {after}")
        if len(pulled) != 2:
            raise LabError("the kubelet did not pull nginx and busybox through the mirror "
                           f"(imagePullPolicy Always): {before} -> {after}")
        timed("check-clean", ["make", "check-clean"], env, timeout=120)
    except LabError as e:
        print(f"registry-test: {e}", file=sys.stderr)
        return 1
    finally:
        if engine:
            engine.stop()
        if registry:
            registry.stop()
            shutil.copy(registry.log, state_dir() / "registry-test.log")  # for a look after a failure
            say(f"the registry's log is kept in {state_dir() / 'registry-test.log'}")
        subprocess.run(["umount", "/etc/hosts"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        if times:
            say("times: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    say("the engine pulled every image from the registry, and the notebooks passed")
    return 0


def main() -> int:
    if os.environ.get(INSIDE):
        return inside()
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        print("registry-test: needs root on Linux (a second Docker engine, a bridge, a mount namespace)",
              file=sys.stderr)
        return 1
    for program in ("docker-registry", "dockerd", "unshare", "openssl", "ip"):
        if not shutil.which(program):
            print(f"registry-test: {program} is not installed", file=sys.stderr)
            return 1
    env = dict(os.environ, **{INSIDE: "1"})
    return subprocess.run(["unshare", "--mount", "--", sys.executable, __file__], env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
