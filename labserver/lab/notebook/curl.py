"""Raw HTTP requests that print the curl command a reader could type instead.

The post talks to the API server with `curl ... | jq ...`. The notebooks make
the same requests from Python (so they work where curl is missing) and print,
before each answer, the equivalent shell line. The filter is run by the real
jq (its library, through the `jq` binding), so the printed line pasted into a
shell gives the same answer. Every request is also
appended to a list of `Exchange`s, which the sequence pictures are drawn from:
what the lab really sent and got back, not a drawing made up beforehand.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

import jq
import requests

HTTP_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
                404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 410: "Gone",
                415: "Unsupported Media Type", 422: "Unprocessable Entity",
                500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class Exchange:
    """One request and its answer, as recorded for the pictures."""

    who: str
    method: str
    path: str
    status: int
    body: Any = None            # the parsed JSON answer (or text)
    sent: Any = None            # the parsed JSON request body, if any
    notes: dict = field(default_factory=dict)

    @property
    def resource_version(self) -> str | None:
        if isinstance(self.body, dict):
            return (self.body.get("metadata") or {}).get("resourceVersion")
        return None


@dataclass
class Answer:
    """What `curl()` returns: status, parsed JSON (or None) and text."""

    status: int
    json: Any
    text: str

    @property
    def reason(self) -> str:
        return HTTP_REASONS.get(self.status, "")


def curl_command(method: str, url: str, body_file: str | None = None, body: Any = None,
                 content_type: str = "application/json", jq_filter: str | None = None) -> str:
    """The shell line equivalent to the request, wrapped like the post's commands."""
    parts = ["curl"]
    if jq_filter:
        parts.append("--silent")
    if method != "GET":
        parts += ["--request", method]
    first = " ".join(parts + [url])
    lines = [first]
    if body is not None or body_file:
        data = f"@{body_file}" if body_file else shlex.quote(json.dumps(body, separators=(",", ":")))
        lines.append(f"--header {shlex.quote('Content-Type: ' + content_type)} --data {data}")
    if jq_filter:
        lines.append(f"| jq '{jq_filter}'")
    return "$ " + " \\\n    ".join(lines)


def show_json(value: Any, jq_filter: str | None = None) -> None:
    """Print JSON like `jq` does: two-space indent, one value per result."""
    results = jq.compile(jq_filter).input_value(value).all() if jq_filter else [value]
    for result in results:
        print(json.dumps(result, indent=2, ensure_ascii=False))


class Curl:
    """Send requests to one server, print them as curl lines, record them."""

    def __init__(self, base_url: str, shown_base: str | None = None, files_dir=None):
        self.base_url = base_url.rstrip("/")
        self.shown_base = (shown_base or base_url).rstrip("/")
        self.files_dir = files_dir
        self.exchanges: list[Exchange] = []

    def __call__(self, method: str, path: str, body: Any = None, *, body_file: str | None = None,
                 jq: str | None = None, who: str = "you", show: bool = True,
                 content_type: str = "application/json", timeout: float = 10) -> Answer:
        """Send `method path` (with a JSON body), print the curl line and the answer."""
        if body is not None and body_file and self.files_dir is not None:
            (self.files_dir / body_file).write_text(json.dumps(body, indent=2) + "\n")
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        r = requests.request(method, self.base_url + path, data=data, headers=headers, timeout=timeout)
        try:
            parsed = r.json()
        except ValueError:
            parsed = None
        self.exchanges.append(Exchange(who, method, path, r.status_code, parsed if parsed is not None
                                       else r.text, body))
        answer = Answer(r.status_code, parsed, r.text)
        if show:
            print(curl_command(method, self.shown_base + path, body_file, body, content_type, jq))
            if method != "GET" or r.status_code >= 300:
                print(f"HTTP {r.status_code} {answer.reason}")
            if parsed is not None:
                show_json(parsed, jq)
            else:
                print(r.text.rstrip())
        return answer
