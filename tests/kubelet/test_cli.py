"""The kubelet command line: bad flags give one clear line and a non-zero exit."""
from __future__ import annotations

import subprocess
import sys

import pytest

from labserver.kubelet.client import parse_servers
from labserver.kubelet.server import duration


@pytest.mark.integration
@pytest.mark.parametrize("args,needle", [
    ([], "--api-servers"),
    (["--api-servers=127.0.0.1:8080", "--runtime=podman"], "invalid choice"),
    (["--api-servers=127.0.0.1:8080", "--port=99999"], "not a port"),
    (["--api-servers=127.0.0.1:8080", "--pod-cidr=banana"], "not a CIDR"),
    (["--api-servers=127.0.0.1:8080", "--node-ip=1.2.3"], "not an IP address"),
    (["--api-servers=ftp://x:1"], "not an API server address"),
    (["--api-servers=127.0.0.1:8080", "--restart-backoff=soon"], "not a duration"),
])
def test_bad_flags_one_line(args, needle):
    """Each bad flag is reported in exactly one stderr line, exit code non-zero."""
    proc = subprocess.run([sys.executable, "-m", "labserver", "kubelet", *args],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_api_servers_accept_host_port_and_urls():
    """--api-servers takes host:port and URLs, comma-separated, in order."""
    assert parse_servers("127.0.0.1:8080, http://h:1/,https://s:2") == [
        "http://127.0.0.1:8080", "http://h:1", "https://s:2"]


@pytest.mark.parametrize("text,seconds", [("10s", 10), ("100ms", 0.1), ("5m", 300), ("2", 2), ("1.5s", 1.5)])
def test_durations(text, seconds):
    """Durations read like Go's: ms, s, m, h, or bare seconds."""
    assert duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("asked,answers,expected", [
    ("auto", True, ("docker", "unix:///x.sock")),
    ("auto", False, ("process", None)),
    ("process", True, ("process", None)),
    ("docker", True, ("docker", "unix:///x.sock")),
])
def test_runtime_choice(monkeypatch, asked, answers, expected):
    """--runtime=auto picks Docker only when the engine at the endpoint answers; explicit choices are kept."""
    from labserver.kubelet import runtimes
    monkeypatch.setattr(runtimes, "engine_answers", lambda endpoint: answers and endpoint == "unix:///x.sock")
    assert runtimes.choose(asked, "unix:///x.sock") == expected


def test_endpoint_defaults_to_docker_host_then_the_system_socket(monkeypatch):
    """Without --container-runtime-endpoint the kubelet uses DOCKER_HOST, else /var/run/docker.sock."""
    from labserver.kubelet import runtimes
    asked = []
    monkeypatch.setattr(runtimes, "engine_answers", lambda endpoint: asked.append(endpoint) or True)
    monkeypatch.setenv("DOCKER_HOST", "unix:///from-env.sock")
    assert runtimes.choose("auto") == ("docker", "unix:///from-env.sock")
    monkeypatch.delenv("DOCKER_HOST")
    assert runtimes.choose("auto") == ("docker", runtimes.SYSTEM_ENDPOINT)
    assert asked == ["unix:///from-env.sock", runtimes.SYSTEM_ENDPOINT]


def test_docker_runtime_without_engine_is_a_clear_error(monkeypatch):
    """--runtime=docker with no engine answering names the endpoint and how to start one."""
    from labserver.kubelet import runtimes
    monkeypatch.setattr(runtimes, "engine_answers", lambda endpoint: False)
    with pytest.raises(ValueError, match="no Docker engine answers at unix:///dead.sock.*docker up"):
        runtimes.choose("docker", "unix:///dead.sock")


@pytest.mark.integration
def test_docker_runtime_flag_with_a_dead_endpoint_is_one_line(tmp_path):
    """`kubelet --runtime=docker --container-runtime-endpoint=<dead socket>`: one stderr line, exit 2."""
    proc = subprocess.run([sys.executable, "-m", "labserver", "kubelet", "--api-servers=127.0.0.1:1",
                           "--runtime=docker", f"--container-runtime-endpoint=unix://{tmp_path}/none.sock",
                           f"--root-dir={tmp_path}/root"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"no Docker engine answers at unix://{tmp_path}/none.sock" in lines[0], proc.stderr
