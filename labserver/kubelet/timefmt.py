"""Kubernetes' two timestamp formats, in one place for every kubelet module.

metav1.Time is RFC 3339 to the second (`2026-01-01T00:00:00Z`, pod and node
status, events); metav1.MicroTime keeps microseconds
(`2026-01-01T00:00:00.000000Z`, a Lease's renewTime, an event's eventTime).
"""
from __future__ import annotations

import datetime as _dt


def now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def rfc3339(when: _dt.datetime | None = None) -> str:
    """metav1.Time: `2026-01-01T00:00:00Z`."""
    return (when or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro(when: _dt.datetime | None = None) -> str:
    """metav1.MicroTime: `2026-01-01T00:00:00.000000Z`."""
    return (when or now()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str | None) -> _dt.datetime | None:
    """Either format back to an aware datetime (None for None or garbage)."""
    if not text:
        return None
    try:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
