"""`make test-devcontainer`: the dev container built and used as VS Code would, by the real CLI.

The workspace is a fresh clone of this checkout's HEAD (a learner's clone: no .venv,
no .lab), and the engine is the lab's (DOCKER_HOST, or the one `make docker-up` started):

1. the Dev Containers CLI (@devcontainers/cli, pinned) is installed into .lab/node by npm;
2. the Dockerfile's base image is made present: pulled, or built offline from Debian's
   packages (`python -m labserver images python:3.11-slim-bookworm`);
3. `devcontainer build`, then `devcontainer up` (creates the container and runs its
   postCreateCommand, `make venv`);
4. `devcontainer exec`: bubblewrap really runs inside (the process runtime's sandbox), and
   `make test-notebooks` runs every notebook under nbval;
5. always: the containers the CLI made for the clone (by id), the image it built, the clone.

The time of each step is printed. The lab's private engine does no NAT (--ip-masq=false),
so the container gets the host's network (LABSERVER_DEVCONTAINER_NETWORK=host) to reach
Debian and PyPI; its loopback pod IPs and ports are then the host's, so nothing else may
run the notebooks meanwhile (CI runs one step at a time). Extra CAs of the host
(/usr/local/share/ca-certificates) are copied into the clone for a proxy that re-signs TLS.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labserver.lab.machine.docker_engine import docker_host
from labserver.lab.machine.images import DEVCONTAINER_BASE, ensure_images
from labserver.lab.supervise.procs import LabError
from labserver.lab.supervise.state import REPO_ROOT, state_dir

HOST_CAS = Path("/usr/local/share/ca-certificates")


def say(line: str) -> None:
    print(f"devcontainer-test: {line}", flush=True)


def install_cli(version: str) -> Path:
    """The pinned CLI in .lab/node (npm install, only when missing or another version)."""
    prefix = state_dir() / "node"
    cli = prefix / "node_modules" / ".bin" / "devcontainer"
    if cli.exists():
        have = subprocess.run([str(cli), "--version"], capture_output=True, text=True).stdout.strip()
        if have == version:
            return cli
    if not shutil.which("npm"):
        raise LabError("the Dev Containers CLI needs node and npm: `apt-get install nodejs npm`")
    say(f"installing @devcontainers/cli@{version} into {prefix} (npm)")
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
                    f"@devcontainers/cli@{version}"], check=True, timeout=600)
    return cli


def timed(what: str, args: list[str], env: dict, timeout: float, capture: bool = False):
    """Run a CLI step with a deadline, its progress streamed; return (stdout, seconds)."""
    say(f"{what}: {' '.join(args[1:4])} ...")
    start = time.monotonic()
    try:
        r = subprocess.run(args, env=env, timeout=timeout, text=True,
                           stdout=subprocess.PIPE if capture else None)
    except subprocess.TimeoutExpired:
        raise LabError(f"{what} did not finish within {timeout:.0f} s") from None
    seconds = time.monotonic() - start
    if r.returncode != 0:
        tail = (r.stdout or "").strip().splitlines()[-1:] if capture else []
        raise LabError(f"{what} failed (exit status {r.returncode}) {' '.join(tail)}".rstrip())
    say(f"{what}: done in {seconds:.1f} s")
    return (r.stdout or ""), seconds


def result_of(stdout: str) -> dict:
    """The CLI's JSON result: the last stdout line that parses as a JSON object."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return {}


def docker(env: dict, *args: str) -> str:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cli-version", required=True, help="@devcontainers/cli version to install")
    p.add_argument("--timeout", type=float, default=1800, help="seconds each step may take")
    args = p.parse_args(argv)
    url = docker_host()
    if not url:
        print("devcontainer-test: no Docker engine answers (`make docker-up`, or set DOCKER_HOST)",
              file=sys.stderr)
        return 1
    env = dict(os.environ, DOCKER_HOST=url, LABSERVER_DEVCONTAINER_NETWORK="host")
    env.pop("LAB_RUNTIME", None)  # the container sets its own (process)
    times: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="labserver-devcontainer-"))
    clone = work / "labserver"
    images: set[str] = set()
    try:
        cli = str(install_cli(args.cli_version))
        start = time.monotonic()
        ensure_images([DEVCONTAINER_BASE], progress=say)
        times["base image"] = time.monotonic() - start
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(clone)], check=True)
        say(f"workspace: a fresh clone of {subprocess.run(['git', '-C', str(clone), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()} in {clone}")
        for ca in sorted(HOST_CAS.glob("*.crt")):
            shutil.copy(ca, clone / ".devcontainer" / "ca-certificates" / ca.name)
        folder = ["--workspace-folder", str(clone), "--log-format", "text"]
        out, times["build"] = timed("devcontainer build", [cli, "build", *folder], env, args.timeout, capture=True)
        images.update(result_of(out).get("imageName") or [])
        out, times["up (create + make venv)"] = timed("devcontainer up", [cli, "up", *folder], env,
                                                      args.timeout, capture=True)
        result = result_of(out)
        if result.get("outcome") != "success":
            raise LabError(f"devcontainer up: {result}")
        say(f"container {result['containerId'][:12]}, workspace {result.get('remoteWorkspaceFolder')}")
        timed("bubblewrap sandbox inside", [cli, "exec", *folder, ".venv/bin/python", "-c",
               "from labserver.kubelet.process_images import bwrap_path as p; "
               "assert p(), 'bwrap cannot run in the dev container'; print('bwrap runs:', p())"],
              env, 60)
        _, times["nbval inside"] = timed("devcontainer exec make test-notebooks",
                                         [cli, "exec", *folder, "make", "test-notebooks"], env, args.timeout)
    except (LabError, subprocess.CalledProcessError) as e:
        print(f"devcontainer-test: {e}", file=sys.stderr)
        return 1
    finally:
        for cid in docker(env, "ps", "-aq", "--filter", f"label=devcontainer.local_folder={clone}").split():
            images.add(docker(env, "inspect", "-f", "{{.Image}}", cid))
            docker(env, "rm", "-f", "-v", cid)
            say(f"removed container {cid}")
        for image in sorted(i for i in images if i):
            docker(env, "rmi", image)
        shutil.rmtree(work, ignore_errors=True)
        if times:
            say("times: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    say("the notebooks passed inside the dev container")
    return 0


if __name__ == "__main__":
    sys.exit(main())
