"""nbval session setup: the notebooks run against a clean lab, and leave nothing behind.

The notebooks start real servers (etcd, the API server, the kubelet, pods) that
outlive each notebook's kernel, by design. So around the whole session:
before the first notebook, whatever an earlier run left is stopped (the
notebooks expect to start from nothing); after the last one - also after a
failure or Ctrl-C - `labserver.lab.supervise.teardown` stops everything the lab started.

nbval's cell items take no fixtures, so this is done with the session hooks
(the same place a session-scoped autouse fixture would run), which also hold
the notebooks' lock (labserver.lab.supervise.notebooks_lock) for the whole run:
`make test` runs the notebooks beside the tests, one of which walks them too.

The node is named after the machine's hostname, which differs between the
machine that stored the outputs and the one running the tests: every cell's
comparison also masks both names (the stored one is in the notebook's
metadata, written by `labserver.lab.notebook.walkthrough --in-place`).
"""
from __future__ import annotations

import contextlib
import re
import socket

import pytest

from labserver.lab.supervise import notebooks_lock, teardown

_LOCK = pytest.StashKey[contextlib.ExitStack]()


def _say(line: str) -> None:
    print(f"\nnotebooks: {line}", flush=True)


def pytest_sessionstart(session):
    lock = contextlib.ExitStack()   # the notebooks' lock, held until the session has torn the lab down
    lock.enter_context(notebooks_lock.holding(say=_say))
    session.config.stash[_LOCK] = lock
    teardown.stop_everything(say=lambda line: _say(f"(clean start) {line}"))


def pytest_sessionfinish(session, exitstatus):
    try:
        teardown.stop_everything(say=lambda line: _say(f"(teardown) {line}"))
    finally:
        session.config.stash[_LOCK].close()


def _hostnames(nb) -> set[str]:
    names = {socket.gethostname().lower()}
    recorded = (nb.metadata.get("labserver") or {}).get("hostname") if nb is not None else None
    if recorded:
        names.add(recorded)
    return {n for n in names if n}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    yield  # the notebook's own setup (its kernel, sanitize.cfg) has run now
    parent = item.parent
    patterns = getattr(parent, "sanitize_patterns", None)
    if patterns is None or getattr(parent, "_lab_hostnames_added", False):
        return
    for name in sorted(_hostnames(getattr(parent, "nb", None)), key=len, reverse=True):
        patterns[rf"(?<![\w.-]){re.escape(name)}(?![\w-])"] = "<hostname>"
    parent._lab_hostnames_added = True
