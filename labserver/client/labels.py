"""metav1.LabelSelector (matchLabels + matchExpressions): does it match a set of labels, and its string form.

Controllers use it to find the pods a ReplicaSet selects; the API server uses
it to check a template against its selector and to fill a Scale's
`status.selector` (the `app=web` form `kubectl get --selector` takes).
"""
from __future__ import annotations


def selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """LabelSelectorAsSelector(...).Matches: an empty selector matches everything, None nothing."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key"), req.get("operator"), req.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selector_string(selector: dict | None) -> str:
    """`app=web,tier in (a,b)`: the selector as `kubectl get -l` writes it (sorted by key)."""
    parts = [(k, f"{k}={v}") for k, v in (selector or {}).get("matchLabels", {}).items()]
    for req in (selector or {}).get("matchExpressions") or []:
        key, op, values = req.get("key", ""), req.get("operator"), ",".join(sorted(req.get("values") or []))
        parts.append((key, {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                            "Exists": key, "DoesNotExist": f"!{key}"}.get(op, key)))
    return ",".join(text for _, text in sorted(parts))
