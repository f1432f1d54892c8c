"""The ReplicaSet controller (pkg/controller/replicaset/replica_set.go): keep N pods of a template running.

For each ReplicaSet: the active pods of its namespace that it controls
(ownerReference with controller: true and its uid) or that it adopts (no
controller, labels its selector matches); a controlled pod whose labels no
longer match is released. Then: too few -> create pods from the template
(named `<rs>-` plus 5 random characters by the API server's generateName),
too many -> delete the least useful (unscheduled, then pending, then not
ready, then the newest). Last, write status: replicas, fullyLabeledReplicas,
readyReplicas, availableReplicas (ready for minReadySeconds) and
observedGeneration. Pods this controller created or deleted are put in (or
taken out of) the informer's store at once, so the next pass does not create
them twice before the watch reports them (upstream's "expectations").
"""
from __future__ import annotations

import copy
import logging
from datetime import datetime, timezone

from ..client import APIStatusError, object_key, selector_matches
from .base import Controller, controller_ref, is_pod_active, is_pod_ready, owner_reference, split_key

log = logging.getLogger("controllers.replicaset")

RS_PATH = "/apis/apps/v1/replicasets"


def _ready_since(pod: dict) -> float | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "True":
            stamp = c.get("lastTransitionTime")
            if not stamp:
                return 0.0
            return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    return None


def is_pod_available(pod: dict, min_ready_seconds: int, now: float) -> bool:
    """podutil.IsPodAvailable: ready, and for at least minReadySeconds."""
    since = _ready_since(pod)
    return since is not None and (min_ready_seconds == 0 or since + min_ready_seconds <= now)


def deletion_order(pods: list[dict]) -> list[dict]:
    """ActivePods' order for deletion: unscheduled, then pending, then not ready; newest first among equals."""
    newest_first = sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True)
    return sorted(newest_first, key=lambda p: (bool((p.get("spec") or {}).get("nodeName")),
                                                (p.get("status") or {}).get("phase") == "Running", is_pod_ready(p)))


class ReplicaSetController(Controller):
    name = "replicaset"
    burst = 500          # at most this many pods created or deleted per pass (upstream: BurstReplicas)

    def __init__(self, client, **_options):
        super().__init__(client)
        self.replicasets = self.informer(RS_PATH, self._rs_event)
        self.pods = self.informer("/api/v1/pods", self._pod_event)

    # -- events -> keys ------------------------------------------------------------------------

    def _rs_event(self, kind: str, rs: dict) -> None:
        self.queue.add(object_key(rs))

    def _pod_event(self, kind: str, pod: dict) -> None:
        ref = controller_ref(pod)
        namespace = pod["metadata"].get("namespace", "")
        if ref is not None:
            if ref.get("kind") == "ReplicaSet":
                self.queue.add(f"{namespace}/{ref['name']}")
            return
        for rs in self.replicasets.items():     # an orphan: whoever selects it may adopt it
            if rs["metadata"].get("namespace") == namespace and \
                    selector_matches(rs["spec"].get("selector"), pod["metadata"].get("labels")):
                self.queue.add(object_key(rs))

    # -- the reconcile -------------------------------------------------------------------------

    def sync(self, key: str) -> float | None:
        rs = self.replicasets.store.get(key)
        if rs is None:
            return None                      # gone: the garbage collector takes its pods
        namespace, name = split_key(key)
        pods = self._claim(rs)
        again = None
        if not rs["metadata"].get("deletionTimestamp"):
            self._manage(rs, pods)
            pods = self._claim(rs)
        min_ready = rs["spec"].get("minReadySeconds") or 0
        now = datetime.now(timezone.utc).timestamp()
        available = [p for p in pods if is_pod_available(p, min_ready, now)]
        if min_ready and len(available) < sum(1 for p in pods if is_pod_ready(p)):
            again = 1.0                          # look again when more become available
        labels = (rs["spec"].get("template") or {}).get("metadata", {}).get("labels") or {}
        status = {"replicas": len(pods),
                  "fullyLabeledReplicas": sum(1 for p in pods if all(
                      (p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())),
                  "readyReplicas": sum(1 for p in pods if is_pod_ready(p)),
                  "availableReplicas": len(available),
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        old = rs.get("status") or {}
        if any(old.get(k, 0) != v for k, v in status.items()):
            path = f"/apis/apps/v1/namespaces/{namespace}/replicasets/{name}/status"
            try:
                self.replicasets.remember(self.client.patch(path, {"status": status}, "merge"))
            except APIStatusError as e:
                if e.code != 404:
                    raise
        return again

    def _claim(self, rs: dict) -> list[dict]:
        """The active pods `rs` controls, after adopting matching orphans and releasing non-matching ones."""
        meta, selector = rs["metadata"], rs["spec"].get("selector")
        owned = []
        for pod in self.pods.items():
            pmeta = pod["metadata"]
            if pmeta.get("namespace") != meta.get("namespace") or not is_pod_active(pod):
                continue
            ref = controller_ref(pod)
            matches = selector_matches(selector, pmeta.get("labels"))
            if ref is not None and ref.get("uid") == meta["uid"]:
                if matches:
                    owned.append(pod)
                elif not meta.get("deletionTimestamp"):
                    self._set_owners(pod, [r for r in pmeta.get("ownerReferences") or [] if r.get("uid") != meta["uid"]])
            elif ref is None and matches and not meta.get("deletionTimestamp"):
                adopted = self._set_owners(pod, list(pmeta.get("ownerReferences") or []) + [owner_reference(rs)])
                if adopted is not None:
                    owned.append(adopted)
        return owned

    def _set_owners(self, pod: dict, refs: list[dict]) -> dict | None:
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        body = {"metadata": {"ownerReferences": refs or None}}
        try:
            new = self.client.patch(path, body, "merge")
        except APIStatusError as e:
            if e.code in (404, 409, 422):
                return None
            raise
        self.pods.remember(new)
        return new

    def _manage(self, rs: dict, pods: list[dict]) -> None:
        """Create or delete pods until as many run as spec.replicas asks."""
        meta = rs["metadata"]
        diff = len(pods) - rs["spec"].get("replicas", 1)
        if diff < 0:
            template = rs["spec"].get("template") or {}
            tmeta = template.get("metadata") or {}
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"generateName": f"{meta['name']}-", "namespace": meta["namespace"],
                                "labels": dict(tmeta.get("labels") or {}),
                                "ownerReferences": [owner_reference(rs)]},
                   "spec": copy.deepcopy(template.get("spec") or {})}
            if tmeta.get("annotations"):
                pod["metadata"]["annotations"] = dict(tmeta["annotations"])
            for _ in range(min(-diff, self.burst)):
                created = self.client.post(f"/api/v1/namespaces/{meta['namespace']}/pods", pod)
                self.pods.remember(created)
                log.info("replicaset %s/%s: created pod %s", meta["namespace"], meta["name"],
                         created["metadata"]["name"])
        elif diff > 0:
            for pod in deletion_order(pods)[:min(diff, self.burst)]:
                pmeta = pod["metadata"]
                self.delete(f"/api/v1/namespaces/{pmeta['namespace']}/pods/{pmeta['name']}")
                self.pods.forget(pod)
                log.info("replicaset %s/%s: deleted pod %s", meta["namespace"], meta["name"], pmeta["name"])
