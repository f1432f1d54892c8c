"""The notebooks' lock: one run of the notebooks at a time on a machine.

The notebooks use the post's fixed ports (2379, 8080, 10250) and the checkout's
`.lab/`, and each run starts from a clean lab and tears it down at the end: two
runs at once (nbval, the tests that walk the notebooks cell by cell) would stop
each other's servers. So each holds /tmp/labserver-notebooks.lock while it runs,
as `flock /tmp/labserver-notebooks.lock make ...` does from a shell.

The lock is taken by flock(1) itself, blocking in the kernel like every other
waiter (polling for it would lose every race to them), and held until the block
ends; meanwhile the wait says every 30 s what it waits for.
"""
from __future__ import annotations

import contextlib
import subprocess
import threading
from pathlib import Path

from labserver.lab.supervise.procs import LabError, wait_for

LOCK = Path("/tmp/labserver-notebooks.lock")


@contextlib.contextmanager
def holding(say=print, timeout: float = 1200):
    """Hold the notebooks' lock for the block; LabError if it is not free within `timeout` seconds."""
    holder = subprocess.Popen(["flock", "--wait", str(int(timeout)), str(LOCK), "sh", "-c", "echo locked; read _"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    got = []
    reader = threading.Thread(target=lambda: got.append(holder.stdout.readline()), daemon=True)
    reader.start()

    def locked():
        if holder.poll() is not None and not got:
            raise LabError(f"flock {LOCK} gave up (exit {holder.returncode})")
        return bool(got) and got[0].strip() == "locked"
    try:
        wait_for(locked, timeout + 5, f"the notebooks' lock {LOCK} (another notebook run holds it)",
                 interval=0.2, progress=lambda line: say(f"  … {line}"), every=30)
        yield
    finally:
        with contextlib.suppress(OSError):
            holder.stdin.close()  # `read` ends, sh exits, flock releases the lock
        try:
            holder.wait(10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
