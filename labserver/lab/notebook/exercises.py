"""The checks behind the notebooks' exercises: a ✓, or a hint that says what to try next.

Each notebook 01-05 has an exercise cell (tag `exercise`, left for the learner),
a hidden solution cell (tag `solution`, which CI runs) and a check cell (tag
`check`) calling `lab.check(name, ...)`. A check never raises: an exercise left
empty, or answered wrong, gets its hint printed, so a learner running all cells
is not stopped by it. Each check looks at the lab itself (etcd, the API server),
not at what the learner printed, so any command that does the job passes.
"""
from __future__ import annotations

from typing import Any, Callable

import requests

OK = "✓"


def _first_line(answer: Any) -> str | None:
    """The first non-empty line of what `x = !command` captured (an IPython SList), or a plain value."""
    if answer is None:
        return None
    if isinstance(answer, (list, tuple)):
        lines = [str(line).strip() for line in answer if str(line).strip()]
        return lines[0] if lines else ""
    return str(answer).strip()


def _revision(lab, predicted: Any = None) -> str:
    client = lab.etcd_client()
    try:
        _, meta = client.get("/hello")
    finally:
        client.close()
    if predicted is None:
        return "hint: set `predicted` to the revision you expect, then write /hello with `etcdctl put /hello ...`"
    if meta is None or meta.version < 3:
        return "hint: write /hello a third time, e.g. `!etcdctl put /hello third`, then run this check again"
    if int(predicted) == meta.mod_revision:
        return f"{OK} you predicted revision {predicted}, and etcd gave the write revision {meta.mod_revision}"
    return (f"hint: you predicted {predicted}, but the write got revision {meta.mod_revision}. Read the current "
            f"revision just before writing (`etcdctl endpoint status --write-out=json`); the write gets the next one")


def _bob_wins(lab) -> str:
    r = requests.get(f"{lab.api_url}/apis/coordination.k8s.io/v1/namespaces/default/leases/demo", timeout=5)
    if r.status_code != 200:
        return "hint: the lease `demo` is gone: run this notebook's Step 3 cells again"
    holder = r.json()["spec"].get("holderIdentity")
    if holder == "bob":
        return f"{OK} Bob holds the lease: he read its current resourceVersion and his PUT was accepted"
    return (f"hint: the lease is held by {holder!r}. Bob must GET the lease again (its resourceVersion moved on), "
            f"set holderIdentity to bob in what he read, and PUT that")


def _node_ready(lab, answer: Any = None) -> str:
    line = _first_line(answer)
    node = lab.get_node(lab.node_name()) or {}
    ready = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}.get("Ready")
    if not line:
        return ("hint: capture your command's output: ready = !curl -s localhost:8080/api/v1/nodes/<node> | jq -r ..."
                " (select the condition whose .type is \"Ready\", and print its .status)")
    if line.strip('"') == ready:
        return f"{OK} your filter printed the node's Ready status: {line}"
    return f"hint: your command printed {line!r}, not the Ready condition's status; try jq's select(.type == \"Ready\")"


def _ready_containers(lab, answer: Any = None) -> str:
    lines = sorted(str(line).strip().strip('"') for line in (answer or []) if str(line).strip())
    pod = lab.get_pod("nginx") or {}
    ready = sorted(c["name"] for c in pod.get("status", {}).get("containerStatuses") or [] if c.get("ready"))
    if not lines:
        return ("hint: capture your command's output: ready = !curl -s localhost:8080/api/v1/namespaces/default/"
                "pods/nginx | jq -r ... (walk .status.containerStatuses[], keep the ready ones, print .name)")
    if lines == ready:
        return f"{OK} ready containers: {', '.join(lines)}"
    return f"hint: your command printed {', '.join(lines)}; the ready containers' names are in .status.containerStatuses"


def _third_pod(lab) -> str:
    pod = lab.get_pod("nginx-the-third")
    if pod is None:
        return ("hint: no pod nginx-the-third yet: write its manifest to a file (nginx-the-third.yaml) and run "
                "`!kubectl create --filename nginx-the-third.yaml`")
    if not pod["spec"].get("nodeName"):
        return ("hint: nginx-the-third has no spec.nodeName, and there is no scheduler to choose one: it stays "
                "Pending. Delete it (`!kubectl delete pod nginx-the-third`), add nodeName, create it again")
    return f"{OK} pod nginx-the-third is bound to node {pod['spec']['nodeName']}"


CHECKS: dict[str, Callable[..., str]] = {"revision": _revision, "bob-wins": _bob_wins,
                                         "node-ready": _node_ready, "ready-containers": _ready_containers, "third-pod": _third_pod}


def check(lab, name: str, **values: Any) -> str:
    """Run one exercise's check, print its ✓ or hint, and return that line."""
    try:
        line = CHECKS[name](lab, **values)
    except (requests.RequestException, OSError) as e:  # a lab piece is down: say so, do not raise
        line = f"hint: the check could not reach the lab ({type(e).__name__}): run the catch-up cell, then retry"
    print(line)
    return line
