"""The scheduler's command line, and its list + watch: resume, relist on 410 Expired."""
from __future__ import annotations

import pytest

import subprocess
import sys
import threading

from scheduler_testing import PODS, add_nodes, create, node, pod, wait_bound
from labserver.lab.supervise.procs import free_port, wait_for
from labserver.client import APIClient, server_from_kubeconfig
from labserver.client import Informer

# The two tests on an API server share the module's (each in its own namespace); the others start none.
pytestmark = [pytest.mark.shared_apiserver]

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labserver", "scheduler", *args], capture_output=True, text=True,
                          timeout=30)


@pytest.mark.integration
def test_help_and_component_list():
    assert "--kubeconfig" in run_cli("--help").stdout
    listing = subprocess.run([sys.executable, "-m", "labserver", "--help"], capture_output=True, text=True).stdout
    assert "scheduler" in listing


@pytest.mark.integration
def test_unreachable_api_server_is_one_line_and_exit_1():
    out = run_cli(f"--master=http://127.0.0.1:{free_port()}", "--port=0")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        out.stderr.strip()] and "unreachable" in out.stderr and "connection refused" in out.stderr


@pytest.mark.integration
def test_missing_server_or_bad_kubeconfig_is_one_line_and_exit_2(tmp_path):
    out = run_cli()
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "--master" in out.stderr
    out = run_cli(f"--kubeconfig={tmp_path / 'nope'}")
    assert out.returncode == 2 and "cannot read kubeconfig" in out.stderr
    assert run_cli("--port=x").returncode == 2


def test_kubeconfig_current_context_server(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
                    "clusters: [{name: lab, cluster: {server: 'http://127.0.0.1:8080'}}]\n"
                    "contexts: [{name: lab, context: {cluster: lab, user: ''}}]\n")
    assert server_from_kubeconfig(str(path)) == "http://127.0.0.1:8080"


def test_kubeconfig_flag_runs_the_scheduler(api, apiserver, namespace, tmp_path):
    """--kubeconfig is enough to find the API server and schedule."""
    path = tmp_path / "kubeconfig"
    path.write_text(f"current-context: lab\nclusters: [{{name: lab, cluster: {{server: '{apiserver.url}'}}}}]\n"
                    "contexts: [{name: lab, context: {cluster: lab}}]\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "labserver", "scheduler", f"--kubeconfig={path}",
                             f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        add_nodes(api, node(f"{namespace}-node-k"))
        create(api, pod("via-kubeconfig"))
        assert wait_bound(api, "via-kubeconfig") == f"{namespace}-node-k"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    assert "scheduler stopped (1 pods bound)" in proc.stderr.read()


def test_informer_relists_after_410(api, apiserver, namespace, etcd_client):
    """A watch from a compacted resourceVersion ends in 410; the informer lists again and keeps watching.

    The informer is on all pods (the shared API server's); it keeps those of this test's namespace."""
    create(api, pod("p0"), pod("p1"))
    revision = int(api.get("/api/v1/pods").json()["metadata"]["resourceVersion"])
    etcd_client.compact(revision)
    lists, events, lock = [], [], threading.Lock()

    def on_list(items):
        with lock:
            lists.append(sorted(p["metadata"]["name"] for p in items if p["metadata"]["namespace"] == namespace))

    def on_event(kind, obj):
        if obj["metadata"]["namespace"] == namespace:
            with lock:
                events.append((kind, obj["metadata"]["name"]))
    informer = Informer(APIClient(apiserver.url), "/api/v1/pods", on_list, on_event, backoff=(0.05, 0.2))
    informer.resource_version = "2"        # as if the scheduler had been away a long time
    informer.start()
    try:
        wait_for(lambda: lists, 10, "relist after 410")
        assert lists == [["p0", "p1"]]
        create(api, pod("p2"))
        api.delete(f"{PODS}/p2", json={"gracePeriodSeconds": 0})
        wait_for(lambda: ("DELETED", "p2") in events, 10, "watching again after the relist")
        assert events == [("ADDED", "p2"), ("DELETED", "p2")]
    finally:
        informer.stop()
