"""Where the lab keeps what must outlive one notebook kernel.

Like the post's `etcd-container-id` file: pid files, ports, container ids and
logs live in one git-ignored directory, `.lab/` at the top of the checkout
(override with LABSERVER_STATE_DIR). Any notebook, `make clean` or
`python -m labserver teardown` can find and stop what an earlier one started.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]  # labserver/lab/supervise/state.py -> the checkout


def state_dir() -> Path:
    """The lab state directory (created on first use)."""
    path = Path(os.environ.get("LABSERVER_STATE_DIR") or REPO_ROOT / ".lab")
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_json(name: str) -> dict:
    """A JSON record from the state dir, or {} when absent or unreadable."""
    try:
        return json.loads((state_dir() / name).read_text())
    except (OSError, ValueError):
        return {}


def write_json(name: str, data: dict) -> Path:
    """Write a JSON record to the state dir atomically; return its path."""
    path = state_dir() / name
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path
