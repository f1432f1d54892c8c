"""The CRI container log format, one line per write: `<RFC 3339 nano> <stream> <F|P> <text>`.

Its own small module, importing only `datetime`, because the process runtime's
log writer (container_log.py) runs one Python process per container for the
container's whole life: the writer imports this and nothing else, so each
costs little more than the interpreter. streams.py re-exports these for the
kubelet's readers.
"""
from __future__ import annotations

import datetime as _dt

LogLine = tuple[str, bytes]   # (RFC 3339 time with nanoseconds, the line with its newline)


def timestamp(when: _dt.datetime | None = None) -> str:
    """RFC 3339 with nanoseconds, as the kubelet prints for --timestamps: 2026-01-01T00:00:00.123456000Z."""
    when = when or _dt.datetime.now(_dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def cri_line(stream: str, text: bytes, when: _dt.datetime | None = None) -> bytes:
    """One line of a CRI log file; `text` ending in a newline is a full (F) line, else partial (P)."""
    full = text.endswith(b"\n")
    body = text[:-1] if full else text
    return f"{timestamp(when)} {stream} {'F' if full else 'P'} ".encode() + body + b"\n"


def parse_cri_line(raw: bytes) -> LogLine | None:
    """A CRI log line back to (timestamp, line); None for a malformed one."""
    parts = raw.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    text = parts[3] if len(parts) == 4 else b""
    return parts[0].decode(errors="replace"), text + (b"\n" if parts[2] == b"F" else b"")
