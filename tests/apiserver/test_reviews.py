"""Self reviews: allowed and anonymous, as the lab has no authorization, and never stored.

The tests on the API server process share one (pytest.mark.shared_apiserver, tests/conftest.py): a review
writes nothing. The in-process `client` tests are left unmarked, on key prefixes of their own: marked, their
`etcd_prefix` would be the shared server's, and they check that etcd's revision does not move."""
from __future__ import annotations

import pytest
from kubernetes import client as k8s

from kubectl_testing import kubectl, table  # noqa: F401

SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SSRR = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
SSR = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


def test_access_review_is_allowed_and_writes_nothing(client, revision):
    """What `kubectl auth can-i create pods` asks, in JSON: 201, allowed, the reason; etcd untouched."""
    before = revision()
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}}}
    response = client.post(SSAR, json=body)
    assert response.status_code == 201
    assert response.json["status"] == {"allowed": True,
                                       "reason": "labserver has no authorization: every request is allowed"}
    assert response.json["spec"] == body["spec"] and response.json["kind"] == "SelfSubjectAccessReview"
    assert client.post(SSAR, json={"spec": {"nonResourceAttributes": {"path": "/metrics", "verb": "get"}}}
                       ).json["status"]["allowed"] is True
    assert revision() == before


def test_access_review_needs_exactly_one_kind_of_attributes(client):
    none = client.post(SSAR, json={"spec": {}})
    assert none.status_code == 422 and none.json["message"] == (
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: '
        '"null": exactly one of nonResourceAttributes or resourceAttributes must be specified')
    both = client.post(SSAR, json={"spec": {"resourceAttributes": {}, "nonResourceAttributes": {}}})
    assert both.status_code == 422 and both.json["details"]["causes"][0]["field"] == "spec.nonResourceAttributes"


def test_rules_and_whoami(client, revision):
    before = revision()
    rules = client.post(SSRR, json={"spec": {"namespace": "default"}})
    assert rules.status_code == 201
    assert rules.json["status"]["resourceRules"] == [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
    assert rules.json["status"]["incomplete"] is False
    me = client.post(SSR, json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert me.status_code == 201
    assert me.json["status"]["userInfo"] == {"username": "system:anonymous", "groups": ["system:unauthenticated"]}
    assert revision() == before


@pytest.mark.parametrize("method, path", [("GET", SSAR), ("GET", f"{SSAR}/x"), ("DELETE", SSR), ("PUT", f"{SSR}/x")])
def test_reviews_are_create_only(client, method, path):
    response = client.open(path, method=method, json={})
    assert response.status_code == 405 and response.json["reason"] == "MethodNotAllowed"


def test_discovery_lists_the_review_groups(client):
    groups = {g["name"]: g for g in client.get("/apis").json["groups"]}
    assert groups["authorization.k8s.io"]["preferredVersion"]["groupVersion"] == "authorization.k8s.io/v1"
    resources = {r["name"]: r for r in client.get("/apis/authorization.k8s.io/v1").json["resources"]}
    assert resources["selfsubjectaccessreviews"] == {
        "name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview", "namespaced": False,
        "kind": "SelfSubjectAccessReview", "verbs": ["create"]}
    assert "selfsubjectrulesreviews" in resources
    assert [r["name"] for r in client.get("/apis/authentication.k8s.io/v1").json["resources"]] == [
        "selfsubjectreviews"]


@pytest.mark.shared_apiserver
def test_official_client_asks_and_is_answered(apiserver):
    """The Python client's typed review calls (JSON bodies) get typed answers."""
    with k8s.ApiClient(k8s.Configuration(host=apiserver.url)) as api_client:
        review = k8s.AuthorizationV1Api(api_client).create_self_subject_access_review(
            k8s.V1SelfSubjectAccessReview(spec=k8s.V1SelfSubjectAccessReviewSpec(
                resource_attributes=k8s.V1ResourceAttributes(verb="delete", resource="nodes"))))
        assert review.status.allowed is True
        me = k8s.AuthenticationV1Api(api_client).create_self_subject_review(k8s.V1SelfSubjectReview())
        assert me.status.user_info.username == "system:anonymous"


@pytest.mark.shared_apiserver
def test_kubectl_auth_can_i(kubectl):
    assert kubectl("auth", "can-i", "create", "pods").stdout.strip() == "yes"
    listed = table(kubectl("auth", "can-i", "--list").stdout)
    assert listed[0][0] == "Resources" and ["*.*", "[]", "[]", "[*]"] in listed


@pytest.mark.shared_apiserver
def test_kubectl_auth_whoami(kubectl):
    assert table(kubectl("auth", "whoami").stdout) == [["ATTRIBUTE", "VALUE"], ["Username", "system:anonymous"],
                                                      ["Groups", "[system:unauthenticated]"]]
