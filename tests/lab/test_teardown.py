"""`python -m labserver teardown [--check]` stops exactly what the lab started, from any state."""
import os
import signal
import subprocess

import requests

from labserver.lab.supervise import records, teardown
from labserver.lab.supervise.procs import pid_alive, wait_for


def test_check_lists_what_runs_teardown_stops_it_check_is_clean(lab, capsys):
    """--check fails naming etcd and the API server; teardown stops both; --check then passes."""
    lab.catch_up(upto=2)
    capsys.readouterr()
    assert teardown.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "etcd (pid" in err and "apiserver (pid" in err and f"127.0.0.1:{lab.ports.apiserver}" in err
    assert teardown.main([]) == 0
    out = capsys.readouterr().out
    assert "stopped the API server" in out and "stopped the etcd process" in out
    assert teardown.main(["--check"]) == 0


def test_teardown_with_nothing_running_says_so(lab, capsys):
    """From an empty state dir, teardown stops nothing and says so."""
    assert teardown.main([]) == 0
    assert "nothing was running" in capsys.readouterr().out


def test_a_reused_pid_is_never_killed(lab, capsys):
    """A pid file whose PID now belongs to another program is ignored, not signalled."""
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        for name in ("apiserver", "kubelet", "etcd"):
            (lab.dir / records.pid_file(name)).write_text(f"{stranger.pid}\n")
        assert teardown.main([]) == 0
        assert "nothing was running" in capsys.readouterr().out
        assert pid_alive(stranger.pid)
        assert not (lab.dir / "apiserver.pid").exists()  # the stale record is dropped
    finally:
        stranger.kill()
        stranger.wait()


def test_pods_of_a_dead_kubelet_are_removed_from_the_runtime(lab, process_runtime_ready, capsys):
    """Kubelet killed with its pod running: teardown removes the pod object and its containers."""
    lab.catch_up(upto=4)
    ip = lab.get_pod("nginx")["status"]["podIP"]
    os.kill(records.read_pid("kubelet"), signal.SIGKILL)
    wait_for(lambda: not records.component_alive("kubelet"), 10, "the kubelet to die")
    assert requests.get(f"http://{ip}/", timeout=2).ok  # its pod outlives it, as upstream
    stopped = teardown.stop_everything(say=print)
    out = capsys.readouterr().out
    assert "deleted pod default/nginx through the API server" in out
    assert "removed pod default/nginx's containers from the process runtime" in out
    assert teardown.runtime_containers() == [] and teardown.leftovers() == []
    assert len(stopped) == 4  # the pod object, its containers, the API server, etcd


def test_scheduler_controller_manager_and_a_second_node_are_known_to_teardown(lab, process_runtime_ready, capsys):
    """The lab starts the scheduler, the controller-manager and node-2; --check names them; teardown deletes
    the Deployment's pods on both nodes (the controller-manager stopped first, so none comes back),
    stops every component, and leaves no container behind."""
    lab.catch_up(upto=3)
    lab.start_scheduler()
    lab.start_controller_manager()
    lab.add_node("node-2")
    node2 = records.added_nodes()["node-2"]
    assert lab.get_node("node-2") and node2["port"] != lab.ports.kubelet
    created = lab.kubectl.run("create", "deployment", "web", "--image=nginx", "--replicas=4")
    assert created.returncode == 0, created.stderr

    def spread():
        pods = requests.get(f"{lab.api_url}/api/v1/namespaces/default/pods", timeout=5).json()["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        return len(running) == 4 and {p["spec"]["nodeName"] for p in running} == {lab.node_name(), "node-2"}
    wait_for(spread, 60, "4 pods Running over both nodes")
    node2_ips = [p["status"]["podIP"] for p in requests.get(
        f"{lab.api_url}/api/v1/pods", params={"fieldSelector": "spec.nodeName=node-2"}, timeout=5).json()["items"]]
    assert node2_ips and all(ip.startswith("127.2.") for ip in node2_ips)   # node-2's own pod range
    lab.start_scheduler()   # idempotent: reused
    assert "the scheduler is already running: reusing it" in capsys.readouterr().out
    lab.stop("node-2")      # one added node's kubelet; its pods keep running
    assert "stopped the kubelet of node node-2" in capsys.readouterr().out
    lab.add_node("node-2")  # back, with the same pod range
    assert "--pod-cidr=127.2.0.0/16" in capsys.readouterr().out and spread()
    # its port again when still free; in a parallel run another worker's process may hold it by now
    # (it is in the ephemeral range), and the kubelet then gets a free one: the record says which
    node2 = records.added_nodes()["node-2"]

    assert teardown.main(["--check"]) == 1
    err = capsys.readouterr().err
    for line in ("scheduler (pid", "controller-manager (pid", "the kubelet of node node-2 (pid",
                 "container nginx of pod default/web-", f"127.0.0.1:{lab.ports.scheduler}",
                 f"127.0.0.1:{lab.ports.controller_manager}", f"127.0.0.1:{node2['port']}"):
        assert line in err, line
    assert teardown.main([]) == 0
    out = capsys.readouterr().out
    for line in ("stopped the controller-manager", "stopped the scheduler", "stopped the kubelet of node node-2",
                 "stopped the kubelet (pid"):
        assert line in out, line
    assert "from the process runtime" not in out   # the kubelets stopped every pod themselves
    assert teardown.runtime_containers() == [] and teardown.main(["--check"]) == 0
