"""apps/v1 Deployments and ReplicaSets: defaulting, validation, generation (pkg/registry/apps/*/strategy.go).

Both hold a pod template and a label selector that must select the
template's labels; in apps/v1 the selector is required and, once stored,
immutable. The template's spec gets the pod defaults. A Deployment is
defaulted as apps/v1 does (replicas 1, RollingUpdate with maxSurge and
maxUnavailable 25%, revisionHistoryLimit 10, progressDeadlineSeconds 600).
metadata.generation starts at 1 and moves when the spec changes (for a
Deployment, also when its annotations change, as upstream); controllers
report the generation they acted on as status.observedGeneration.
"""
from __future__ import annotations

import copy

from ...client import selector_matches
from . import Strategy
from . import validation as v

STRATEGY_TYPES = ("Recreate", "RollingUpdate")
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _non_negative(spec: dict, field: str) -> list[dict]:
    value = spec.get(field)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        return [v.invalid(f"spec.{field}", value, "must be greater than or equal to 0")]
    return []


def _int_or_percent_causes(value, field: str) -> list[dict]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [] if value >= 0 else [v.invalid(field, value, "must be greater than or equal to 0")]
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return [] if int(value[:-1]) <= 100 else [v.invalid(field, value, "must not be greater than 100%")]
    return [v.invalid(field, value, "a valid percent string must be a numeric string followed by an ending '%' "
                                    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")]


def resolve_int_or_percent(value, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int, or a percentage of `total` rounded as asked."""
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * total
        return -(-scaled // 100) if round_up else scaled // 100
    return int(value or 0)


class WorkloadStrategy(Strategy):
    """What Deployments and ReplicaSets share: selector, template, replicas, status, generation."""

    has_status = True
    pods = None   # the pod strategy, for the template's defaults and checks

    def default(self, obj: dict) -> None:
        spec = v.expect(obj.get("spec"), dict, self.resource.kind, f"{self.resource.kind}.spec")
        if spec is None:
            spec = obj["spec"] = {}
        spec.setdefault("replicas", 1)
        template = v.expect(spec.get("template"), dict, self.resource.kind, f"{self.resource.kind}.spec.template")
        if template is None:
            template = spec["template"] = {}
        template.setdefault("metadata", {})
        self.pods.default(template)    # the pod defaults, on template["spec"]
        if not obj["metadata"].get("labels") and self.resource.kind == "ReplicaSet":
            labels = template["metadata"].get("labels")
            if labels:   # apps/v1 SetDefaults_ReplicaSet: the template's labels
                obj["metadata"]["labels"] = dict(labels)

    def prepare_for_create(self, obj: dict) -> None:
        obj["metadata"]["generation"] = 1
        obj["status"] = {}

    def prepare_for_update(self, new: dict, old: dict) -> None:
        super().prepare_for_update(new, old)
        if self.spec_changed(new, old):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1

    def spec_changed(self, new: dict, old: dict) -> bool:
        return new.get("spec") != old.get("spec")

    def validate(self, obj: dict) -> list[dict]:
        spec = obj.get("spec") or {}
        causes = _non_negative(spec, "replicas") + _non_negative(spec, "minReadySeconds")
        selector = spec.get("selector")
        if not isinstance(selector, dict):
            causes.append(v.required("spec.selector"))
        elif not selector.get("matchLabels") and not selector.get("matchExpressions"):
            causes.append(v.invalid("spec.selector", selector, "empty selector is invalid for deployment"))
        else:
            causes += v.label_causes(selector.get("matchLabels") or {}, "spec.selector.matchLabels")
            for i, req in enumerate(selector.get("matchExpressions") or []):
                if not isinstance(req, dict) or req.get("operator") not in SELECTOR_OPERATORS:
                    causes.append(v.not_supported(f"spec.selector.matchExpressions[{i}].operator",
                                                  (req or {}).get("operator"), SELECTOR_OPERATORS))
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        causes += v.label_causes(labels, "spec.template.metadata.labels")
        if isinstance(selector, dict) and (selector.get("matchLabels") or selector.get("matchExpressions")) \
                and not selector_matches(selector, labels):
            causes.append(v.invalid("spec.template.metadata.labels", labels,
                                    "`selector` does not match template `labels`"))
        pod_causes = self.pods.validate({"spec": template.get("spec") or {}})
        for cause in pod_causes:
            cause = dict(cause, field="spec.template." + cause["field"])
            causes.append(cause)
        policy = (template.get("spec") or {}).get("restartPolicy")
        if policy != "Always" and not any(c["field"] == "spec.template.spec.restartPolicy" for c in causes):
            causes.append(v.not_supported("spec.template.spec.restartPolicy", policy, ("Always",)))
        return causes

    def validate_update(self, new: dict, old: dict) -> list[dict]:
        causes = self.validate(new)
        if (new.get("spec") or {}).get("selector") != (old.get("spec") or {}).get("selector"):
            causes.append(v.invalid("spec.selector", (new.get("spec") or {}).get("selector"),
                                    "field is immutable"))
        return causes


class ReplicaSetStrategy(WorkloadStrategy):
    def prepare_for_create(self, rs: dict) -> None:
        super().prepare_for_create(rs)
        rs["status"] = {"replicas": 0}    # ReplicaSetStatus.replicas has no omitempty


class DeploymentStrategy(WorkloadStrategy):
    def default(self, deploy: dict) -> None:
        super().default(deploy)
        spec = deploy["spec"]
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)

    def spec_changed(self, new: dict, old: dict) -> bool:
        return new.get("spec") != old.get("spec") or \
            new["metadata"].get("annotations") != old["metadata"].get("annotations")

    def validate(self, deploy: dict) -> list[dict]:
        causes = super().validate(deploy)
        spec = deploy.get("spec") or {}
        causes += _non_negative(spec, "revisionHistoryLimit")
        strategy = spec.get("strategy") or {}
        kind = strategy.get("type")
        if kind not in STRATEGY_TYPES:
            causes.append(v.not_supported("spec.strategy.type", kind, STRATEGY_TYPES))
        elif kind == "Recreate" and strategy.get("rollingUpdate") is not None:
            causes.append(v.forbidden("spec.strategy.rollingUpdate",
                                      "may not be specified when strategy `type` is 'Recreate'"))
        elif kind == "RollingUpdate":
            rolling = strategy.get("rollingUpdate") or {}
            for field in ("maxUnavailable", "maxSurge"):
                causes += _int_or_percent_causes(rolling.get(field), f"spec.strategy.rollingUpdate.{field}")
            if not causes and resolve_int_or_percent(rolling.get("maxUnavailable"), 100, False) == 0 \
                    and resolve_int_or_percent(rolling.get("maxSurge"), 100, True) == 0:
                causes.append(v.invalid("spec.strategy.rollingUpdate.maxUnavailable", rolling.get("maxUnavailable"),
                                        "may not be 0 when `maxSurge` is 0"))
        deadline = spec.get("progressDeadlineSeconds")
        if deadline is not None and isinstance(deadline, int) and deadline <= (spec.get("minReadySeconds") or 0):
            causes.append(v.invalid("spec.progressDeadlineSeconds", deadline,
                                    "must be greater than minReadySeconds"))
        return causes


def scale_of(resource, obj: dict) -> dict:
    """The autoscaling/v1 Scale a Deployment or ReplicaSet shows at its /scale subresource."""
    from ...client import selector_string
    meta = obj["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": selector_string((obj.get("spec") or {}).get("selector"))}}


def apply_scale(obj: dict, scale: dict) -> dict:
    """The object with spec.replicas from a Scale (everything else as stored)."""
    new = copy.deepcopy(obj)
    new["spec"]["replicas"] = (scale.get("spec") or {}).get("replicas", 0)
    return new
