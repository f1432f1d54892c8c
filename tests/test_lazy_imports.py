"""What the components do not load at start: the lazy imports that keep the lab's memory down.

tests/bench/bench_memory.py measures the lab's memory (target: under 150 MB
resident). Part of what it measures is what each process imports. These
libraries are loaded only by the request that needs them, and these tests
keep it so: each imports a component's entry points the way its process does,
in a fresh interpreter, and lists what is in sys.modules.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration   # each test starts a Python process

REPO = Path(__file__).resolve().parents[1]

def _loaded(code: str, names: list[str], flags: tuple[str, ...] = ()) -> list[str]:
    """Which of `names` are in sys.modules after `code` runs in a new interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([n for n in {names!r} if n in sys.modules]))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, *flags, "-c", probe], capture_output=True, text=True, timeout=60,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


API_SERVER = ("from labserver.apiserver import server, serving, create_app, discovery, openapi, metrics\n"
              "from labserver.apiserver import handlers, storage\n"
              "from labserver.apiserver.strategies import service")


def test_api_server_starts_without_the_rest_client_and_protobuf_codec():
    """Label selectors come without the REST client; the protobuf codec with the first protobuf body."""
    lazy = ["requests", "labserver.client.rest", "labserver.client.informer", "labserver.apiserver.protobuf.codec",
            "labserver.apiserver.protobuf.k8s.core_pb2"]
    assert _loaded(API_SERVER, [*lazy, "labserver.client.labels"]) == ["labserver.client.labels"]


def test_protobuf_codec_loads_on_first_use():
    code = f"{API_SERVER}\nfrom labserver.apiserver import protobuf\nprotobuf.can_encode({{}})"
    assert _loaded(code, ["labserver.apiserver.protobuf.codec"]) == ["labserver.apiserver.protobuf.codec"]


def test_client_names_load_on_first_use():
    code = "from labserver.client import selector_matches"
    assert _loaded(code, ["labserver.client.labels", "requests"]) == ["labserver.client.labels"]
    code = "from labserver.client import APIClient, Informer"
    assert _loaded(code, ["labserver.client.rest", "labserver.client.informer"]) == \
        ["labserver.client.rest", "labserver.client.informer"]


def test_unknown_client_name_is_an_import_error():
    with pytest.raises(ImportError):
        exec("from labserver.client import no_such_name", {})


def test_kubelet_starts_without_streaming_code():
    """exec, attach and port-forward load their code with the first such request; YAML with a kubeconfig."""
    code = "from labserver.kubelet import server, runtime_process, runtimes"
    lazy = ["simple_websocket", "wsproto", "labserver.kubelet.remotecommand", "labserver.kubelet.spdy",
            "yaml"]   # yaml: only a kubeconfig is read with it (client/rest.py)
    assert _loaded(code, [*lazy, "labserver.kubelet.http_api"]) == ["labserver.kubelet.http_api"]


def test_log_writer_imports_only_the_log_format():
    """The process runtime's per-container log writer, started as `python -S` (runtime_process.py): the
    standard library's basics and cri_log.py, no more."""
    code = "import labserver.kubelet.container_log"
    heavy = ["labserver.kubelet.streams", "labserver.kubelet.runtime", "dataclasses", "threading", "queue"]
    assert _loaded(code, heavy, flags=("-S",)) == []
    assert _loaded(code, ["labserver.kubelet.cri_log"], flags=("-S",)) == ["labserver.kubelet.cri_log"]
