"""The lab's records in its state dir: what it started, so anything can find it again.

Notebook kernels come and go; the servers they start outlive them. Like the
post's `etcd-container-id` file, each start leaves a record here - pid files,
the etcd container id, the kubelet's runtime and root dir, the ports - and
`python -m labserver teardown` stops exactly what these records name. A recorded PID is only trusted while /proc says it is
still the program the lab started (PIDs get reused), never found by name.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path

from .procs import pid_alive
from .state import read_json, state_dir, write_json

ETCD_PID = "etcd.pid"
ETCD_CONTAINER = "etcd-container-id"
KUBELET = "kubelet.json"
NODES = "nodes.json"
LAB = "lab.json"
COMPONENTS = ("controller-manager", "scheduler", "kubelet", "apiserver", "etcd")
# What the command line of each recorded PID must contain to still be ours.
MARKERS = {"etcd": "etcd", "apiserver": "labserver\0apiserver", "kubelet": "labserver\0kubelet",
           "scheduler": "labserver\0scheduler", "controller-manager": "labserver\0controller-manager"}


def _marker(name: str) -> str:
    """The marker of a component; the kubelets of added nodes (`kubelet-node-2`) are kubelets."""
    return MARKERS["kubelet"] if name.startswith("kubelet-") else MARKERS[name]


def pid_file(name: str) -> str:
    return f"{name}.pid"


def read_pid(name: str) -> int | None:
    """The recorded PID of a component, or None."""
    try:
        return int((state_dir() / pid_file(name)).read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return None


def component_pid(name: str) -> int | None:
    """The recorded PID while that process is alive and still the lab's `name`."""
    pid = read_pid(name)
    if pid is None or not pid_alive(pid):
        return None
    cmdline = _cmdline(pid)
    if cmdline is not None and _marker(name) not in cmdline:
        return None  # the PID was reused by another program: not ours any more
    return pid


def component_alive(name: str) -> bool:
    return component_pid(name) is not None


def forget_pid(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir() / pid_file(name)).unlink()


# --- etcd: a process or the post's container -----------------------------------------------------

def etcd_container_id() -> str | None:
    try:
        return (state_dir() / ETCD_CONTAINER).read_text().strip() or None
    except OSError:
        return None


def save_etcd_container(container_id: str) -> None:
    (state_dir() / ETCD_CONTAINER).write_text(container_id + "\n")
    forget_pid("etcd")


def forget_etcd_container() -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir() / ETCD_CONTAINER).unlink()


def etcd_kind() -> str:
    return "docker" if etcd_container_id() else "process"


def _container(container_id: str):
    """The docker SDK container, or None when it or the engine is gone."""
    try:
        from ..machine.docker_engine import client
        dc = client(timeout=10)
    except Exception:
        return None
    try:
        return dc.containers.get(container_id)
    except Exception:
        return None


def etcd_container_running() -> bool:
    cid = etcd_container_id()
    c = _container(cid) if cid else None
    return bool(c and c.status == "running")


def etcd_alive() -> bool:
    if etcd_container_id():
        return etcd_container_running()
    return component_alive("etcd")


def etcd_failed() -> bool:
    """True when the recorded etcd has exited (used to stop waiting early)."""
    if etcd_container_id():
        c = _container(etcd_container_id())
        return c is None or c.status in ("exited", "dead")
    return read_pid("etcd") is not None and not component_alive("etcd")


def etcd_log_tail(lines: int = 5) -> str:
    cid = etcd_container_id()
    if cid:
        c = _container(cid)
        return c.logs(tail=lines).decode(errors="replace").strip() if c else "container gone"
    with contextlib.suppress(OSError):
        return "\n".join((state_dir() / "etcd.log").read_text(errors="replace").splitlines()[-lines:])
    return ""


def etcd_describe() -> str:
    cid = etcd_container_id()
    if cid:
        return f"etcd container {cid[:12]} (id in {ETCD_CONTAINER})"
    return f"etcd process {read_pid('etcd')} (pid in {ETCD_PID})"


# --- kubelet and ports ------------------------------------------------------------------------------

def kubelet() -> dict:
    """{'runtime', 'endpoint', 'root_dir', 'node', 'port'} of the lab's kubelet, or {}.

    Written from what the lab passed as flags, and the runtime from what the
    kubelet then reported in its node's status.
    """
    return read_json(KUBELET)


def save_kubelet(record: dict) -> None:
    write_json(KUBELET, record)


def added_nodes() -> dict[str, dict]:
    """node name -> the record (as kubelet()'s, plus 'component', its pid file's name) of each added node."""
    return read_json(NODES)


def save_added_node(record: dict) -> None:
    data = read_json(NODES)
    data[record["node"]] = record
    write_json(NODES, data)


def all_kubelets() -> list[dict]:
    """The records of every kubelet the lab started: its first node's, then the added nodes'."""
    first = kubelet()
    return ([{**first, "component": "kubelet"}] if first else []) + list(added_nodes().values())


@dataclass
class Ports:
    """Where the lab's servers listen: the post's ports unless a lab was told others (tests)."""

    etcd: int = 2379
    etcd_peer: int = 2380
    apiserver: int = 8080
    kubelet: int = 10250
    scheduler: int = 10251           # the health ports the 2015 components served on
    controller_manager: int = 10252


PORT_NAMES = {"etcd": "etcd", "etcd_peer": "etcd peer", "apiserver": "API server", "kubelet": "kubelet",
              "scheduler": "scheduler", "controller_manager": "controller-manager"}


def ports() -> Ports:
    """The ports the lab recorded (the defaults when none are)."""
    return Ports(**read_json(LAB).get("ports", {}))


def save_ports(values: Ports) -> None:
    data = read_json(LAB)
    data["ports"] = asdict(values)
    write_json(LAB, data)
