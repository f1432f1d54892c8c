"""The Deployment controller (pkg/controller/deployment/): roll a pod template out through ReplicaSets.

Each template a Deployment has had is one ReplicaSet, named
`<deployment>-<pod-template-hash>`; the hash is also a label on the
ReplicaSet, its selector and its pods, so ReplicaSets of one Deployment never
fight over pods. The ReplicaSet whose template equals the Deployment's
(ignoring that label) is the new one; it carries the highest
`deployment.kubernetes.io/revision`, which `kubectl rollout history` lists
and `kubectl rollout undo` goes back through (it copies an old ReplicaSet's
template into the Deployment, whose ReplicaSet then becomes new again with
the next revision). A pass:

1. adopt matching orphan ReplicaSets, find or create the new one;
2. scale: Recreate takes every old ReplicaSet to 0, waits for their pods to
   be gone, then brings up the new one. RollingUpdate brings the new one up
   while the total stays within replicas + maxSurge, and the old ones down
   while at least replicas - maxUnavailable pods stay available;
3. delete old, empty ReplicaSets beyond revisionHistoryLimit;
4. status: replicas, updated, ready, available and unavailable counts and the
   Available and Progressing conditions, in upstream's reasons and words
   (what `kubectl rollout status` reads to say "successfully rolled out").
   A rollout that makes no progress (no pod updated, ready or available more,
   no old pod gone) for progressDeadlineSeconds (600 by default) gets
   Progressing=False, reason ProgressDeadlineExceeded (progress.go); the
   Deployment is looked at again when its deadline comes. Without a deadline
   there is no Progressing condition at all, as upstream.
"""
from __future__ import annotations

import copy
import json
import logging
from datetime import datetime, timezone

from ..client import APIStatusError, object_key, selector_matches
from .base import Controller, controller_ref, owner_reference, split_key

log = logging.getLogger("controllers.deployment")

REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
# Annotations of the Deployment not copied to its ReplicaSets (deployment/util annotationsToSkip).
SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, "deployment.kubernetes.io/revision-history",
                    DESIRED, MAX_REPLICAS, "deprecated.deployment.rollback.to"}
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict, collision_count: int = 0) -> str:
    """controller.ComputeHash: FNV-1a (32 bit) of the template, written in the safe alphabet.

    Upstream hashes Go's printing of the struct; we hash canonical JSON, so
    the value differs from a real cluster's but has the same form and role.
    """
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[int(d) % len(_SAFE)] for d in str(h))   # rand.SafeEncodeString(fmt.Sprint(hash))


def _pruned(value):
    """The value without null, {} and [] members: how Go's semantic equality sees an absent field."""
    if isinstance(value, dict):
        pruned = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _without_hash(template: dict) -> dict:
    """The template as compared (EqualIgnoreHash): no pod-template-hash label, no empty fields."""
    t = copy.deepcopy(template or {})
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return _pruned(t)


