"""sysdeps finds the host programs, installs only what is missing, and says how otherwise.

apt is never run here: `install` takes the command runner as a parameter and
the tests pass one that records the commands and "installs" fake programs.
"""
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from labserver.kubelet import process_images
from labserver.lab.machine import sysdeps


@pytest.fixture
def bin_dir(tmp_path, monkeypatch):
    """An empty PATH (no sbin dirs) where tests put fake programs."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    monkeypatch.setattr(process_images, "SBIN_DIRS", ())
    monkeypatch.setattr(sysdeps, "POLICY_RC_D", tmp_path / "policy-rc.d")
    monkeypatch.setattr(sysdeps, "NGINX_PID", tmp_path / "nginx.pid")
    return path


def fake_program(bin_dir, name):
    prog = bin_dir / name
    prog.write_text("#!/bin/sh\n")
    prog.chmod(0o755)


class FakeApt:
    """Records apt-get calls; `install` makes the packages' programs appear."""

    def __init__(self, bin_dir, policy_path, fail=None):
        self.calls, self.bin_dir, self.policy_path, self.fail = [], bin_dir, policy_path, fail
        self.policy_seen = []

    def __call__(self, args, env):
        self.calls.append(args)
        self.policy_seen.append(self.policy_path.exists())
        assert env["DEBIAN_FRONTEND"] == "noninteractive"
        if self.fail and self.fail in args:
            return SimpleNamespace(returncode=100)
        if "install" in args:
            for kind in sysdeps.NEEDS.values():
                for need in kind:
                    if need.package in args:
                        fake_program(self.bin_dir, need.program)
        return SimpleNamespace(returncode=0)


@pytest.mark.parametrize("kind, present, expected", [
    ("process", [], ["nginx-light", "busybox", "bubblewrap"]),
    ("process", ["nginx", "bwrap"], ["busybox"]),
    ("process", ["nginx", "busybox", "bwrap"], []),
    ("docker", ["dockerd"], ["mmdebstrap"]),
])
def test_missing_lists_packages_of_absent_programs(bin_dir, kind, present, expected):
    """missing() names exactly the packages whose program is not found."""
    for name in present:
        fake_program(bin_dir, name)
    assert sysdeps.missing(kind) == expected


def test_install_hint_names_programs_and_command(bin_dir):
    """The skip reason names what is missing and the exact apt-get command."""
    fake_program(bin_dir, "nginx")
    hint = sysdeps.install_hint("process")
    assert hint.startswith("busybox, bwrap not installed: run `")
    assert "apt-get install -y --no-install-recommends busybox bubblewrap`" in hint
    for name in ("busybox", "bwrap"):
        fake_program(bin_dir, name)
    assert sysdeps.install_hint("process") == ""


def test_install_command_uses_sudo_only_when_not_root():
    """Non-root users are told to use sudo."""
    assert sysdeps.install_command(["busybox"], root=True).startswith("apt-get update && apt-get")
    assert sysdeps.install_command(["busybox"], root=False) == (
        "sudo apt-get update && sudo apt-get install -y --no-install-recommends busybox")


def test_package_hint_names_the_package():
    """The runtime's ErrImagePull message says which package to install."""
    assert process_images.package_hint("nginx") == "nginx is not installed: apt-get install nginx-light"


def test_all_present_is_one_line_without_apt(bin_dir):
    """With everything installed, install() prints one line and runs nothing."""
    for name in ("nginx", "busybox", "bwrap"):
        fake_program(bin_dir, name)
    said, apt = [], FakeApt(bin_dir, sysdeps.POLICY_RC_D)
    assert sysdeps.install("process", run=apt, say=said.append) == 0
    assert apt.calls == [] and len(said) == 1 and "already installed" in said[0]


def test_not_allowed_to_install_prints_command(bin_dir, monkeypatch):
    """Not root / not Debian: the exact command is printed and the exit status is 0."""
    monkeypatch.setattr(sysdeps, "can_install", lambda: False)
    said, apt = [], FakeApt(bin_dir, sysdeps.POLICY_RC_D)
    assert sysdeps.install("docker", run=apt, say=said.append) == 0
    assert apt.calls == []
    assert said == ["missing docker.io mmdebstrap; install them with: "
                    + sysdeps.install_command(["docker.io", "mmdebstrap"])]


