"""The notebooks' small pictures, drawn from what the lab really recorded.

A sequence diagram of the requests two clients sent (from `lab.curl`'s record),
one of the requests kubectl sent (from its own -v=6 log), a pod's history as
etcd kept it (its earlier revisions), one etcd value as stored, and (as SVG,
svg.py) the post's central flow for one pod, from its etcd revisions and the
kubelet's Events, plus the architecture picture. Nothing is
drawn from a script written beforehand: run it again and the picture follows
what happened. `Lab` (lab.py) holds one `Pictures` on its own curl record,
kubectl and etcd client, and hands the notebooks its methods.
"""
from __future__ import annotations

import json
import re

from .curl import HTTP_REASONS
from .diagram import Message, sequence, timeline
from . import svg
from ..supervise.procs import LabError, wait_for


def _discovery_in_name_order(requests: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """kubectl fetches /api/v1, /apis/<group>/<version> in parallel: sort those, keep the rest in order."""
    parallel = [r for r in requests if re.fullmatch(r"/api/v1|/apis/[^/]+/[^/]+", r[1])]
    order = iter(sorted(parallel, key=lambda r: r[1]))
    return [next(order) if r in parallel else r for r in requests]


class Pictures:
    """The pictures of one lab: from its curl record, its kubectl, and its etcd."""

    def __init__(self, curl, kubectl, etcd_client):
        self.curl = curl
        self.kubectl = kubectl
        self.etcd_client = etcd_client   # a function returning a new pyetcd client

    def sequence(self, who: tuple[str, ...]) -> str:
        """Sequence diagram of the requests `who` sent through lab.curl, with the answers."""
        messages = []
        for ex in self.curl.exchanges:
            if ex.who not in who:
                continue
            sent_rv = (ex.sent or {}).get("metadata", {}).get("resourceVersion") if isinstance(ex.sent, dict) else None
            messages.append(Message(ex.who, "API server", f"{ex.method} {ex.path.rsplit('/', 2)[-2]}/"
                                    f"{ex.path.rsplit('/', 1)[-1]}" + (f" rv {sent_rv}" if sent_rv else "")))
            if ex.method == "PUT":
                ok = ex.status < 300
                messages.append(Message("API server", "etcd", f"txn if mod_revision=={sent_rv}"))
                messages.append(Message("etcd", "API server", f"put, revision {ex.resource_version}" if ok
                                        else "compare failed: no write"))
            reply = f"{ex.status} {HTTP_REASONS.get(ex.status, '')}"
            if ex.status < 300 and ex.resource_version:
                reply += f" rv {ex.resource_version}"
            messages.append(Message("API server", ex.who, reply))
        picture = sequence([*who, "API server", "etcd"], messages)
        print(picture)
        return picture

    def kubectl_sequence(self, *args: str) -> str:
        """Run kubectl with -v=6 and draw the requests it logged (and the etcd reads they cause)."""
        shown = " ".join(args)
        messages = []
        for verb, path, status in _discovery_in_name_order(self.kubectl.requests(*args)):
            messages.append(Message("kubectl", "API server", f"{verb} {path}"))
            m = re.match(r"/api/v1/(?:namespaces/([^/]+)/)?(pods|nodes)\b", path)
            if m:
                prefix = f"/registry/{'minions' if m[2] == 'nodes' else 'pods'}/" + (f"{m[1]}/" if m[1] else "")
                messages.append(Message("API server", "etcd", f"range {prefix}"))
                messages.append(Message("etcd", "API server", "the objects"))
            messages.append(Message("API server", "kubectl", status))
        print(f"the requests `kubectl {shown} -v=6` logged (with an empty discovery cache;\n"
              f"the group versions, fetched in parallel, are drawn in name order):")
        picture = sequence(["kubectl", "API server", "etcd"], messages)
        print(picture)
        return picture

    def pod_history(self, name: str, namespace: str = "default") -> list[tuple]:
        """Every revision of the pod's etcd key, oldest first: who wrote it and what it said.

        The first revision is the create (our POST); every later one is a
        status write by the kubelet. How many writes it takes to get from
        Pending to Running depends on timing, so all but the last are printed
        as progress ('  … ').
        """
        key = f"/registry/pods/{namespace}/{name}"
        client = self.etcd_client()
        rows = []
        try:
            _, meta = client.get(key)
            rev = meta.mod_revision if meta else 0
            while rev:
                value, meta = client.get(key, revision=rev)
                if value is None:
                    break
                obj = json.loads(value)
                status = obj.get("status", {})
                cs = status.get("containerStatuses") or []
                waiting = sorted({c["state"]["waiting"].get("reason", "") for c in cs if "waiting" in c.get("state", {})})
                rows.append((meta.mod_revision, status.get("phase", ""),
                             f"{sum(1 for c in cs if c.get('ready'))}/{len(obj['spec']['containers'])}",
                             ", ".join(waiting) or "-", status.get("podIP", "-")))
                rev = meta.mod_revision - 1 if meta.mod_revision > meta.create_revision else 0
        finally:
            client.close()
        rows.reverse()
        table = [(str(r[0]), "POST (us)" if i == 0 else "kubelet", *r[1:]) for i, r in enumerate(rows)]
        text = timeline(table, ("revision", "written by", "phase", "ready", "waiting", "podIP")).splitlines()
        print(f"history of {key} in etcd, one row per write:")
        for i, line in enumerate(text):
            print(f"  … {line}" if 2 < i < len(text) - 1 else line)
        return rows

    def etcd_value(self, key: str) -> dict:
        """Print one etcd value as stored (JSON) with its revisions; return it parsed."""
        client = self.etcd_client()
        try:
            value, meta = client.get(key)
        finally:
            client.close()
        if value is None:
            raise LabError(f"no key {key} in etcd")
        print(f"{key}  (create_revision {meta.create_revision}, mod_revision {meta.mod_revision})")
        obj = json.loads(value)
        print(json.dumps(obj, indent=2))
        return obj

    def pod_flow(self, api_url: str, name: str, namespace: str = "default", timeout: float = 10) -> svg.Picture:
        """The post's central flow for one pod, as it really went, drawn as an SVG sequence diagram.

        Built from what the cluster recorded: the pod key's revisions in etcd
        (the create, then the kubelet's status writes), and the kubelet's own
        Events (which name the revision of the pod it acted on, and each
        container it created and started). Waits (up to `timeout`) until the
        Started event of every container is there: events are posted in the
        background.
        """
        import requests
        key = f"/registry/pods/{namespace}/{name}"
        client = self.etcd_client()
        try:
            value, meta = client.get(key)
            if value is None:
                raise LabError(f"no key {key} in etcd: create the pod first")
            create_rev, last_rev = meta.create_revision, meta.mod_revision
            writes = meta.version           # how many times the key was written
        finally:
            client.close()
        pod = json.loads(value)
        uid, containers = pod["metadata"]["uid"], [c["name"] for c in pod["spec"]["containers"]]

        def started_events():
            r = requests.get(f"{api_url}/api/v1/namespaces/{namespace}/events", timeout=5,
                             params={"fieldSelector": f"involvedObject.uid={uid}"})
            r.raise_for_status()
            items = sorted(r.json()["items"], key=lambda e: (e.get("firstTimestamp") or "",
                                                             int(e["metadata"]["resourceVersion"])))
            started = {(e["involvedObject"].get("fieldPath") or "") for e in items if e["reason"] == "Started"}
            return items if all(f"spec.containers{{{c}}}" in started for c in containers) else None

        events = wait_for(started_events, timeout, f"the kubelet's Started events of pod {name}")
        seen_rv = next(e["involvedObject"].get("resourceVersion") for e in events)
        status = pod["status"]
        cs = status.get("containerStatuses") or []
        ready = f"{sum(1 for c in cs if c.get('ready'))}/{len(containers)} ready"
        messages = [
            Message("you", "API server", f"POST pods (the manifest of {name})"),
            Message("API server", "etcd", f"txn: create {key}"),
            Message("etcd", "API server", f"ok: revision {create_rev}"),
            Message("API server", "you", "201 Created, Pending"),
            Message("etcd", "API server", f"watch: PUT, revision {create_rev}"),
            Message("API server", "kubelet", f"watch event: ADDED {name}, revision {seen_rv}"),
        ]
        for c in containers:
            messages.append(Message("kubelet", "runtime", f"create + start container {c}"))
        messages += [
            Message("kubelet", "API server", f"PATCH pods/{name}/status: {status.get('phase')}, {ready}"),
            Message("API server", "etcd", f"txn: update, revision {last_rev}"),
        ]
        print(f"  … {key} was written {writes} times: the create, then {writes - 1} status writes by the kubelet "
              f"(the last one is drawn)")
        return svg.sequence(["you", "API server", "etcd", "kubelet", "runtime"], messages,
                            title=f"pod {name}, as it really went: from etcd's revisions and the kubelet's events")
