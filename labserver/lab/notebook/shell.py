"""The settings under which the notebooks' `!` commands, and a terminal, reach the lab.

The post's commands (`curl ... | jq`, `kubectl get pods`, `etcdctl get`,
`docker ps`) are typed into cells as they are, and run by a shell. For them to
reach the lab, that shell needs the venv's programs first on PATH (kubectl
1.37 and etcdctl ship in the venv; an older kubectl may be on the system
PATH), KUBECONFIG, the etcd endpoint, DOCKER_HOST when the Docker runtime is
used, and the directory the notebooks' files (nginx.yaml, nginx.json ...) live
in. The lab writes them once into `.lab/env.sh`, which a terminal sources, and
sets the same in the kernel's own environment, so a cell and a terminal run
each command the same way.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from ..supervise.state import REPO_ROOT

ENV_FILE = "env.sh"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"   # where the notebooks' files are written and read


def venv_bin() -> Path:
    """The directory of the running Python: the venv's bin/ (kubectl, etcdctl, labserver)."""
    return Path(sys.executable).parent


def settings(lab_dir: Path, ports, runtime: str, docker_host: str | None) -> list[tuple[str, str]]:
    """(name, value) of each variable the shell needs, in the order env.sh sets them."""
    found = [("PATH", f"{venv_bin()}:$PATH"),
             ("KUBECONFIG", str(Path(lab_dir) / "kubeconfig")),
             ("KUBECACHEDIR", str(Path(lab_dir) / "kubectl-home" / ".kube" / "cache")),
             ("ETCDCTL_ENDPOINTS", f"http://127.0.0.1:{ports.etcd}"),
             ("LAB_RUNTIME", runtime)]
    if docker_host:
        found.append(("DOCKER_HOST", docker_host))
    return found


def env_script(lab_dir: Path, ports, runtime: str, docker_host: str | None) -> str:
    """The text of .lab/env.sh."""
    lines = ["# Written by the lab (labserver.lab): the settings the notebooks' `!` commands run with.",
             "# In a terminal, from the top of the checkout:  source .lab/env.sh"]
    for name, value in settings(lab_dir, ports, runtime, docker_host):
        quoted = f'"{value}"' if name == "PATH" else shlex.quote(value)
        lines.append(f"export {name}={quoted}")
    lines.append(f"cd {shlex.quote(str(NOTEBOOKS_DIR))}")
    return "\n".join(lines) + "\n"


def apply(lab_dir: Path, ports, runtime: str, docker_host: str | None) -> Path:
    """Write .lab/env.sh and set the same variables (and directory) in this process; return the file."""
    path = Path(lab_dir) / ENV_FILE
    path.write_text(env_script(lab_dir, ports, runtime, docker_host))
    for name, value in settings(lab_dir, ports, runtime, docker_host):
        if name == "PATH":
            rest = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != str(venv_bin())]
            os.environ["PATH"] = os.pathsep.join([str(venv_bin()), *rest])
        else:
            os.environ[name] = value
    os.chdir(NOTEBOOKS_DIR)
    return path


def run_in_bash(command: str) -> int:
    """Run one `!` line with bash, its output a pipe (as in a script), streamed into the cell.

    IPython's own `!` runs /bin/sh on a pseudo-terminal, where jq colours its
    output with escape codes; bash with a pipe prints plain text, the same in
    every run, and is what `source .lab/env.sh` is written for.
    """
    proc = subprocess.Popen(["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace")
    for line in proc.stdout:
        print(line, end="", flush=True)
    return proc.wait()


def install_system(ip) -> None:
    """Make `!command` in this IPython kernel run through `run_in_bash` (variables expanded as IPython does)."""
    def system(cmd: str) -> None:
        ip.user_ns["_exit_code"] = run_in_bash(ip.var_expand(cmd, depth=1))
    ip.system = system
