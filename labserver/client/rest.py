"""The HTTP client for the API server, what client-go's rest client is to every component.

The kubelet (node registration, lease renewals, pod list/watch, pod status,
events, the final DELETE of a pod), the scheduler and the controller-manager
talk to the API server only through here: one requests.Session per thread, JSON bodies,
and error replies turned into APIStatusError carrying the Status's code and
reason, so callers can say "404 -> create it", "409 -> re-read and retry",
"410 -> relist". It lives beside the components, not in any of them, because
they must not import each other.

`--api-servers` may name several servers; a connection failure moves on to
the next one (the old kubelet's behaviour with a comma list).
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Callable, Iterator

import requests

from ..retry import retry_on_conflict

log = logging.getLogger("labserver.client")

USER_AGENT = "labserver/v1.37.0-labserver (linux/amd64) labserver"


class APIStatusError(Exception):
    """The API server answered with an error Status (code, reason, message)."""

    def __init__(self, code: int, reason: str, message: str, body: dict | None = None):
        super().__init__(f"{code} {reason}: {message}")
        self.code, self.reason, self.message, self.body = code, reason, message, body or {}


class APIUnavailable(Exception):
    """No API server in the list could be reached."""


def parse_servers(spec: str) -> list[str]:
    """`127.0.0.1:8080,http://h:1` -> ['http://127.0.0.1:8080', 'http://h:1'] (ValueError if empty/bad)."""
    urls = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if "://" not in item:
            item = "http://" + item
        scheme, _, rest = item.partition("://")
        host = rest.split("/", 1)[0]
        if scheme not in ("http", "https") or not host:
            raise ValueError(f"not an API server address: {item!r} (want host:port or http://host:port)")
        urls.append(item.rstrip("/"))
    if not urls:
        raise ValueError("no API server given (want host:port or http://host:port, comma-separated)")
    return urls


def server_from_kubeconfig(path: str) -> str:
    """The server URL of the kubeconfig's current context (ValueError saying what is missing)."""
    import yaml   # here, not at the top: the components that never read a kubeconfig skip its 1 MB
    try:
        with open(path) as f:
            config = yaml.safe_load(f) or {}
    except OSError as e:
        raise ValueError(f"cannot read kubeconfig {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ValueError(f"kubeconfig {path} is not YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(config, dict):
        raise ValueError(f"kubeconfig {path} is not a kubeconfig")
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or []}
    context = contexts.get(config.get("current-context"))
    if context is None:
        raise ValueError(f"kubeconfig {path} has no current context")
    server = clusters.get(context.get("cluster"), {}).get("server")
    if not server:
        raise ValueError(f"kubeconfig {path}: cluster {context.get('cluster')!r} has no server")
    return server


def _why(error: Exception | None) -> str:
    """A short reason for a connection failure (requests' own messages run to several lines)."""
    text = str(error)
    for needle, short in (("Connection refused", "connection refused"), ("timed out", "timed out"),
                          ("Name or service not known", "unknown host"), ("Connection reset", "connection reset")):
        if needle in text:
            return short
    return type(error).__name__ if error else "no answer"


def _error_from(resp: requests.Response) -> APIStatusError:
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("kind") == "Status":
        return APIStatusError(body.get("code") or resp.status_code, body.get("reason", ""),
                              body.get("message", ""), body)
    return APIStatusError(resp.status_code, resp.reason or "", resp.text[:200].strip())


class APIClient:
    """JSON over HTTP to the first API server that answers."""

    user_agent = USER_AGENT

    def __init__(self, servers: list[str] | str, timeout: float = 10.0, user_agent: str | None = None):
        self.servers = parse_servers(servers) if isinstance(servers, str) else list(servers)
        self.timeout = timeout
        if user_agent:
            self.user_agent = user_agent
        self._current = 0
        self._local = threading.local()  # one Session per thread: Sessions are not thread-safe

    @property
    def base_url(self) -> str:
        return self.servers[self._current]

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update({"User-Agent": self.user_agent, "Accept": "application/json"})
        return session

    def _send(self, method: str, path: str, stream: bool = False, **kwargs) -> requests.Response:
        """Send to the current server, failing over to the others on connection errors."""
        last: Exception | None = None
        timeout = kwargs.pop("timeout", self.timeout)
        for attempt in range(len(self.servers)):
            index = (self._current + attempt) % len(self.servers)
            try:
                resp = self._session().request(method, self.servers[index] + path, stream=stream,
                                               timeout=timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as e:
                last = e
                continue
            if index != self._current:
                log.info("switched to API server %s", self.servers[index])
                self._current = index
            return resp
        raise APIUnavailable(f"API server unreachable ({', '.join(self.servers)}): {_why(last)}")

    def request(self, method: str, path: str, body=None, params: dict | None = None,
                content_type: str = "application/json") -> dict:
        """One request; the decoded JSON reply, or APIStatusError / APIUnavailable."""
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = content_type
        resp = self._send(method, path, params=params, data=data, headers=headers)
        if resp.status_code >= 400:
            raise _error_from(resp)
        try:
            return resp.json()
        except ValueError:
            return {}

    def get(self, path: str, params: dict | None = None) -> dict:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: dict) -> dict:
        return self.request("POST", path, body)

    def put(self, path: str, body: dict) -> dict:
        return self.request("PUT", path, body)

    def patch(self, path: str, body: dict, patch_type: str = "merge") -> dict:
        ctype = {"merge": "application/merge-patch+json",
                 "strategic": "application/strategic-merge-patch+json",
                 "json": "application/json-patch+json"}[patch_type]
        return self.request("PATCH", path, body, content_type=ctype)

    def delete(self, path: str, body: dict | None = None) -> dict:
        return self.request("DELETE", path, body)

    def update(self, path: str, mutate: Callable[[dict], dict | None]) -> dict:
        """GET, mutate, PUT; re-read and retry on 409 Conflict. Returns the stored object.

        `mutate` changes the object in place (or returns a replacement); returning
        False-y after changing nothing is fine. Used for node status, whose
        conditions keep their transition times from the stored ones.
        """
        def attempt() -> dict:
            obj = self.get(path)
            new = mutate(obj)
            return self.put(path, new if isinstance(new, dict) else obj)
        return retry_on_conflict(attempt, lambda e: isinstance(e, APIStatusError) and e.code == 409)

    def watch(self, path: str, params: dict, read_timeout: float) -> Iterator[dict]:
        """Stream watch events ({"type", "object"}) until the server ends the stream.

        Raises APIStatusError when the watch itself is refused, APIUnavailable when
        no server answers, and requests errors if the connection drops mid-stream.
        """
        params = dict(params, watch="true")
        resp = self._send("GET", path, stream=True, params=params, timeout=(5, read_timeout))
        with resp:
            if resp.status_code >= 400:
                raise _error_from(resp)
            for line in resp.iter_lines(chunk_size=None):
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    log.warning("undecodable watch line: %.200r", line)

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
