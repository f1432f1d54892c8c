"""The process runtime's two "images": what `nginx` and `busybox` mean without Docker.

There is no image to pull: an image name picks a host program (Debian's nginx
or busybox) and a *view*, the file system the container sees, built with
bubblewrap (`bwrap`) from read-only host directories plus the pod's volumes at
their mountPaths:

  nginx    /usr and /etc from the host, an empty /var with /var/log/nginx, the
           container's run dir (config, pid, temp paths); nginx runs in the
           foreground on podIP:80 serving Debian's stock welcome page and
           writes /var/log/nginx/access.log, which is the pod's volume when one
           is mounted there (as in the post). The spec's command and args
           replace the image's `nginx -g "daemon off;"`; `nginx` on the
           container's PATH is the host's nginx on that config.
  busybox  /bin holding busybox and its applet links, the host's libraries
           and /etc; the container's command and args run unchanged, so
           `/bin/sh -c '...'` is busybox's shell.

A volume mounted under /etc (tutorials' /etc/config) turns the view's /etc
into a tmpfs holding read-only binds of the host's entries, as bwrap cannot
make a mount point inside a read-only /etc.

Without bubblewrap (or where it cannot run) the same programs run directly
on the host: nginx still logs into a volume mounted at /var/log/nginx, but
other absolute mountPaths do not exist, which `volume_warning` says.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .runtime import ImagePullError, PodRef, RuntimeError_
from .volumes import sub_path

SUPPORTED = ("nginx", "busybox")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX_PATH = "/bin:/sbin:/usr/bin:/usr/sbin"
WELCOME_PAGES = ("/var/www/html/index.nginx-debian.html", "/usr/share/nginx/html/index.html")
NGINX_LOG_DIR = "/var/log/nginx"
VOLUME_WARNING = ("bubblewrap (bwrap) cannot run here, so containers run unsandboxed: volumes "
                  "at absolute mountPaths are unavailable (install it: apt-get install bubblewrap)")
# The host programs this runtime runs, and the Debian package of each (the lab's
# `make system-deps` installs these; here they only name the fix in an error).
HOST_PROGRAMS = {
    "nginx": ("nginx-light", "runs the nginx image in the process runtime"),
    "busybox": ("busybox", "runs the busybox image in the process runtime"),
    "bwrap": ("bubblewrap", "shows each container its volumes at their mountPaths"),
}
# Where Debian puts daemons (nginx); not on a normal user's PATH.
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def find_program(name: str) -> str | None:
    """Full path of `name` on PATH or in the sbin directories, else None."""
    path = os.pathsep.join([os.environ.get("PATH", os.defpath), *SBIN_DIRS])
    return shutil.which(name, path=path)


def package_hint(program: str) -> str:
    """`<program> is not installed: apt-get install <package>`."""
    package = HOST_PROGRAMS.get(program, (None,))[0]
    return f"{program} is not installed" + (f": apt-get install {package}" if package else "")


def image_name(image: str) -> str:
    """`docker.io/library/nginx:1.25@sha256:...` -> `nginx`."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


def resolve(image: str) -> tuple[str, str]:
    """(image name, host program path); ImagePullError saying what is missing."""
    name = image_name(image)
    if name not in SUPPORTED:
        raise ImagePullError(f'image "{image}" cannot run in the process runtime: '
                             f"it runs only {' and '.join(SUPPORTED)}")
    program = find_program(name)
    if not program:
        raise ImagePullError(package_hint(name))
    return name, program


_bwrap_works: dict[str, bool] = {}


def _top_links(names: tuple[str, ...]) -> list[str]:
    """Recreate the host's /bin, /lib ... as they are: usr-merge symlinks, else binds."""
    args = []
    for name in names:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    return args


def _common(hostname: str | None) -> list[str]:
    args = ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp", "--die-with-parent"]
    if hostname:
        args += ["--unshare-uts", "--hostname", hostname]
    return args


def host_view(hostname: str | None = None) -> list[str]:
    """bwrap arguments for a view of the host's /usr and /etc (the nginx image)."""
    return ["--ro-bind", "/usr", "/usr", *_top_links(("bin", "lib", "lib64", "sbin")),
            *_common(hostname)]


