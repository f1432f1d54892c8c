"""Events: what `kubectl describe` shows under Events (pkg/registry/core/event/strategy.go).

Events are written by the kubelet; the only rule worth keeping is that an
event's involvedObject lives in the event's own namespace. PUT may create one.
"""
from __future__ import annotations

from . import Strategy
from . import validation as v


class EventStrategy(Strategy):
    allow_create_on_update = True

    def validate(self, event: dict) -> list[dict]:
        involved = v.expect(event.get("involvedObject"), dict, "Event", "Event.involvedObject") or {}
        ns, own = involved.get("namespace"), event["metadata"].get("namespace")
        if ns and own and ns != own:
            return [v.invalid("involvedObject.namespace", ns, "does not match event.namespace")]
        return []
