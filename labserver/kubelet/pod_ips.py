"""Loopback pod IPs for the process runtime, like a CNI plugin's host-local IPAM.

All of 127.0.0.0/8 reaches the host's loopback interface on Linux, so each pod
can have an address of its own (default range 127.1.0.0/16) on which its
containers listen: two nginx pods both serve port 80, on different IPs.

Allocations are kept in a JSON file under the runtime's root dir so a restarted
kubelet hands out no address twice. Several runtimes may share one machine
(tests, other labs); an address on which any socket already exists is skipped,
and each root dir starts at its own random point in the range, so two of them
rarely even try the same address.
"""
from __future__ import annotations

import ipaddress
import json
import random
import threading
from pathlib import Path

from .procfs import tcp_sockets

NEVER = {ipaddress.ip_address("127.0.0.1")}


class PodIPs:
    """Allocate and release pod IPs from `cidr`, persisted in `path`."""

    def __init__(self, path: Path, cidr: str):
        self.path = Path(path)
        self.network = ipaddress.ip_network(cidr, strict=False)
        if self.network.num_addresses < 4:
            raise ValueError(f"pod CIDR {cidr} is too small")
        self._lock = threading.Lock()

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            data = {}
        data.setdefault("pods", {})
        data.setdefault("cursor", random.randrange(1, self.network.num_addresses - 1))
        return data

    def _save(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(self.path)

    def get(self, uid: str) -> str | None:
        """The pod's address, if it has one."""
        with self._lock:
            return self._load()["pods"].get(uid)

    def allocate(self, uid: str) -> str:
        """The pod's address: its existing one, else the next free one."""
        with self._lock:
            data = self._load()
            if uid in data["pods"]:
                return data["pods"][uid]
            taken = set(data["pods"].values()) | {ip for ip, _, _ in tcp_sockets()}
            size = self.network.num_addresses
            for step in range(size):
                offset = (data["cursor"] + step) % size
                if offset in (0, size - 1):  # network and broadcast addresses
                    continue
                ip = self.network.network_address + offset
                if ip in NEVER or str(ip) in taken:
                    continue
                data["pods"][uid] = str(ip)
                data["cursor"] = (offset + 1) % size
                self._save(data)
                return str(ip)
            raise RuntimeError(f"no free pod IP left in {self.network}")

    def release(self, uid: str) -> None:
        """Give the pod's address back."""
        with self._lock:
            data = self._load()
            if data["pods"].pop(uid, None) is not None:
                self._save(data)
