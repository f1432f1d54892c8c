"""The controllers' pure parts: --controllers, selectors, fenceposts, template hashes, tolerations; apps protobuf."""
from __future__ import annotations

import pytest

from labserver.apiserver import protobuf
from labserver.client import selector_matches, selector_string
from labserver.controllers import deployment, nodelifecycle
from labserver.controllers.manager import chosen_controllers, duration


def test_controllers_flag_as_upstream():
    assert chosen_controllers("*") == ["namespace", "replicaset", "deployment", "garbagecollector",
                                       "nodelifecycle", "serviceaccount"]
    assert "nodelifecycle" not in chosen_controllers("*,-nodelifecycle")
    assert chosen_controllers("deployment,replicaset") == ["replicaset", "deployment"]
    with pytest.raises(ValueError, match="unknown controller"):
        chosen_controllers("*,-nope")
    with pytest.raises(ValueError, match="no controller left"):
        chosen_controllers("-namespace")
    assert duration("3s") == 3.0 and duration("500ms") == 0.5 and duration("2m") == 120.0


def test_label_selectors():
    sel = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]}
    assert selector_matches(sel, {"app": "web", "tier": "a"}) and not selector_matches(sel, {"app": "web"})
    assert selector_matches({}, {"x": "y"}) and not selector_matches(None, {"x": "y"})
    assert selector_string(sel) == "app=web,tier in (a,b)"


def test_fenceposts_and_hash():
    d = {"spec": {"replicas": 10, "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}}
    assert deployment.surge_and_unavailable(d) == (3, 2)      # surge rounds up, unavailable down
    d["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 0, "maxUnavailable": 0}
    assert deployment.surge_and_unavailable(d) == (0, 1)
    t = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}
    h = deployment.template_hash(t)
    assert h == deployment.template_hash(t) and set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert h != deployment.template_hash(t, collision_count=1)


def test_tolerations_and_eviction_time():
    taint = {"key": nodelifecycle.UNREACHABLE, "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"}
    added = nodelifecycle._epoch(taint["timeAdded"])
    pod = {"spec": {"tolerations": [{"key": nodelifecycle.UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                     "tolerationSeconds": 300}]}}
    assert nodelifecycle.eviction_delay(pod, [taint]) == added + 300
    assert nodelifecycle.eviction_delay({"spec": {}}, [taint]) == 0.0                   # not tolerated: now
    forever = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    assert nodelifecycle.eviction_delay(forever, [taint]) is None


def test_deployment_and_scale_protobuf_round_trip():
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
              "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}},
                       "strategy": {"type": "RollingUpdate",
                                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                       "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
              "status": {"observedGeneration": 2, "replicas": 3,
                         "conditions": [{"type": "Available", "status": "True",
                                         "lastUpdateTime": "2026-01-01T00:00:00Z",
                                         "lastTransitionTime": "2026-01-01T00:00:00Z",
                                         "reason": "MinimumReplicasAvailable",
                                         "message": "Deployment has minimum availability."}]}}
    back = protobuf.decode(protobuf.encode(deploy))
    assert back["spec"]["replicas"] == 0 and back["spec"]["strategy"] == deploy["spec"]["strategy"]
    assert back["status"]["conditions"] == deploy["status"]["conditions"]
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "default"},
             "spec": {"replicas": 5}, "status": {"replicas": 3, "selector": "app=web"}}
    back = protobuf.decode(protobuf.encode(scale))
    assert "creationTimestamp" not in back["metadata"]   # a zero metav1.Time is omitted (upstream since 1.34, omitzero)
    assert back == scale


def test_a_late_write_answer_does_not_undo_a_newer_watch_event():
    """A controller's own write answer (remember) goes into the informer's store at once, unless the
    watch already brought a newer version: the Deployment controller scaled a ReplicaSet to 0 while
    the ReplicaSet controller's status PATCH (answered at an older revision) was in flight, and the
    stale spec.replicas=1 stayed in the store with no event left to correct it."""
    from labserver.client.informer import Informer

    informer = Informer(client=None, path="/apis/apps/v1/replicasets")
    rs = lambda rv, replicas: {"metadata": {"namespace": "default", "name": "web-1", "resourceVersion": rv},
                               "spec": {"replicas": replicas}}
    informer.store["default/web-1"] = rs("322", 0)        # the watch: scaled to 0 at revision 322
    informer.remember(rs("318", 1))                         # the status PATCH's answer, from before
    assert informer.store["default/web-1"]["spec"]["replicas"] == 0
    informer.remember(rs("330", 0))                         # a newer answer is taken
    assert informer.store["default/web-1"]["metadata"]["resourceVersion"] == "330"
    informer.forget(rs("330", 0))
    assert informer.store == {}
    created = informer.remember({"metadata": {"namespace": "default", "name": "web-1-abcde", "resourceVersion": "331"}})
    assert informer.items() == [created]                    # a new object, before its ADDED event
