"""`python -m labserver.kubelet.container_log FILE`: a process runtime container's log writer.

The process runtime points a container's stdout and stderr at this process's
stdin. It stamps every line with the time it arrived and appends it to FILE
in the CRI log format (`<RFC 3339 nano> stdout F <text>`, cri_log.py),
which is what lets `kubectl logs --timestamps` and `--since` work. It runs in
a session of its own, outside the container's process group, so it outlives
the container by exactly as long as it takes to write the last lines, and
outlives a kubelet restart (the role of containerd's shim or conmon).
"""
from __future__ import annotations

import os
import signal
import sys

from .cri_log import cri_line

CHUNK = 1 << 16


def copy_lines(fd_in: int, fd_out: int) -> None:
    """Read fd_in to its end, writing each line (and a last partial one) to fd_out as CRI lines."""
    pending = b""
    while True:
        data = os.read(fd_in, CHUNK)
        if not data:
            break
        lines = (pending + data).split(b"\n")
        pending = lines.pop()
        if lines:
            os.write(fd_out, b"".join(cri_line("stdout", line + b"\n") for line in lines))
    if pending:
        os.write(fd_out, cri_line("stdout", pending))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m labserver.kubelet.container_log FILE", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)   # end only when the container's output ends
    out = os.open(args[0], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        copy_lines(0, out)
    finally:
        os.close(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
