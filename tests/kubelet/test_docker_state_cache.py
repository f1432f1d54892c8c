"""The Docker runtime's inspect cache, against a scripted engine API (no engine, no process).

`list_containers` reuses an inspect answer while `docker ps` shows the same state,
but an exit 137 without OOMKilled is asked again for a few seconds: the engine
may set OOMKilled only when containerd's OOM event arrives, just after the exit.
"""
from __future__ import annotations

from labserver.kubelet import runtime_docker
from labserver.kubelet.runtime_docker import L_CONTAINER, L_NAME, L_NS, L_UID, DockerRuntime

LABELS = {L_NS: "default", L_NAME: "hog", L_UID: "u1", L_CONTAINER: "hog"}


class ScriptedEngine:
    """One exited container; `oom` is what the next inspect says about State.OOMKilled."""

    def __init__(self, exit_code: int, oom: bool):
        self.exit_code, self.oom, self.inspects = exit_code, oom, 0

    def containers(self, all, filters):
        return [{"Id": "c1", "State": "exited", "Labels": LABELS}]

    def inspect_container(self, cid):
        self.inspects += 1
        return {"Id": cid, "Name": "/hog", "Image": "sha256:1", "Config": {"Labels": LABELS, "Image": "busybox"},
                "State": {"Status": "exited", "ExitCode": self.exit_code, "OOMKilled": self.oom,
                          "StartedAt": "2026-01-01T00:00:00Z", "FinishedAt": "2026-01-01T00:00:01Z"}}

    def inspect_image(self, image):
        return {"Id": image, "RepoDigests": []}


def runtime_over(engine, tmp_path) -> DockerRuntime:
    rt = DockerRuntime.__new__(DockerRuntime)
    rt.api, rt.root_dir, rt._states, rt._image_ids = engine, tmp_path, {}, {}
    return rt


def test_a_late_oom_flag_replaces_an_early_error(tmp_path, monkeypatch):
    engine = ScriptedEngine(137, oom=False)
    rt = runtime_over(engine, tmp_path)
    assert rt.list_containers()[0].reason == "Error"
    engine.oom = True   # the OOM event reached the engine after the exit
    assert rt.list_containers()[0].reason == "OOMKilled"
    calls = engine.inspects
    rt.list_containers()
    assert engine.inspects == calls   # settled: the answer is reused again


def test_an_exit_137_without_oom_is_kept_once_the_settle_time_passed(tmp_path, monkeypatch):
    engine = ScriptedEngine(137, oom=False)
    rt = runtime_over(engine, tmp_path)
    clock = [100.0]
    monkeypatch.setattr(runtime_docker.time, "monotonic", lambda: clock[0])
    rt.list_containers()
    clock[0] += runtime_docker.OOM_SETTLE_SECONDS / 2
    rt.list_containers()
    assert engine.inspects == 2   # still asked again within the settle time
    clock[0] += runtime_docker.OOM_SETTLE_SECONDS
    rt.list_containers()
    rt.list_containers()
    assert engine.inspects == 2 and rt.list_containers()[0].reason == "Error"


def test_other_exits_are_inspected_once(tmp_path):
    for code in (0, 1):
        engine = ScriptedEngine(code, oom=False)
        rt = runtime_over(engine, tmp_path)
        for _ in range(3):
            rt.list_containers()
        assert engine.inspects == 1
