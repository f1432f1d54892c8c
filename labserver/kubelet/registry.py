"""Which registry an image comes from, and whether it answers: labs are often offline.

The Docker engine can take many seconds to give up on a registry it cannot
reach, so the kubelet asks this first (and, for Docker Hub images, whether one of
the engine's registry mirrors answers) and falls back to the local image. The
lab's image builder (`python -m labserver images`) asks the same question
before it decides to build an image offline.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from urllib.parse import urlparse

DOCKER_HUB = "registry-1.docker.io"
_registry_cache: dict[str, tuple[float, bool]] = {}


def registry_of(image: str) -> str:
    """The registry host an image reference names (Docker Hub when none)."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def registry_reachable(image: str, timeout: float = 1.5, ttl: float = 60.0) -> bool:
    """True when the image's registry accepts a TCP connection on 443 within `timeout`.

    DNS is resolved in a thread so a hanging resolver cannot exceed the
    timeout. The answer is cached for `ttl` seconds. With LABSERVER_OFFLINE
    set it is False at once, without even a DNS lookup.
    """
    if os.environ.get("LABSERVER_OFFLINE"):  # CI and offline workshops
        return False
    host = registry_of(image)
    hostname, _, port = host.partition(":")
    now = time.monotonic()
    hit = _registry_cache.get(host)
    if hit and now - hit[0] < ttl:
        return hit[1]
    ok = _connects(hostname, int(port or 443), timeout)
    _registry_cache[host] = (time.monotonic(), ok)
    return ok


def mirror_reachable(image: str, mirrors: list[str], timeout: float = 1.5) -> bool:
    """True when `image` is a Docker Hub image and one of the engine's registry mirrors
    (`docker info`: RegistryConfig.Mirrors) accepts a TCP connection within `timeout`.

    The engine pulls Docker Hub images from its mirrors first, so an engine with a
    mirror pulls them even where Docker Hub itself does not answer (a workshop's or a
    company's local registry). False at once with LABSERVER_OFFLINE set.
    """
    if os.environ.get("LABSERVER_OFFLINE") or registry_of(image) != DOCKER_HUB:
        return False
    for url in mirrors:
        parsed = urlparse(url if "://" in url else f"https://{url}")
        port = parsed.port or (80 if parsed.scheme == "http" else 443)
        if parsed.hostname and _connects(parsed.hostname, port, timeout):
            return True
    return False


def _connects(hostname: str, port: int, timeout: float) -> bool:
    """A TCP connection within `timeout`, DNS included (resolved in a thread)."""
    result: list[bool] = []

    def probe():
        try:
            with socket.create_connection((hostname, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    return bool(result and result[0])
