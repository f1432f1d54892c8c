"""Fixtures for the scheduler's tests: a real scheduler process against a real API server and etcd.

Nodes are created through the API (status Ready, the capacity a test needs)
and no kubelet runs them, as the issue's benchmark does; where a pod must
really run, the tests start real kubelets with the process runtime.
Helpers to build and wait for objects are in scheduler_testing.py.
"""
from __future__ import annotations

import pytest
import requests


@pytest.fixture
def api(apiserver):
    """A requests Session on the API server, relative paths."""
    session = requests.Session()
    original = session.request

    def request(method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 30)
        return original(method, apiserver.url + url if url.startswith("/") else url, *args, **kwargs)
    session.request = request
    yield session
    session.close()


@pytest.fixture
def scheduler(component_factory):
    """`python -m labserver scheduler --master=...`, stopped at the end (short back-offs for tests)."""
    return component_factory("scheduler", "--pod-initial-backoff=0.2", "--pod-max-backoff=1")
