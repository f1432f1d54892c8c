"""The post's pod, from the one file the notebooks show: notebooks/nginx.yaml.

The lab, the tests and the benchmarks all build the nginx pod here, so the
manifest a reader sees is the manifest everything else runs.
"""
from __future__ import annotations

import yaml

from ..supervise.state import REPO_ROOT

POST_POD_PATH = REPO_ROOT / "notebooks" / "nginx.yaml"


def post_pod(name: str = "nginx", node: str | None = None) -> dict:
    """The post's two-container nginx pod named `name`, bound to `node` when given."""
    pod = yaml.safe_load(POST_POD_PATH.read_text())
    pod["metadata"]["name"] = name
    if node:
        pod["spec"] = {"nodeName": node, **pod["spec"]}
    return pod