def bwrap_path() -> str | None:
    """bwrap's path when it is installed and really runs here (checked once)."""
    path = find_program("bwrap")
    if not path:
        return None
    if path not in _bwrap_works:
        try:
            ok = subprocess.run([path, *host_view("check"), "--", "true"], capture_output=True,
                                timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        _bwrap_works[path] = ok
    return path if _bwrap_works[path] else None


@dataclass
class Launch:
    """How to run one container: argv inside its view, environment, bwrap view args."""

    argv: list[str]
    env: dict
    view: list[str] = field(default_factory=list)   # empty: run unsandboxed
    cwd: str = "/"


class Images:
    """Turns a container spec into a Launch for nginx or busybox."""

    def __init__(self, root_dir: Path):
        self.root_dir = Path(root_dir)

    def busybox_bin(self, busybox: str) -> Path:
        """A directory of busybox applet links (the image's /bin), made once."""
        bin_dir = self.root_dir / "images" / "busybox" / "bin"
        if bin_dir.is_dir():
            return bin_dir
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                                 timeout=10).stdout.split()
        tmp = bin_dir.with_name(f"bin.{os.getpid()}.{threading.get_ident()}.tmp")  # pods start in parallel
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / "busybox").touch()  # mount point for the host's busybox binary
        for applet in applets:
            if applet != "busybox":
                (tmp / applet).symlink_to("busybox")
        try:
            tmp.rename(bin_dir)
        except OSError:  # another worker made it first
            shutil.rmtree(tmp, ignore_errors=True)
        return bin_dir

    def launch(self, image: str, spec: dict, pod: PodRef, ip: str, volumes: dict[str, str],
               run_dir: Path, sandboxed: bool) -> Launch:
        """The Launch of container `spec` of `pod`; raises ImagePullError / RuntimeError_."""
        name, program = resolve(image)
        mounts = _mounts(spec, volumes)
        env = {"HOSTNAME": pod.name, "HOME": "/root"}
        env.update({e["name"]: e.get("value", "") for e in spec.get("env") or []
                    if "valueFrom" not in e})
        if name == "nginx":
            launch = self._nginx(program, spec, ip, mounts, Path(run_dir), sandboxed, pod)
        else:
            launch = self._busybox(program, spec, sandboxed, pod)
        launch.env = {"PATH": launch.env["PATH"], **env}
        if sandboxed:
            launch.view = _writable_etc(launch.view, [path for _, path, _ in mounts])
            for host_dir, path, read_only in mounts:
                launch.view += ["--ro-bind" if read_only else "--bind", host_dir, path]
            launch.view += ["--chdir", spec.get("workingDir") or "/"]
        elif spec.get("workingDir") and os.path.isdir(spec["workingDir"]):
            launch.cwd = spec["workingDir"]
        return launch

    def _nginx(self, nginx: str, spec: dict, ip: str, mounts, run_dir: Path, sandboxed: bool,
               pod: PodRef) -> Launch:
        page = next((p for p in WELCOME_PAGES if os.path.exists(p)), None)
        if page is None:
            raise ImagePullError("nginx's welcome page is missing: apt-get install nginx-common")
        html = os.path.dirname(page)
        # The nginx image links /var/log/nginx/access.log to /dev/stdout: `kubectl logs` shows each
        # request. A volume mounted on /var/log/nginx (the post's pod) hides that link, and nginx
        # writes a real file there, which the log-truncator empties.
        volume = next((h for h, p, _ in mounts if p.rstrip("/") == NGINX_LOG_DIR), None)
        if volume is None:
            access_log = "/dev/stdout"
        else:   # in a view the volume is at /var/log/nginx; with no view, its host dir stands in
            access_log = f"{NGINX_LOG_DIR if sandboxed else volume}/access.log"
        conf = run_dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(run=run_dir, ip=ip, access_log=access_log, html=html,
                                          index=os.path.basename(page)))
        view = []
        if sandboxed:
            view = [*host_view(pod.name), "--dir", NGINX_LOG_DIR, "--bind", str(run_dir), str(run_dir)]
            if not html.startswith("/usr/"):
                view += ["--dir", html, "--ro-bind", html, html]  # --dir: parents 0755
        # `nginx` on the container's PATH is the host's nginx on this config; the image's
        # CMD is `nginx -g "daemon off;"`, and the spec's command and args replace it as in Docker.
        bin_dir = run_dir / "bin"
        bin_dir.mkdir(exist_ok=True)
        wrapper = bin_dir / "nginx"
        wrapper.write_text(f'#!/bin/sh\nexec {nginx} -p "{run_dir}/" -c "{conf}" -e stderr "$@"\n')
        wrapper.chmod(0o755)
        argv = list(spec.get("command") or []) + list(spec.get("args") or []) or ["nginx", "-g", "daemon off;"]
        if argv[0] == "nginx":
            argv[0] = str(wrapper)
        return Launch(argv, {"PATH": f"{bin_dir}:{DEFAULT_PATH}"}, view)

    def _busybox(self, busybox: str, spec: dict, sandboxed: bool, pod: PodRef) -> Launch:
        argv = list(spec.get("command") or []) + list(spec.get("args") or []) or ["sh"]
        if sandboxed:
            view = ["--ro-bind", "/usr/lib", "/usr/lib", "--ro-bind-try", "/usr/lib64", "/usr/lib64",
                    *_top_links(("lib", "lib64")),
                    "--ro-bind", str(self.busybox_bin(busybox)), "/bin",
                    "--ro-bind", busybox, "/bin/busybox", "--symlink", "bin", "/sbin",
                    *_common(pod.name)]
            return Launch(argv, {"PATH": BUSYBOX_PATH}, view)
        applet = os.path.basename(argv[0])
        if "/" in argv[0] or applet in _applets(busybox):
            argv = [busybox, applet, *argv[1:]]
        return Launch(argv, {"PATH": DEFAULT_PATH})


