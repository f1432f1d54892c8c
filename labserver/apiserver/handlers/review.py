"""Self reviews: "may I?" and "who am I?", answered and never stored (pkg/registry/authorization/).

The lab's API server has no authentication and no authorization: it serves
plain HTTP on loopback and every request is allowed, as if kube-apiserver ran
with `--authorization-mode=AlwaysAllow` and anonymous requests. These create-only
resources say exactly that, in the answers `kubectl auth can-i` (a
SelfSubjectAccessReview, or a SelfSubjectRulesReview for `--list`) and
`kubectl auth whoami` (a SelfSubjectReview) understand: allowed, and the
user is upstream's anonymous user. Nothing is written to etcd, so its
revision does not move; `?dryRun=All` changes nothing either.
"""
from __future__ import annotations

from flask import Response

from ..errors import APIError
from .request import Scope, dry_run, object_body, respond

REASON = "labserver has no authorization: every request is allowed"
ANONYMOUS = {"username": "system:anonymous", "groups": ["system:unauthenticated"]}


def _access(review: dict) -> dict:
    spec = review.get("spec") or {}
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if resource is not None and non_resource is not None:
        field, detail = "spec.nonResourceAttributes", "cannot be specified in combination with resourceAttributes"
    elif resource is None and non_resource is None:
        field, detail = "spec.resourceAttributes", ("exactly one of nonResourceAttributes or resourceAttributes "
                                                    "must be specified")
    else:
        return {"allowed": True, "reason": REASON}
    cause = {"reason": "FieldValueInvalid", "message": f'Invalid value: "null": {detail}', "field": field}
    raise APIError(422, "Invalid", f'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: {field}: '
                   f'{cause["message"]}', {"kind": "SelfSubjectAccessReview", "group": "authorization.k8s.io",
                                          "causes": [cause]})


def _rules(review: dict) -> dict:
    return {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}


def _whoami(review: dict) -> dict:
    return {"userInfo": dict(ANONYMOUS, groups=list(ANONYMOUS["groups"]))}


ANSWERS = {"SelfSubjectAccessReview": _access, "SelfSubjectRulesReview": _rules, "SelfSubjectReview": _whoami}


def create(scope: Scope) -> Response:
    """201 with the review and its answer in `status`."""
    review = object_body(scope)
    dry_run()   # validates the parameter; there is nothing to write either way
    review["status"] = ANSWERS[scope.resource.kind](review)
    return respond(review, 201)
