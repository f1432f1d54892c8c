"""The kubelet's API client: the shared labserver.client, introducing itself as the kubelet."""
from __future__ import annotations

from ..client import APIClient as _SharedClient
from ..client import APIStatusError, APIUnavailable, parse_servers

__all__ = ["APIClient", "APIStatusError", "APIUnavailable", "parse_servers", "USER_AGENT"]

USER_AGENT = "kubelet/v1.37.0-labserver (linux/amd64) labserver"


class APIClient(_SharedClient):
    user_agent = USER_AGENT
