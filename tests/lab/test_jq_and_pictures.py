"""The notebooks' jq filters (run by the jq program, as their `!` cells do) and text pictures give the answers a reader expects."""
import json
import shutil
import subprocess

import pytest

from labserver.lab.notebook.diagram import Message, sequence, timeline

POD_LIST = {"kind": "PodList", "items": [
    {"metadata": {"name": "nginx", "uid": "u1"}, "spec": {"containers": [1], "volumes": [2], "nodeName": "n"},
     "status": {"phase": "Running", "containerStatuses": [{"ready": True}], "podIP": "10.1.0.2"}},
    {"metadata": {"name": "second"}, "spec": {}, "status": {"phase": "Pending"}},
]}

CASES = [
    (".items[0].metadata.name", ["nginx"]),
    (".items[].metadata.name", ["nginx", "second"]),
    (".items[1].missing.deeper", [None]),
    (".items[0] | del(.spec.containers, .spec.volumes) | .spec", [{"nodeName": "n"}]),
    (".items[] | {name: .metadata.name, status: .status} | del(.status.containerStatuses)",
     [{"name": "nginx", "status": {"phase": "Running", "podIP": "10.1.0.2"}},
      {"name": "second", "status": {"phase": "Pending"}}]),
    # what the hand-written subset could not do
    (".items | length", [2]),
    ('.items[] | select(.status.phase == "Running") | .metadata.name', ["nginx"]),
    (".items[0].metadata | keys", [["name", "uid"]]),
    ("[.items[].status.phase] | map(ascii_downcase)", [["running", "pending"]]),
]


@pytest.mark.integration
@pytest.mark.skipif(not shutil.which("jq"), reason="the jq program is not installed (make system-deps)")
@pytest.mark.parametrize("program, expected", CASES)
def test_jq_filters_of_the_kind_the_notebooks_use(program, expected):
    """The jq program that sysdeps installs runs the filters the cells pipe into (and more than a subset)."""
    out = subprocess.run(["jq", "-c", program], input=json.dumps(POD_LIST), capture_output=True,
                         text=True, check=True).stdout
    assert [json.loads(line) for line in out.splitlines()] == expected


def test_sequence_arrows_point_from_sender_to_receiver():
    """An arrow starts at its sender's lifeline and its head touches the receiver's."""
    text = sequence(["a", "b", "c"], [Message("a", "c", "ask"), Message("c", "a", "answer")])
    lines = text.splitlines()
    heads = [i for i, ch in enumerate(lines[1]) if ch == "│"]
    right, left = lines[3], lines[5]
    assert lines[2].strip().startswith("│ ask")
    assert right[heads[0]] == "├" and right[heads[2] - 1] == "▶" and right[heads[1]] == "┼"
    assert left[heads[2]] == "┤" and left[heads[0] + 1] == "◀"


def test_sequence_columns_fit_the_longest_label():
    """A label between neighbours never runs into the next lifeline."""
    label = "GET /api/v1/namespaces/default/pods?limit=500"
    lines = sequence(["kubectl", "API server"], [Message("kubectl", "API server", label)]).splitlines()
    row = lines[2]
    assert label in row and row.rstrip().endswith("│") and row.index(label) + len(label) < len(row) - 1


def test_timeline_aligns_columns_under_a_rule():
    """Every row's cells start where their header starts."""
    text = timeline([("8", "POST (us)", "Pending"), ("21", "kubelet", "Running")], ("revision", "written by", "phase"))
    header, rule, *rows = text.splitlines()
    col = header.index("phase")
    assert rule.startswith("─" * len("revision"))
    assert all(row[col:].startswith(p) for row, p in zip(rows, ("Pending", "Running")))