def test_root_on_debian_updates_once_and_installs_missing(bin_dir, monkeypatch):
    """apt-get update once, then install only the missing packages, with services kept down."""
    monkeypatch.setattr(sysdeps, "can_install", lambda: True)
    fake_program(bin_dir, "busybox")
    said, apt = [], FakeApt(bin_dir, sysdeps.POLICY_RC_D)
    assert sysdeps.install("process", run=apt, say=said.append) == 0
    assert [c[-2:] if "update" in c else c[c.index("install"):] for c in apt.calls] == [
        ["update", "-q"],
        ["install", "-y", "-q", "--no-install-recommends", "nginx-light", "bubblewrap"]]
    assert apt.policy_seen == [True, True] and not sysdeps.POLICY_RC_D.exists()
    assert said[0] == "installing nginx-light bubblewrap (apt-get)"
    assert said[-1] == "installed nginx-light bubblewrap"


def test_existing_policy_rc_d_is_left_alone(bin_dir, monkeypatch):
    """A policy-rc.d that was there before the install is still there after it."""
    monkeypatch.setattr(sysdeps, "can_install", lambda: True)
    sysdeps.POLICY_RC_D.write_text("#!/bin/sh\nexit 101\n")
    assert sysdeps.install("docker", run=FakeApt(bin_dir, sysdeps.POLICY_RC_D), say=print) == 0
    assert sysdeps.POLICY_RC_D.read_text() == "#!/bin/sh\nexit 101\n"


def test_failed_apt_is_reported(bin_dir, monkeypatch):
    """A failing apt-get makes install() fail with the command in its message."""
    monkeypatch.setattr(sysdeps, "can_install", lambda: True)
    said = []
    apt = FakeApt(bin_dir, sysdeps.POLICY_RC_D, fail="install")
    assert sysdeps.install("process", run=apt, say=said.append) == 1
    assert "failed with exit status 100" in said[-1]
    assert not sysdeps.POLICY_RC_D.exists()


@pytest.mark.integration
def test_nginx_started_by_the_install_is_stopped(bin_dir, monkeypatch):
    """If the package started a system nginx (new /run/nginx.pid), it is stopped again."""
    monkeypatch.setattr(sysdeps, "can_install", lambda: True)
    # Like nginx (which handles SIGQUIT itself) it must not inherit an ignored SIGQUIT: a shell ignores
    # SIGINT and SIGQUIT for what it starts with `&` (no job control), and pytest's children inherit that.
    fake_nginx = subprocess.Popen(["/bin/sleep", "60"], preexec_fn=lambda: signal.signal(signal.SIGQUIT, signal.SIG_DFL))
    try:
        monkeypatch.setattr(sysdeps, "_pid_in", lambda path: None if not apt.calls else fake_nginx.pid)
        monkeypatch.setattr(sysdeps, "_process_name", lambda pid: "nginx" if pid == fake_nginx.pid else "")
        said = []
        apt = FakeApt(bin_dir, sysdeps.POLICY_RC_D)
        sysdeps.install("process", run=apt, say=said.append)
        assert any("stopping the system nginx" in line for line in said), said
        try:
            assert fake_nginx.wait(timeout=5) == -3  # SIGQUIT: nginx's graceful stop
        except subprocess.TimeoutExpired:   # say why it still runs: SIGQUIT blocked or ignored?
            status = Path(f"/proc/{fake_nginx.pid}/status").read_text().splitlines()
            pytest.fail("SIGQUIT did not end it: " + "; ".join(line for line in status if line.startswith("Sig")))
    finally:
        fake_nginx.kill()
        fake_nginx.wait()


@pytest.mark.integration
def test_cli_unknown_kind_is_usage_error():
    """`python -m labserver.lab.machine.sysdeps nonsense` prints usage and exits 2."""
    r = subprocess.run([sys.executable, "-m", "labserver.lab.machine.sysdeps", "nonsense"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "process|workbook|docker" in r.stderr


def test_unknown_kind_raises():
    """missing() refuses kinds it does not know."""
    with pytest.raises(ValueError, match="unknown kind"):
        sysdeps.missing("podman")