def _writable_etc(view: list[str], paths: list[str]) -> list[str]:
    """The view with /etc as a tmpfs of read-only binds of the host's entries when a volume is
    mounted under /etc (tutorials' /etc/config): bwrap cannot make a mount point in a read-only /etc."""
    under = {p.rstrip("/").split("/")[2] for p in paths if p.startswith("/etc/") and p.rstrip("/") != "/etc"}
    if not under:
        return view
    out, i = [], 0
    while i < len(view):
        if view[i:i + 3] == ["--ro-bind", "/etc", "/etc"]:
            out += ["--tmpfs", "/etc"]
            for entry in sorted(os.listdir("/etc")):
                if entry not in under:
                    host = f"/etc/{entry}"
                    out += (["--symlink", os.readlink(host), host] if os.path.islink(host)
                            else ["--ro-bind-try", host, host])
            i += 3
        else:
            out.append(view[i])
            i += 1
    return out


def _applets(busybox: str) -> set[str]:
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, timeout=10).stdout
    return set(out.split())


def _mounts(spec: dict, volumes: dict[str, str]) -> list[tuple[str, str, bool]]:
    """(host dir, mountPath, readOnly) for each volumeMount; unknown volumes are an error."""
    mounts = []
    for m in spec.get("volumeMounts") or []:
        if m["name"] not in volumes:
            raise RuntimeError_(f'volumeMount "{m["name"]}" names no volume of the pod',
                                "CreateContainerConfigError")
        host = volumes[m["name"]]
        if m.get("subPath"):
            host = sub_path(host, m["subPath"])
        mounts.append((host, m["mountPath"], bool(m.get("readOnly"))))
    return mounts


NGINX_CONF = """\
# Written by the labserver process runtime: Debian's nginx as the "nginx" image.
worker_processes 1;
pid "{run}/nginx.pid";
error_log stderr;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log "{access_log}";
    client_body_temp_path "{run}/client_body";
    proxy_temp_path "{run}/proxy";
    fastcgi_temp_path "{run}/fastcgi";
    uwsgi_temp_path "{run}/uwsgi";
    scgi_temp_path "{run}/scgi";
    server {{
        listen {ip}:80;
        root "{html}";
        index {index};
    }}
}}
"""
