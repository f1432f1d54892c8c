"""What the process runtime reads from /proc to know its processes and addresses.

A PID alone does not identify a process across a kubelet restart: the number
may have been reused. A process is (boot id, PID, start time in clock ticks
since boot), which is what the runtime records and compares. Sockets come from
/proc/net/tcp so the runtime can see which loopback addresses are taken and
when nginx listens, without connecting to anything.
"""
from __future__ import annotations

import os
import socket
import struct

LISTEN = "0A"  # TCP state in /proc/net/tcp


def boot_id() -> str:
    """This boot's id; PIDs and start times recorded in another boot mean nothing."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state is [0])."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks after boot), None when there is none."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_running(pid: int, ticks: int | None) -> bool:
    """True when `pid` is the same live process (not a zombie) that started at `ticks`."""
    if not pid or ticks is None:
        return False
    _reap(pid)
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] != "Z" and int(fields[19]) == ticks


def _reap(pid: int) -> None:
    """Collect the exit status of our own exited child so it leaves /proc."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def group_members(pgid: int, since_ticks: int) -> list[int]:
    """Live processes of process group `pgid` started at or after `since_ticks`."""
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if (fields and fields[0] != "Z" and int(fields[2]) == pgid
                and int(fields[19]) >= since_ticks):
            members.append(int(name))
    return members


def _hex_ip(hex_addr: str) -> str:
    return socket.inet_ntoa(struct.pack("<I", int(hex_addr, 16)))


def tcp_sockets() -> list[tuple[str, int, str]]:
    """(local IPv4 address, port, state) of every TCP socket on the host."""
    sockets = []
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                addr, port = parts[1].split(":")
                sockets.append((_hex_ip(addr), int(port, 16), parts[3]))
    except (OSError, StopIteration):
        pass
    return sockets


def listening(ip: str, port: int) -> bool:
    """True when something listens on ip:port."""
    return any(s == (ip, port, LISTEN) for s in tcp_sockets())
