"""A Deployment that makes no progress for progressDeadlineSeconds: Progressing=False, ProgressDeadlineExceeded.

Unit cases drive the condition logic (syncRolloutStatus in upstream's progress.go) with fixed times;
the integration case runs etcd, the API server and the controller-manager with no node at all, so the
Deployment's pods stay Pending, and reads the condition and `kubectl rollout status` as a user would.
"""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from labserver.controllers.deployment import NO_DEADLINE, DeploymentController, progressed
from labserver.lab.supervise.procs import wait_for

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
RS = {"metadata": {"name": "web-abc"}}


def _stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _deploy(deadline=600, replicas=3) -> dict:
    spec = {"replicas": replicas}
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    return {"metadata": {"generation": 1}, "spec": spec}


def _status(updated=3, ready=0, available=0, replicas=3) -> dict:
    return {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": updated,
            "readyReplicas": ready, "availableReplicas": available}


def _progressing(reason="ReplicaSetUpdated", seconds_ago=0.0, status="True") -> dict:
    return {"Progressing": {"type": "Progressing", "status": status, "reason": reason,
                            "lastUpdateTime": _stamp(seconds_ago)}}


def _decide(deploy, old, new, conditions, created=False):
    return DeploymentController._progressing(deploy, old, new, RS, created, conditions, now=NOW)


def test_no_progress_past_the_deadline_times_out():
    """Nothing moved for 601 s of a 600 s deadline: Progressing=False, ProgressDeadlineExceeded."""
    value, again = _decide(_deploy(), _status(), _status(), _progressing(seconds_ago=601))
    assert value == ("False", "ProgressDeadlineExceeded", 'ReplicaSet "web-abc" has timed out progressing.')
    assert again is None


def test_within_the_deadline_the_condition_stays_and_the_controller_comes_back_when_it_ends():
    value, again = _decide(_deploy(), _status(), _status(), _progressing(seconds_ago=10))
    assert value is None and again == pytest.approx(591)


@pytest.mark.parametrize("old, new", [
    (_status(ready=0), _status(ready=1)),                              # a pod became ready
    (_status(available=1), _status(available=2)),                      # or available
    (_status(updated=1, replicas=4), _status(updated=2, replicas=4)),  # one more pod of the new template
    (_status(updated=2, replicas=4), _status(updated=2, replicas=3)),  # one old pod fewer
])
def test_any_progress_renews_the_deadline(old, new):
    """Progress made, even after the deadline had passed, keeps (or puts back) Progressing=True."""
    assert progressed(old, new)
    for conditions in (_progressing(seconds_ago=601), _progressing("ProgressDeadlineExceeded", 700, "False")):
        value, again = _decide(_deploy(), old, new, conditions)
        assert value == ("True", "ReplicaSetUpdated", 'ReplicaSet "web-abc" is progressing.') and again == 600


def test_complete_rollouts_and_deployments_without_a_deadline_never_time_out():
    done = _status(ready=3, available=3)
    value, again = _decide(_deploy(), done, done, _progressing(seconds_ago=10_000))
    assert value == ("True", "NewReplicaSetAvailable", 'ReplicaSet "web-abc" has successfully progressed.')
    assert again is None
    assert _decide(_deploy(), _status(), _status(), _progressing("NewReplicaSetAvailable", 10_000)) == (None, None)
    for deadline in (None, NO_DEADLINE):   # no deadline: no Progressing condition at all, as upstream
        assert _decide(_deploy(deadline), _status(), _status(), _progressing(seconds_ago=10_000)) == (None, None)


@pytest.mark.integration
def test_a_stuck_rollout_exceeds_its_progress_deadline(apiserver, controller_manager):
    """No node to run the pods: after progressDeadlineSeconds=2 the Deployment says so, and
    `kubectl rollout status` fails with kubectl's own words."""
    url = apiserver.url
    labels = {"app": "web"}
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "progressDeadlineSeconds": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}
    path = "/apis/apps/v1/namespaces/default/deployments"
    assert requests.post(url + path, json=body, timeout=30).status_code == 201

    def condition(kind: str) -> dict:
        status = requests.get(f"{url}{path}/web", timeout=30).json().get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == kind), {})
    wait_for(lambda: condition("Progressing").get("status") == "False", 20, "the progress deadline", progress=print)
    rs = requests.get(url + "/apis/apps/v1/namespaces/default/replicasets", timeout=30).json()["items"][0]
    progressing = condition("Progressing")
    assert (progressing["reason"], progressing["message"]) == \
        ("ProgressDeadlineExceeded", f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.')
    assert condition("Available")["reason"] == "MinimumReplicasUnavailable"
    kubectl = str(Path(sys.executable).parent / "kubectl")
    out = subprocess.run([kubectl, f"--server={url}", "rollout", "status", "deployment/web", "--timeout=20s"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and 'error: deployment "web" exceeded its progress deadline' in out.stderr, out
