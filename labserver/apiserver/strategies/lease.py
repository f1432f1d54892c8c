"""Leases (coordination.k8s.io/v1): the kubelet's heartbeat in kube-node-lease.

No status, no grace; PUT may create one, as upstream. Only the spec's numeric
fields are checked, so a bad heartbeat is refused instead of stored.
"""
from __future__ import annotations

from . import Strategy
from . import validation as v


class LeaseStrategy(Strategy):
    allow_create_on_update = True

    def validate(self, lease: dict) -> list[dict]:
        spec = v.expect(lease.get("spec"), dict, "Lease", "Lease.spec") or {}
        causes = []
        for field in ("leaseDurationSeconds", "leaseTransitions"):
            value = spec.get(field)
            if value is not None and (not isinstance(value, int) or value < 0):
                causes.append(v.invalid(f"spec.{field}", value, "must be greater than or equal to 0"))
        return causes
