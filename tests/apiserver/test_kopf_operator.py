"""A kopf operator with on.create and on.delete handlers for pods sees both, on our API server.

kopf is what a learner reaches for after the notebooks to write a controller. It lists and
watches with resourceVersion, adds and removes its finalizer with JSON patches guarded by a
resourceVersion test, keeps what it handled in an annotation through a merge patch, posts
Events, and for an on.delete handler puts its finalizer on every pod: the DELETE only
marks the pod, the handler runs, kopf removes its finalizer, and only then may the server
remove the pod. The operator runs as a real `kopf run --standalone` process on the
apiserver fixture; it writes what its handlers saw to a file the test reads.
"""
from __future__ import annotations

import json
import os
import sys

import pytest
import requests

from labserver.lab.supervise.procs import LabError, start_process, wait_for
from api_testing import pod
from kubectl_testing import KUBECONFIG

PODS = "/api/v1/namespaces/default/pods"
KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"

OPERATOR = '''\
"""Records every pod created and deleted in the watched namespace, one JSON line each."""
import json
import os

import kopf

SEEN = os.environ["KOPF_TEST_SEEN"]


def record(handler, meta, retry=0):
    with open(SEEN, "a") as f:
        f.write(json.dumps({"handler": handler, "name": meta["name"], "uid": meta["uid"], "retry": retry,
                            "deletionTimestamp": meta.get("deletionTimestamp"),
                            "finalizers": list(meta.get("finalizers") or [])}) + "\\n")


@kopf.on.create("pods")
def created(body, meta, retry, **_):
    record("create", meta, retry)
    if os.environ.get("KOPF_TEST_FAIL_ONCE") and retry == 0:
        raise kopf.TemporaryError("not yet", delay=1)
    kopf.info(body, reason="Seen", message="on.create saw the pod")


@kopf.on.delete("pods")
def deleted(meta, **_):
    record("delete", meta)
'''


class Operator:
    """One `kopf run --standalone --namespace=default` process; calling it reads what its handlers saw."""

    def __init__(self, source, seen, env, log):
        self.seen = seen
        self.process = start_process([sys.executable, "-m", "kopf", "run", "--standalone", "--namespace=default",
                                      "--verbose", str(source)], log, env=env, cwd=source.parent, name="kopf")

    def __call__(self) -> list[dict]:
        if not self.process.alive():
            raise LabError(f"the kopf operator exited ({self.process.popen.returncode}):\n"
                           f"{self.process.log_tail(40)}")
        if not self.seen.exists():
            return []
        return [json.loads(line) for line in self.seen.read_text().splitlines()]

    def stop(self):
        """SIGTERM is kopf's signal to stop gracefully: its watches end and it exits 0."""
        self.process.stop()
        assert self.process.popen.returncode == 0, self.process.log_tail(40)


@pytest.fixture
def start_operator(apiserver, tmp_path):
    """Starts kopf operators on the apiserver fixture (one seen-file for all); all are stopped at the end."""
    source = tmp_path / "operator.py"
    source.write_text(OPERATOR)
    seen = tmp_path / "seen.jsonl"
    # kopf logs in as a learner's operator would: from the kubeconfig kubectl uses.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG.format(server=apiserver.url))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "KOPF_TEST_SEEN": str(seen), "KUBECONFIG": str(kubeconfig)}
    started = []

    def start(fail_once=False):
        """fail_once: on.create raises kopf.TemporaryError on its first try."""
        started.append(Operator(source, seen, {**env, "KOPF_TEST_FAIL_ONCE": "1"} if fail_once else env,
                                tmp_path / f"kopf-{len(started)}.log"))
        return started[-1]
    try:
        yield start
    finally:
        for operator in started:
            operator.process.stop()
    for operator in started:
        assert operator.process.popen.returncode == 0, operator.process.log_tail(40)


