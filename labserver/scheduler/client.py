"""The scheduler's HTTP client for the API server: requests, watches, and where the server is.

The server comes from `--master=URL` or from a kubeconfig's current context
(`--kubeconfig=FILE`, as kube-scheduler reads it). Error replies become
APIError with the Status's code, reason and message, so callers can say
"409: already bound", "410: relist".
"""
from __future__ import annotations

import json
import threading
from typing import Iterator

import requests
import yaml

USER_AGENT = "kube-scheduler/v1.37.0-labserver (linux/amd64) labserver"
PATCH_TYPES = {"merge": "application/merge-patch+json", "strategic": "application/strategic-merge-patch+json"}


class APIError(Exception):
    """The API server answered with an error Status."""

    def __init__(self, code: int, reason: str, message: str):
        super().__init__(f"{code} {reason}: {message}")
        self.code, self.reason, self.message = code, reason, message


class Unreachable(Exception):
    """No answer from the API server."""


def server_from_kubeconfig(path: str) -> str:
    """The server URL of the kubeconfig's current context (ValueError saying what is missing)."""
    try:
        with open(path) as f:
            config = yaml.safe_load(f) or {}
    except OSError as e:
        raise ValueError(f"cannot read kubeconfig {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ValueError(f"kubeconfig {path} is not YAML: {str(e).splitlines()[0]}") from None
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or []}
    context = contexts.get(config.get("current-context"))
    if context is None:
        raise ValueError(f"kubeconfig {path} has no current context")
    server = clusters.get(context.get("cluster"), {}).get("server")
    if not server:
        raise ValueError(f"kubeconfig {path}: cluster {context.get('cluster')!r} has no server")
    return server


class Client:
    """JSON requests and watches against one API server (one Session per thread)."""

    def __init__(self, server: str, timeout: float = 10.0):
        if "://" not in server:
            server = "http://" + server
        self.server, self.timeout = server.rstrip("/"), timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        return session

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            resp = self._session().request(method, self.server + path, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as e:
            why = "connection refused" if "refused" in str(e) else type(e).__name__
            raise Unreachable(f"API server {self.server} is unreachable: {why}") from None
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                body = {}
            resp.close()
            raise APIError(body.get("code") or resp.status_code, body.get("reason", resp.reason or ""),
                           body.get("message", resp.text[:200] if not body else ""))
        return resp

    def request(self, method: str, path: str, body=None, params=None, content_type="application/json") -> dict:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else {}
        resp = self._send(method, path, params=params, data=data, headers=headers)
        return resp.json() if resp.content else {}

    def get(self, path: str, params: dict | None = None) -> dict:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: dict) -> dict:
        return self.request("POST", path, body)

    def patch(self, path: str, body: dict, patch_type: str = "strategic") -> dict:
        return self.request("PATCH", path, body, content_type=PATCH_TYPES[patch_type])

    def watch(self, path: str, params: dict, read_timeout: float) -> Iterator[dict]:
        """The events of one watch stream, until the server ends it."""
        resp = self._send("GET", path, params=dict(params, watch="true"), stream=True, timeout=(5, read_timeout))
        with resp:
            for line in resp.iter_lines(chunk_size=None):
                if line:
                    yield json.loads(line)
