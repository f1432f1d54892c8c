"""Fixtures for the scheduler's tests: a real scheduler process against a real API server and etcd.

Nodes are created through the API (status Ready, the capacity a test needs)
and no kubelet runs them, as the issue's benchmark does; where a pod must
really run, the tests start real kubelets with the process runtime.
Helpers to build and wait for objects are in scheduler_testing.py.
"""
from __future__ import annotations

import pytest
import requests


DEFAULT_NS = "/api/v1/namespaces/default/"


@pytest.fixture
def api(apiserver, request):
    """A requests Session on the API server, relative paths.

    In a module marked shared_apiserver the namespace `default` of its paths (scheduler_testing's PODS
    and events) is this test's `namespace`, and at the end it deletes the test's pods and its nodes
    (named after the namespace): a test's scheduler sees every namespace's pending pods and every node,
    so the next test's must find none of these. Set up before the test's scheduler (a test asks for
    `api` first), it is torn down after that one has stopped."""
    namespace = request.getfixturevalue("namespace") if request.node.get_closest_marker("shared_apiserver") else None
    session = requests.Session()
    original = session.request

    def request_(method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 30)
        if namespace and url.startswith(DEFAULT_NS):
            url = f"/api/v1/namespaces/{namespace}/" + url[len(DEFAULT_NS):]
        return original(method, apiserver.url + url if url.startswith("/") else url, *args, **kwargs)
    session.request = request_
    yield session
    if namespace:
        pods = f"/api/v1/namespaces/{namespace}/pods"
        for item in session.get(pods).json()["items"]:
            r = session.delete(f"{pods}/{item['metadata']['name']}", json={"gracePeriodSeconds": 0})
            assert r.status_code in (200, 404), r.text
        for item in session.get("/api/v1/nodes").json()["items"]:
            if item["metadata"]["name"].startswith(f"{namespace}-"):
                r = session.delete(f"/api/v1/nodes/{item['metadata']['name']}")
                assert r.status_code in (200, 404), r.text
        assert session.get(pods).json()["items"] == []
    session.close()


@pytest.fixture
def scheduler(component_factory):
    """`python -m labserver scheduler --master=...`, stopped at the end (short back-offs for tests)."""
    return component_factory("scheduler", "--pod-initial-backoff=0.2", "--pod-max-backoff=1")