def test_kopf_on_create_and_on_delete_see_a_pod(apiserver, start_operator):
    operator = start_operator()
    api = requests.Session()
    created = api.post(apiserver.url + PODS, json=pod("web"), timeout=10)
    assert created.status_code == 201, created.text
    uid = created.json()["metadata"]["uid"]

    seen = wait_for(lambda: [r for r in operator() if r["handler"] == "create"], 60, "kopf's on.create handler")
    assert [(r["name"], r["uid"]) for r in seen] == [("web", uid)]
    assert seen[0]["deletionTimestamp"] is None

    # For its on.delete handler kopf puts its finalizer on the pod (a merge patch of metadata).
    def finalized():
        meta = api.get(apiserver.url + PODS + "/web", timeout=10).json()["metadata"]
        return KOPF_FINALIZER in (meta.get("finalizers") or []) and meta
    meta = wait_for(finalized, 30, "kopf's finalizer on the pod")
    assert meta["uid"] == uid

    # The DELETE marks the pod; the finalizer holds it until the handler has run.
    deleted = api.delete(apiserver.url + PODS + "/web", json={"gracePeriodSeconds": 0}, timeout=10)
    assert deleted.status_code == 200, deleted.text
    marked = deleted.json()["metadata"]
    assert marked["deletionTimestamp"] and KOPF_FINALIZER in marked["finalizers"]

    seen = wait_for(lambda: [r for r in operator() if r["handler"] == "delete"], 60, "kopf's on.delete handler")
    assert [(r["name"], r["uid"]) for r in seen] == [("web", uid)]
    assert seen[0]["deletionTimestamp"] == marked["deletionTimestamp"]
    assert KOPF_FINALIZER in seen[0]["finalizers"]

    # kopf removes its finalizer; with none left the server removes the pod.
    def gone():
        r = api.get(apiserver.url + PODS + "/web", timeout=10)
        if r.status_code == 200:
            operator()   # a dead operator ends the wait at once
        return r.status_code == 404
    wait_for(gone, 30, "the pod to be removed once kopf removed its finalizer")
    assert [r["handler"] for r in operator()] == ["create", "delete"]

    # kopf.info() in the create handler posts an Event (in the background); the server stores it.
    def event_about_web():
        operator()
        events = api.get(apiserver.url + "/api/v1/namespaces/default/events", timeout=10).json()["items"]
        return [e for e in events if e["involvedObject"].get("name") == "web"]
    posted, = wait_for(event_about_web, 30, "kopf's Event about the pod")
    assert (posted["reason"], posted["message"], posted["type"]) == ("Seen", "on.create saw the pod", "Normal")
    assert posted["involvedObject"]["uid"] == uid and posted["involvedObject"]["kind"] == "Pod"
    assert posted["metadata"]["name"].startswith("kopf-event-")


def test_a_restarted_operator_does_not_create_again(apiserver, start_operator):
    """kopf keeps what it handled in an annotation (a merge patch): a second operator finds it and
    does not run on.create again, yet still runs on.delete."""
    api = requests.Session()
    first = start_operator()
    api.post(apiserver.url + PODS, json=pod("web"), timeout=10)
    wait_for(lambda: [r for r in first() if r["handler"] == "create"], 60, "kopf's on.create handler")

    def annotated():
        meta = api.get(apiserver.url + PODS + "/web", timeout=10).json()["metadata"]
        return "kopf.zalando.org/last-handled-configuration" in (meta.get("annotations") or {})
    wait_for(annotated, 30, "kopf's last-handled annotation on the pod")
    first.stop()

    second = start_operator()
    api.delete(apiserver.url + PODS + "/web", timeout=10)
    wait_for(lambda: [r for r in second() if r["handler"] == "delete"], 60, "the second operator's on.delete")
    wait_for(lambda: api.get(apiserver.url + PODS + "/web", timeout=10).status_code == 404, 30,
             "the pod to be removed")
    assert [r["handler"] for r in second()] == ["create", "delete"]


def test_a_failed_handler_is_retried_with_its_progress_in_an_annotation(apiserver, start_operator):
    """kopf records a temporary failure in a per-handler annotation (merge patch), retries, and on
    success removes that annotation (a merge patch with null) and writes last-handled."""
    operator = start_operator(fail_once=True)
    api = requests.Session()
    api.post(apiserver.url + PODS, json=pod("web"), timeout=10)
    tries = wait_for(lambda: [r["retry"] for r in operator() if r["handler"] == "create"] == [0, 1] and
                     [r["retry"] for r in operator()], 60, "kopf's on.create to fail once and be retried")
    assert tries == [0, 1]

    def settled():
        annotations = api.get(apiserver.url + PODS + "/web", timeout=10).json()["metadata"].get("annotations") or {}
        return "kopf.zalando.org/last-handled-configuration" in annotations and annotations
    annotations = wait_for(settled, 30, "kopf's last-handled annotation after the retry")
    assert "kopf.zalando.org/created" not in annotations, annotations
