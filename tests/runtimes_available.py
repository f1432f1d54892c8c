"""Whether a container runtime can be tested on this machine, and if not, why (the skip reason).

Docker needs an engine that answers and the post's images in it. The process
runtime needs its host programs (nginx, busybox, bubblewrap) and, for the post's
nginx, the right to listen on port 80 of a pod's loopback address: root has it,
a plain user only with `net.ipv4.ip_unprivileged_port_start` at 80 or below
(preflight says the same). Without it every nginx pod would crash, and each
test would wait out its deadline: the tests are skipped with the fix instead.
"""
from __future__ import annotations

import functools
import ipaddress


@functools.cache   # asked at every kubelet_factory start: the engine and images are asked once a worker
def runtime_skip(name: str) -> str | None:
    """Why runtime `name` ("docker" or "process") cannot be tested here, or None."""
    if name == "docker":
        from labserver.lab.machine.docker_engine import docker_host
        if docker_host() is None:
            return "no Docker engine answers: run `make docker-up` (python -m labserver docker up) or set DOCKER_HOST"
        import docker
        api = docker.APIClient(base_url=docker_host(), version="auto")
        missing = [i for i in ("nginx:latest", "busybox:latest") if not api.images(name=i)]
        if missing:
            return f"images {', '.join(missing)} missing in the engine: run `make images` (python -m labserver images)"
        return None
    from labserver.lab.machine.sysdeps import install_hint
    return install_hint("process") or port_80_skip()


def port_80_skip() -> str | None:
    """Why a process-runtime pod cannot listen on port 80 here (the post's nginx), or None."""
    from labserver.lab.machine import preflight
    address = str(ipaddress.ip_network(preflight.POD_CIDR)[-2])
    error = preflight.bind_error(address)
    if error is not None:
        return (f"a pod cannot listen on port 80 here ({address}:80: {error.strerror}), so nginx cannot run on "
                f"the process runtime: `sudo sysctl {preflight.SYSCTL}=0`, or test with Docker")
    return None
