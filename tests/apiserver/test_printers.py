"""Tables print the columns and cells kubectl shows against a real cluster."""
from datetime import datetime, timedelta, timezone

import pytest

from labserver.apiserver.printers import human_duration, to_table, wants_table
from labserver.apiserver.resources import ResourceInfo, lookup

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=timezone.utc)
PODS, NODES = lookup("", "v1", "pods"), lookup("", "v1", "nodes")
KUBECTL_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
                  "g=meta.k8s.io,application/json")


def ago(**kw) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("accept, expected", [
    (KUBECTL_ACCEPT, True),
    ("application/json;as=Table;g=meta.k8s.io;v=v1", True),
    ("application/json", False),
    ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", False),
    ("*/*", False),
    (None, False),
])
def test_wants_table(accept, expected):
    """Only an Accept asking for meta.k8s.io Table gets a Table."""
    assert wants_table(accept) is expected


@pytest.mark.parametrize("seconds, text", [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"), (150, "2m30s"),
    (599, "9m59s"), (600, "10m"), (28 * 60, "28m"), (179 * 60, "179m"), (3 * 3600, "3h"),
    (3 * 3600 + 4 * 60, "3h4m"), (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"),
    (2 * 86400 + 5 * 3600, "2d5h"), (8 * 86400, "8d"), (729 * 86400, "729d"), (730 * 86400, "2y"),
    (800 * 86400, "2y70d"), (8 * 365 * 86400, "8y"),
])
def test_human_duration_matches_apimachinery(seconds, text):
    """Ages are formatted exactly like k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    assert human_duration(seconds) == text


def pod(name="nginx", statuses=(), phase="Running", **extra):
    p = {"metadata": {"name": name, "namespace": "default", "uid": "u", "creationTimestamp": ago(minutes=28)},
         "spec": {"nodeName": "node-1", "containers": [{"name": "nginx"}, {"name": "log-truncator"}]},
         "status": {"phase": phase, "podIP": "10.0.0.5", "containerStatuses": list(statuses)}}
    for key, value in extra.items():
        p[key].update(value)
    return p


def running(name, ready=True, restarts=0, last=None):
    cs = {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ago(hours=1)}}}
    if last:
        cs["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": last}}
    return cs


def waiting(name, reason):
    return {"name": name, "ready": False, "restartCount": 0, "state": {"waiting": {"reason": reason}}}


def cells(p):
    return to_table(PODS, [p], "1", now=NOW)["rows"][0]["cells"]


def test_pod_columns_and_running_row():
    """Pods print Name, Ready, Status, Restarts, Age (+ wide IP, Node, Nominated Node, Readiness Gates)."""
    table = to_table(PODS, [pod(statuses=[running("nginx"), running("log-truncator")])], "42", now=NOW)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1),
                       ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)]
    assert table["rows"][0]["cells"] == ["nginx", "2/2", "Running", "0", "28m", "10.0.0.5", "node-1",
                                         "<none>", "<none>"]


@pytest.mark.parametrize("statuses, phase, ready, status", [
    ([], "Pending", "0/2", "Pending"),
    ([waiting("nginx", "ContainerCreating"), waiting("log-truncator", "ContainerCreating")], "Pending", "0/2",
     "ContainerCreating"),
    ([running("nginx"), waiting("log-truncator", "CrashLoopBackOff")], "Running", "1/2", "CrashLoopBackOff"),
    ([waiting("nginx", "ErrImagePull"), running("log-truncator")], "Pending", "1/2", "ErrImagePull"),
    ([running("nginx", ready=False), running("log-truncator")], "Running", "1/2", "Running"),
    ([{"name": "nginx", "ready": False, "restartCount": 0,
       "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}] * 2, "Succeeded", "0/2", "Completed"),
    ([{"name": "nginx", "ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 137}}},
      running("log-truncator")], "Running", "1/2", "ExitCode:137"),
])
def test_pod_status_column(statuses, phase, ready, status):
    """STATUS shows the phase, or the reason a container waits or terminated, as printPod does."""
    row = cells(pod(statuses=statuses, phase=phase))
    assert row[1:3] == [ready, status]


def test_terminating_pod():
    """A pod with a deletionTimestamp prints Terminating unless it already finished."""
    meta = {"deletionTimestamp": ago(seconds=-30)}
    assert cells(pod(statuses=[running("nginx"), running("log-truncator")], metadata=meta))[2] == "Terminating"
    assert cells(pod(phase="Succeeded", metadata=meta))[2] == "Succeeded"


def test_restarts_show_when_the_last_restart_was():
    """Restarts print `N (age ago)` from the latest lastState.terminated.finishedAt, summed over containers."""
    row = cells(pod(statuses=[running("nginx", restarts=2, last=ago(minutes=5)),
                              running("log-truncator", restarts=1, last=ago(seconds=30))]))
    assert row[3] == "3 (30s ago)"


def test_init_containers_show_progress():
    """While an init container runs, STATUS is Init:i/n and READY counts only app containers."""
    p = pod(phase="Pending")
    p["spec"]["initContainers"] = [{"name": "init-a"}, {"name": "init-b"}]
    p["status"]["initContainerStatuses"] = [
        {"name": "init-a", "ready": True, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
        {"name": "init-b", "ready": False, "restartCount": 0, "state": {"running": {}}}]
    p["status"]["containerStatuses"] = [waiting("nginx", "PodInitializing"), waiting("log-truncator",
                                                                                       "PodInitializing")]
    assert cells(p)[1:3] == ["0/2", "Init:1/2"]
    p["status"]["initContainerStatuses"][1]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    assert cells(p)[2] == "Init:CrashLoopBackOff"


def test_readiness_gates_and_nominated_node():
    """Wide columns: readiness gates true/total, nominated node, <none> for missing IP and node."""
    p = pod(spec={"readinessGates": [{"conditionType": "a"}, {"conditionType": "b"}], "nodeName": ""},
            status={"conditions": [{"type": "a", "status": "True"}], "podIP": None, "nominatedNodeName": "n2"})
    assert cells(p)[5:] == ["<none>", "<none>", "n2", "1/2"]


@pytest.mark.parametrize("include, expected_kind", [("Metadata", "PartialObjectMetadata"), ("Object", "Pod"),
                                                    ("None", None)])
def test_row_object_follows_include_object(include, expected_kind):
    """includeObject=Metadata carries PartialObjectMetadata (what -A and --show-labels need)."""
    p = {**pod(), "kind": "Pod", "apiVersion": "v1"}
    row = to_table(PODS, [p], "1", include_object=include, now=NOW)["rows"][0]
    if expected_kind is None:
        assert "object" not in row
    else:
        assert row["object"]["kind"] == expected_kind
        assert row["object"]["metadata"]["namespace"] == "default"


def test_watch_tables_after_the_first_have_no_columns_and_continue_is_kept():
    """with_columns=False leaves the column definitions out; a continue token lands in metadata."""
    table = to_table(PODS, [], "7", with_columns=False, continue_token="abc")
    assert table["columnDefinitions"] == [] and table["rows"] == []
    assert table["metadata"] == {"resourceVersion": "7", "continue": "abc"}


def node(ready="True", unschedulable=False, labels=None):
    return {"metadata": {"name": "node-1", "creationTimestamp": ago(hours=3, minutes=4), "labels": labels or {}},
            "spec": {"unschedulable": unschedulable},
            "status": {"conditions": [{"type": "Ready", "status": ready}] if ready else [],
                       "addresses": [{"type": "InternalIP", "address": "10.1.2.3"},
                                     {"type": "Hostname", "address": "node-1"}],
                       "nodeInfo": {"kubeletVersion": "v1.37.0-labserver", "osImage": "Debian GNU/Linux 12",
                                    "kernelVersion": "6.1.0", "containerRuntimeVersion": "docker://24.0.5"}}}


def test_node_row():
    """Nodes print Name, Status, Roles, Age, Version (+ wide addresses, OS image, kernel, runtime)."""
    table = to_table(NODES, [node()], "9", now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image",
        "Kernel-Version", "Container-Runtime"]
    assert table["rows"][0]["cells"] == ["node-1", "Ready", "<none>", "3h4m", "v1.37.0-labserver", "10.1.2.3",
                                         "<none>", "Debian GNU/Linux 12", "6.1.0", "docker://24.0.5"]


@pytest.mark.parametrize("ready, unschedulable, status", [
    ("True", False, "Ready"), ("False", False, "NotReady"), ("Unknown", False, "NotReady"),
    (None, False, "Unknown"), ("True", True, "Ready,SchedulingDisabled"),
])
def test_node_status(ready, unschedulable, status):
    """Node STATUS comes from the Ready condition, plus SchedulingDisabled when cordoned."""
    assert to_table(NODES, [node(ready, unschedulable)], "1", now=NOW)["rows"][0]["cells"][1] == status


def test_node_roles_from_labels():
    """ROLES lists node-role.kubernetes.io/<role> labels."""
    labels = {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": ""}
    assert to_table(NODES, [node(labels=labels)], "1", now=NOW)["rows"][0]["cells"][2] == "control-plane,worker"


def test_event_namespace_lease_and_default_rows():
    """Events, namespaces and leases print their upstream columns; an unknown resource Name and Created At."""
    event = {"metadata": {"name": "nginx.17"}, "type": "Normal", "reason": "Started", "message": " Started ",
             "involvedObject": {"kind": "Pod", "name": "nginx", "fieldPath": "spec.containers{nginx}"},
             "source": {"component": "kubelet", "host": "node-1"}, "firstTimestamp": ago(minutes=5),
             "lastTimestamp": ago(seconds=40), "count": 3}
    row = to_table(lookup("", "v1", "events"), [event], "1", now=NOW)["rows"][0]["cells"]
    assert row == ["40s", "Normal", "Started", "pod/nginx", "spec.containers{nginx}", "kubelet, node-1",
                   "Started", "5m", 3, "nginx.17"]
    ns = {"metadata": {"name": "default", "creationTimestamp": ago(days=2)}, "status": {"phase": "Active"}}
    assert to_table(lookup("", "v1", "namespaces"), [ns], "1", now=NOW)["rows"][0]["cells"] == [
        "default", "Active", "2d"]
    lease = {"metadata": {"name": "node-1", "creationTimestamp": ago(seconds=9)},
             "spec": {"holderIdentity": "node-1"}}
    assert to_table(lookup("coordination.k8s.io", "v1", "leases"), [lease], "1", now=NOW)["rows"][0][
        "cells"] == ["node-1", "node-1", "9s"]
    other = ResourceInfo("widgets", "widget", "Widget", True)
    table = to_table(other, [{"metadata": {"name": "w", "creationTimestamp": "2026-01-01T00:00:00Z"}}], "1")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
    assert table["rows"][0]["cells"] == ["w", "2026-01-01T00:00:00Z"]
