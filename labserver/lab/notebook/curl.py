"""The record of HTTP exchanges the sequence pictures are drawn from.

The notebooks send their requests with the real curl, in `!` cells; what each
client read, sent and got back stays in files (see `Lab.sequence`), which the
lab reads back into `Exchange`s. `pictures.py` draws them: what really
happened, not a drawing made up beforehand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
class Exchanges:
    """The exchanges recorded so far, oldest first (what `Pictures.sequence` reads as `.exchanges`)."""

    exchanges: list[Exchange] = field(default_factory=list)
