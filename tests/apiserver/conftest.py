"""Fixtures for the API server tests: the Flask app on a real etcd, and helpers to talk to it.

`app`/`client` run create_app in-process (quick handler tests); the shared
`apiserver` fixture (tests/conftest.py) runs the real process. Nothing fakes etcd.
"""
from __future__ import annotations

import pytest
import requests

from labserver.apiserver import create_app
from labserver.apiserver.storage import bootstrap_namespaces

@pytest.fixture
def app(etcd, etcd_prefix):
    """create_app on the module's etcd under this test's key prefix, with the system namespaces bootstrapped."""
    app = create_app({"ETCD_SERVERS": [etcd.client_url], "ETCD_PREFIX": etcd_prefix, "TESTING": True,
                      "BOOKMARK_INTERVAL": 0.5})
    storage = app.extensions["labserver.storage"]
    bootstrap_namespaces(storage)
    yield app
    app.extensions["labserver.shutdown"].set()   # ends any watch a test left open
    storage.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def revision(etcd_client):
    """A function returning etcd's current revision."""
    return lambda: etcd_client.get_response("/").header.revision


@pytest.fixture
def api(apiserver):
    """A requests Session whose relative paths go to the apiserver process."""
    session = requests.Session()
    base = apiserver.url
    original = session.request

    def request(method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 30)
        return original(method, base + url if url.startswith("/") else url, *args, **kwargs)
    session.request = request
    session.base_url = base
    yield session
    session.close()
