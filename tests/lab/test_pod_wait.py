"""Lab.wait_for_pod stops at once when the pod's containers have failed (issue #10).

pod_failure reads the reason from the statuses the kubelet writes: a container
that ended with a non-zero code (its terminated message is the end of its log)
or a waiting reason that waiting longer does not cure.
"""
import pytest

from labserver.lab.notebook import lab as lab_mod
from labserver.lab.supervise.procs import LabError

BIND = "2026/12/01 01:00:00 [emerg] 7#7: bind() to 127.1.0.2:80 failed (13: Permission denied)\n"


def pod(*statuses, phase="Running"):
    return {"metadata": {"name": "nginx"}, "spec": {"containers": [{"name": s["name"]} for s in statuses]},
            "status": {"phase": phase, "containerStatuses": list(statuses)}}


def test_a_crash_loop_is_reported_with_the_end_of_the_log():
    nginx = {"name": "nginx", "ready": False,
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting ..."}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": "starting\n" + BIND}}}
    assert lab_mod.pod_failure(pod(nginx)) == (
        "container nginx exited with code 1: starting / " + BIND.strip())


def test_a_container_running_again_after_a_kill_is_not_a_failure():
    """Notebook 06 kills nginx (137); the kubelet runs it again: while it is not ready yet, the wait goes on."""
    nginx = {"name": "nginx", "ready": False, "restartCount": 1, "state": {"running": {"startedAt": "2026-12-02T16:00:00Z"}},
             "lastState": {"terminated": {"exitCode": 137, "reason": "Error"}}}
    assert lab_mod.pod_failure(pod(nginx)) is None


def test_an_exit_without_a_message_points_to_the_logs():
    c = {"name": "c", "ready": False, "state": {"terminated": {"exitCode": 2}}, "lastState": {}}
    assert lab_mod.pod_failure(pod(c)) == "container c exited with code 2 (`kubectl logs --previous` shows its output)"


def test_an_image_that_cannot_be_pulled_is_a_failure_but_creating_is_not():
    pull = {"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no registry"}}}
    assert lab_mod.pod_failure(pod(pull)) == "container c is ImagePullBackOff: no registry"
    creating = {"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}
    done = {"name": "d", "state": {"terminated": {"exitCode": 0}}}
    assert lab_mod.pod_failure(pod(creating, done, phase="Pending")) is None


def test_the_wait_stops_at_once_with_the_reason(monkeypatch, capsys):
    nginx = {"name": "nginx", "ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "message": BIND}}}
    calls = []
    lab = lab_mod.Lab.__new__(lab_mod.Lab)
    monkeypatch.setattr(lab_mod.Lab, "get_pod", lambda self, name, ns="default": calls.append(name) or pod(nginx))
    with pytest.raises(LabError, match=r"pod nginx cannot run: container nginx exited with code 1: .*"
                                       r"bind\(\) to 127.1.0.2:80 failed \(13: Permission denied\)"):
        lab.wait_for_pod("nginx", timeout=60)
    assert calls == ["nginx"]    # the first look was enough