def scaled(value, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, str) and value.endswith("%"):
        product = int(value[:-1]) * total
        return -(-product // 100) if round_up else product // 100
    return int(value or 0)


def surge_and_unavailable(deploy: dict) -> tuple[int, int]:
    """deploymentutil.ResolveFenceposts: maxSurge rounds up, maxUnavailable down; both 0 means 1 unavailable."""
    replicas = deploy["spec"].get("replicas", 1)
    rolling = (deploy["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = scaled(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def revision(rs: dict) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


NO_DEADLINE = 2**31 - 1   # math.MaxInt32: progressDeadlineSeconds that means "never"


def progress_deadline(deploy: dict) -> int | None:
    """util.HasProgressDeadline: the deadline in seconds, or None when the Deployment has none."""
    deadline = deploy["spec"].get("progressDeadlineSeconds")
    return None if deadline is None or deadline == NO_DEADLINE else deadline


def progressed(old: dict, new: dict) -> bool:
    """util.DeploymentProgressing: more pods updated, ready or available, or fewer old ones, than before."""
    def old_pods(st: dict) -> int:
        return st.get("replicas", 0) - st.get("updatedReplicas", 0)
    return (new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
            or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or new.get("availableReplicas", 0) > old.get("availableReplicas", 0)
            or old_pods(old) > old_pods(new))


def deadline_left(condition: dict | None, deadline: int, now: datetime) -> float | None:
    """Seconds until a Progressing condition last updated at lastUpdateTime times out (<= 0: it has);
    None when it cannot time out (no condition, or the rollout completed)."""
    if not condition or condition.get("reason") == "NewReplicaSetAvailable":
        return None
    try:
        updated = datetime.strptime(condition.get("lastUpdateTime") or "", "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return (updated.replace(tzinfo=timezone.utc) - now).total_seconds() + deadline


class DeploymentController(Controller):
    name = "deployment"

    def __init__(self, client, **_options):
        super().__init__(client)
        self.deployments = self.informer("/apis/apps/v1/deployments", self._deploy_event)
        self.replicasets = self.informer("/apis/apps/v1/replicasets", self._rs_event)

    def _deploy_event(self, kind: str, deploy: dict) -> None:
        self.queue.add(object_key(deploy))

    def _rs_event(self, kind: str, rs: dict) -> None:
        ref, namespace = controller_ref(rs), rs["metadata"].get("namespace", "")
        if ref is not None:
            if ref.get("kind") == "Deployment":
                self.queue.add(f"{namespace}/{ref['name']}")
            return
        for deploy in self.deployments.items():
            if deploy["metadata"].get("namespace") == namespace and \
                    selector_matches(deploy["spec"].get("selector"), rs["metadata"].get("labels")):
                self.queue.add(object_key(deploy))

    # -- the reconcile -------------------------------------------------------------------------

    def sync(self, key: str) -> float | None:
        deploy = self.deployments.store.get(key)
        if deploy is None or deploy["metadata"].get("deletionTimestamp"):
            return None
        all_rs = self._claim(deploy)
        new_rs, created = self._new_replicaset(deploy, all_rs)
        old = [rs for rs in all_rs if new_rs is None or rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        if not deploy["spec"].get("paused") and new_rs is not None:
            if (deploy["spec"].get("strategy") or {}).get("type") == "Recreate":
                self._recreate(deploy, new_rs, old)
            else:
                self._rolling_update(deploy, new_rs, old)
            self._cleanup(deploy, old)
        return self._write_status(deploy, new_rs, old, created)

    def _claim(self, deploy: dict) -> list[dict]:
        meta = deploy["metadata"]
        mine = []
        for rs in self.replicasets.items():
            if rs["metadata"].get("namespace") != meta["namespace"]:
                continue
            ref = controller_ref(rs)
            if ref is not None and ref.get("uid") == meta["uid"]:
                mine.append(rs)
            elif ref is None and selector_matches(deploy["spec"].get("selector"), rs["metadata"].get("labels")) \
                    and not rs["metadata"].get("deletionTimestamp"):
                refs = list(rs["metadata"].get("ownerReferences") or []) + [owner_reference(deploy)]
                mine.append(self._patch_rs(rs, {"metadata": {"ownerReferences": refs}}))
        return mine

    def _patch_rs(self, rs: dict, body: dict) -> dict:
        meta = rs["metadata"]
        new = self.client.patch(f"/apis/apps/v1/namespaces/{meta['namespace']}/replicasets/{meta['name']}",
                                body, "merge")
        self.replicasets.remember(new)
        return new

    def _scale(self, deploy: dict, rs: dict, replicas: int) -> dict:
        if rs["spec"].get("replicas") == replicas and \
                (rs["metadata"].get("annotations") or {}).get(DESIRED) == str(deploy["spec"].get("replicas", 1)):
            return rs
        surge, _ = surge_and_unavailable(deploy)
        log.info("deployment %s: scaling %s to %d", object_key(deploy), rs["metadata"]["name"], replicas)
        return self._patch_rs(rs, {"spec": {"replicas": replicas}, "metadata": {"annotations": {
            DESIRED: str(deploy["spec"].get("replicas", 1)),
            MAX_REPLICAS: str(deploy["spec"].get("replicas", 1) + surge)}}})

    def _new_replicaset(self, deploy: dict, all_rs: list[dict]) -> tuple[dict | None, bool]:
        """The ReplicaSet of the current template (its revision brought up to date), or a new one."""
        template = deploy["spec"].get("template") or {}
        max_old = max((revision(rs) for rs in all_rs), default=0)
        existing = next((rs for rs in sorted(all_rs, key=lambda r: r["metadata"].get("creationTimestamp", ""))
                         if _without_hash(rs["spec"].get("template")) == _without_hash(template)), None)
        annotations = {k: v for k, v in (deploy["metadata"].get("annotations") or {}).items()
                       if k not in SKIP_ANNOTATIONS}
        if existing is not None:
            rev = revision(existing)
            if rev < max_old or any((existing["metadata"].get("annotations") or {}).get(k) != v
                                    for k, v in annotations.items()):
                rev = max_old + 1 if rev < max_old else rev
                existing = self._patch_rs(existing, {"metadata": {"annotations": {**annotations, REVISION: str(rev)}}})
            self._set_deployment_revision(deploy, str(rev))
            return existing, False
        if deploy["spec"].get("paused"):
            return None, False
        collisions = (deploy.get("status") or {}).get("collisionCount") or 0
        pod_hash = template_hash(_without_hash(template), collisions)
        new_template = copy.deepcopy(template)
        new_template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(deploy["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        meta = deploy["metadata"]
        replicas = deploy["spec"].get("replicas", 1)
        surge, _ = surge_and_unavailable(deploy)
        if (deploy["spec"].get("strategy") or {}).get("type") == "Recreate" or not all_rs:
            initial = 0 if any(rs["spec"].get("replicas") for rs in all_rs) else replicas
        else:   # NewRSNewReplicas: as many as the surge allows now
            total = sum(rs["spec"].get("replicas", 0) for rs in all_rs)
            initial = max(0, min(replicas + surge - total, replicas))
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{meta['name']}-{pod_hash}", "namespace": meta["namespace"],
                           "labels": dict(new_template["metadata"]["labels"]),
                           "annotations": {**annotations, REVISION: str(max_old + 1), DESIRED: str(replicas),
                                           MAX_REPLICAS: str(replicas + surge)},
                           "ownerReferences": [owner_reference(deploy)]},
              "spec": {"replicas": initial, "minReadySeconds": deploy["spec"].get("minReadySeconds") or 0,
                       "selector": selector, "template": new_template}}
        try:
            created = self.client.post(f"/apis/apps/v1/namespaces/{meta['namespace']}/replicasets", rs)
        except APIStatusError as e:
            if e.code != 409:
                raise
            # a ReplicaSet of that name with another template: count a collision, hash again next pass
            self.client.patch(f"/apis/apps/v1/namespaces/{meta['namespace']}/deployments/{meta['name']}/status",
                              {"status": {"collisionCount": collisions + 1}}, "merge")
            return None, False
        self.replicasets.remember(created)
        log.info("deployment %s: created replicaset %s (revision %d)", object_key(deploy),
                 created["metadata"]["name"], max_old + 1)
        self._set_deployment_revision(deploy, str(max_old + 1))
        return created, True

    def _set_deployment_revision(self, deploy: dict, rev: str) -> None:
        if (deploy["metadata"].get("annotations") or {}).get(REVISION) != rev:
            meta = deploy["metadata"]
            new = self.client.patch(f"/apis/apps/v1/namespaces/{meta['namespace']}/deployments/{meta['name']}",
                                    {"metadata": {"annotations": {REVISION: rev}}}, "merge")
            deploy["metadata"] = new["metadata"]

    # -- strategies ----------------------------------------------------------------------------

    def _recreate(self, deploy: dict, new_rs: dict, old: list[dict]) -> None:
        """Recreate: every old ReplicaSet to 0; once none has pods left, the new one to replicas."""
        for rs in old:
            if rs["spec"].get("replicas"):
                self._scale(deploy, rs, 0)
        if any((rs.get("status") or {}).get("replicas") for rs in old):
            return
        self._scale(deploy, new_rs, deploy["spec"].get("replicas", 1))

    def _rolling_update(self, deploy: dict, new_rs: dict, old: list[dict]) -> None:
        """reconcileNewReplicaSet, then reconcileOldReplicaSets (rolling.go), within the fenceposts."""
        replicas = deploy["spec"].get("replicas", 1)
        surge, max_unavailable = surge_and_unavailable(deploy)
        active_old = [rs for rs in old if rs["spec"].get("replicas")]
        want_new = new_rs["spec"].get("replicas", 0)
        if not active_old or want_new > replicas:
            want_new = replicas
        else:
            total = want_new + sum(rs["spec"].get("replicas", 0) for rs in active_old)
            want_new = want_new + max(0, min(replicas + surge - total, replicas - want_new))
        new_rs = self._scale(deploy, new_rs, want_new)
        if not active_old:
            return
        # Old ReplicaSets: first the pods that are not available anyway, then as many as
        # availability allows (never below replicas - maxUnavailable available pods).
        min_available = replicas - max_unavailable
        all_count = new_rs["spec"].get("replicas", 0) + sum(rs["spec"].get("replicas", 0) for rs in active_old)
        new_unavailable = new_rs["spec"].get("replicas", 0) - (new_rs.get("status") or {}).get("availableReplicas", 0)
        budget = all_count - min_available - new_unavailable
        oldest_first = sorted(active_old, key=lambda r: (revision(r), r["metadata"].get("creationTimestamp", "")))
        for rs in oldest_first:
            if budget <= 0:
                break
            unhealthy = rs["spec"]["replicas"] - (rs.get("status") or {}).get("availableReplicas", 0)
            cut = min(budget, max(unhealthy, 0))
            if cut:
                rs = self._scale(deploy, rs, rs["spec"]["replicas"] - cut)
                budget -= cut
        available = (new_rs.get("status") or {}).get("availableReplicas", 0) + sum(
            (rs.get("status") or {}).get("availableReplicas", 0) for rs in active_old)
        budget = available - min_available
        for rs in oldest_first:
            rs = self.replicasets.store.get(object_key(rs), rs)
            if budget <= 0:
                break
            cut = min(budget, rs["spec"].get("replicas", 0))
            if cut:
                self._scale(deploy, rs, rs["spec"]["replicas"] - cut)
                budget -= cut

    def _cleanup(self, deploy: dict, old: list[dict]) -> None:
        """Delete the oldest empty old ReplicaSets beyond revisionHistoryLimit."""
        limit = deploy["spec"].get("revisionHistoryLimit", 10)
        empty = [rs for rs in old if not rs["spec"].get("replicas") and not (rs.get("status") or {}).get("replicas")
                 and not rs["metadata"].get("deletionTimestamp")]
        for rs in sorted(empty, key=revision)[:max(0, len(empty) - limit)]:
            meta = rs["metadata"]
            self.delete(f"/apis/apps/v1/namespaces/{meta['namespace']}/replicasets/{meta['name']}")
            self.replicasets.forget(rs)

    # -- status --------------------------------------------------------------------------------

    def _write_status(self, deploy: dict, new_rs: dict | None, old: list[dict], created: bool) -> float | None:
        """Write the status (when it changed); return when to sync again for the progress deadline."""
        replicas = deploy["spec"].get("replicas", 1)
        every = ([new_rs] if new_rs else []) + old
        every = [self.replicasets.store.get(object_key(rs), rs) for rs in every]
        counts = lambda field: sum((rs.get("status") or {}).get(field, 0) for rs in every)  # noqa: E731
        new_status = (self.replicasets.store.get(object_key(new_rs), new_rs).get("status") or {}) if new_rs else {}
        status = {"observedGeneration": deploy["metadata"].get("generation", 1), "replicas": counts("replicas"),
                  "updatedReplicas": new_status.get("replicas", 0), "readyReplicas": counts("readyReplicas"),
                  "availableReplicas": counts("availableReplicas")}
        status["unavailableReplicas"] = max(replicas - status["availableReplicas"], 0)
        _, max_unavailable = surge_and_unavailable(deploy)
        old_status = deploy.get("status") or {}
        conditions = {c["type"]: c for c in old_status.get("conditions") or []}
        if status["availableReplicas"] >= replicas - max_unavailable:
            available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            available = ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        progressing, again = self._progressing(deploy, old_status, status, new_rs, created, conditions)
        # Progress made moves the Progressing condition's lastUpdateTime even when its reason stays.
        touch = progressing is not None and progressing[1] == "ReplicaSetUpdated" and progressed(old_status, status)
        new_conditions = []
        for kind, value in (("Available", available), ("Progressing", progressing)):
            current = conditions.get(kind)
            if value is None:
                if current and (kind != "Progressing" or progress_deadline(deploy) is not None):
                    new_conditions.append(current)
                continue
            state, reason, message = value
            if current and (current.get("status"), current.get("reason"), current.get("message")) == value \
                    and not (kind == "Progressing" and touch):
                new_conditions.append(current)
                continue
            now = _now()
            moved = not current or current.get("status") != state
            new_conditions.append({"type": kind, "status": state, "lastUpdateTime": now,
                                   "lastTransitionTime": now if moved else current.get("lastTransitionTime", now),
                                   "reason": reason, "message": message})
        status["conditions"] = new_conditions
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        if all(old_status.get(k) == v for k, v in status.items()):
            return again
        namespace, name = split_key(object_key(deploy))
        try:
            self.client.patch(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status",
                              {"status": status}, "merge")
        except APIStatusError as e:
            if e.code != 404:
                raise
        return again

    @staticmethod
    def _progressing(deploy: dict, old_status: dict, status: dict, new_rs: dict | None, created: bool,
                     conditions: dict, now: datetime | None = None) -> tuple[tuple | None, float | None]:
        """The Progressing condition (status, reason, message) to have, None to keep the current one, and
        when to look again for the deadline (seconds, or None) - syncRolloutStatus in progress.go."""
        deadline = progress_deadline(deploy)
        if new_rs is None or deadline is None:
            return None, None
        replicas = deploy["spec"].get("replicas", 1)
        name = new_rs["metadata"]["name"]
        current = conditions.get("Progressing")
        complete = status["updatedReplicas"] == replicas and status["replicas"] == replicas \
            and status["availableReplicas"] == replicas and status["observedGeneration"] >= \
            deploy["metadata"].get("generation", 1)
        if complete:
            return ("True", "NewReplicaSetAvailable", f'ReplicaSet "{name}" has successfully progressed.'), None
        if created:
            return ("True", "NewReplicaSetCreated", f'Created new replica set "{name}"'), deadline
        if current is None:
            return ("True", "FoundNewReplicaSet", f'Found new replica set "{name}"'), deadline
        if progressed(old_status, status):
            # lastUpdateTime moves with each bit of progress: the deadline runs from the last one.
            return ("True", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.'), deadline
        left = deadline_left(current, deadline, now or datetime.now(timezone.utc))
        if left is not None and left <= 0:
            return ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{name}" has timed out progressing.'), None
        return None, (left + 1 if left is not None else None)
