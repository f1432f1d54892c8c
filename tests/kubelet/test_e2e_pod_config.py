"""Pods as tutorials write them, end to end on each runtime: ConfigMap and Secret volumes and env,
the downward API, CreateContainerConfigError, the final terminated status, resource limits.

Real etcd, API server and `python -m labserver kubelet`; what a container sees is read from its
own output through `kubectl logs`. No test here restarts or stops a component, so the module shares
them (tests/kubelet/shared_cluster.py): one API server, one kubelet per runtime, each test in a
namespace of its own whose pods are deleted when it ends.
"""
from __future__ import annotations

import threading

import pytest
import requests

from labserver.lab.supervise.procs import wait_for
from shared_cluster import NamespacedCluster, cluster, module_kubelet, runtime_name  # noqa: F401  (fixtures)

pytestmark = pytest.mark.shared_apiserver


def busybox_pod(c: NamespacedCluster, name: str, script: str, **spec) -> dict:
    """A one-container busybox pod running `script`, on the cluster's node."""
    container = {"name": "main", "image": "busybox", "command": ["sh", "-c", script]}
    container.update(spec.pop("container", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"nodeName": c.node, "terminationGracePeriodSeconds": 5, "containers": [container], **spec}}


def create_object(c: NamespacedCluster, kind: str, name: str, **body) -> dict:
    kinds = {"configmaps": "ConfigMap", "secrets": "Secret"}
    return c.client.post(f"/api/v1/namespaces/{c.namespace}/{kind}",
                         {"apiVersion": "v1", "kind": kinds[kind], "metadata": {"name": name}, **body})


def wait_log(c: NamespacedCluster, pod: str, text: str, timeout: float = 60) -> str:
    return wait_for(lambda: (out := c.kubectl("logs", pod)) and text in out and out, timeout,
                    f"{text!r} in the log of {pod}")


def waiting_reason(pod: dict) -> str | None:
    st = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return (st[0].get("state", {}).get("waiting") or {}).get("reason")


def test_configmap_volume_appears_and_follows_updates(cluster):
    """A ConfigMap volume shows the keys as files (atomic-writer layout) and changes with the ConfigMap;
    a subPath mount of one key does not (as upstream)."""
    create_object(cluster, "configmaps", "cfg", data={"greeting": "hello"})
    pod = busybox_pod(cluster, "cm-reader",
                      "while true; do echo \"seen=$(cat /etc/cfg/greeting) sub=$(cat /greeting.txt)\"; "
                      "ls -a /etc/cfg | tr '\\n' ' '; echo; sleep 1; done",
                      volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}],
                      container={"volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"},
                                                  {"name": "cfg", "mountPath": "/greeting.txt",
                                                   "subPath": "greeting"}]})
    cluster.create(pod)
    wait_log(cluster, "cm-reader", "seen=hello sub=hello")
    out = wait_log(cluster, "cm-reader", "..data")
    listing = next(line for line in out.splitlines() if "..data" in line).split()
    assert {"..data", "greeting"} <= set(listing), listing
    assert any(e.startswith("..20") for e in listing), listing
    cluster.client.patch(f"/api/v1/namespaces/{cluster.namespace}/configmaps/cfg", {"data": {"greeting": "changed"}})
    wait_log(cluster, "cm-reader", "seen=changed sub=hello", timeout=60)  # a subPath mount keeps its file


def test_secret_and_downward_api_env(cluster):
    """Env from a Secret key, envFrom a ConfigMap with a prefix, fieldRefs and $(VAR) expansion."""
    create_object(cluster, "secrets", "creds", stringData={"password": "s3cret"})
    create_object(cluster, "configmaps", "settings", data={"mode": "fast"})
    env = [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
           {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
           {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
           {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
           {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
           {"name": "WHO", "value": "$(POD_NAME)@$(NODE)"}]
    pod = busybox_pod(cluster, "env-reader", "echo PW=$PW NS=$POD_NS IP=$POD_IP APP=$APP WHO=$WHO MODE=$CFG_mode "
                      "ARG=$(POD_NAME); sleep 3600",
                      container={"env": env, "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}]})
    cluster.create(pod)
    out = wait_log(cluster, "env-reader", "PW=")
    ip = cluster.wait_pod("env-reader", lambda p: p["status"].get("podIP"), "pod IP")["status"]["podIP"]
    assert out.strip() == (f"PW=s3cret NS={cluster.namespace} IP={ip} APP=env-reader "
                           f"WHO=env-reader@{cluster.node} MODE=fast ARG=env-reader"), out


def test_missing_configmap_gives_create_container_config_error_then_starts(cluster):
    """A missing ConfigMap: CreateContainerConfigError with upstream's message; created later, the pod runs."""
    pod = busybox_pod(cluster, "late", "echo value=$V; sleep 3600",
                      container={"env": [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "late-cfg",
                                                                                          "key": "v"}}}]})
    cluster.create(pod)
    got = cluster.wait_pod("late", lambda p: waiting_reason(p) == "CreateContainerConfigError",
                           "CreateContainerConfigError")
    assert got["status"]["containerStatuses"][0]["state"]["waiting"]["message"] == 'configmap "late-cfg" not found'
    row = next(line.split() for line in cluster.kubectl("get", "pods").splitlines() if line.startswith("late "))
    assert row[1:3] == ["0/1", "CreateContainerConfigError"], row
    messages = [(e["reason"], e["message"]) for e in cluster.events(got)]
    assert ("Failed", 'Error: configmap "late-cfg" not found') in messages, messages
    create_object(cluster, "configmaps", "late-cfg", data={"other": "x"})   # the key is still missing
    missing_key = f"couldn't find key v in ConfigMap {cluster.namespace}/late-cfg"
    cluster.wait_pod("late", lambda p: (p["status"]["containerStatuses"][0]["state"].get("waiting") or {})
                     .get("message") == missing_key, "missing key message")
    cluster.client.patch(f"/api/v1/namespaces/{cluster.namespace}/configmaps/late-cfg", {"data": {"v": "42"}})
    cluster.wait_pod("late", lambda p: p["status"]["containerStatuses"][0]["state"].get("running"), "running")
    wait_log(cluster, "late", "value=42")


def test_missing_configmap_volume_holds_the_pod_in_container_creating(cluster):
    """A configMap volume whose ConfigMap is missing: FailedMount with upstream's message, the pod
    stays ContainerCreating; once the ConfigMap exists, the pod runs with its file."""
    pod = busybox_pod(cluster, "mount-late", "cat /cfg/k; echo; sleep 3600",
                      volumes=[{"name": "cfg", "configMap": {"name": "mount-cfg"}}],
                      container={"volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}]})
    cluster.create(pod)
    got = cluster.wait_pod("mount-late", lambda p: p.get("status", {}).get("containerStatuses"), "status")
    failed = wait_for(lambda: [e for e in cluster.events(got) if e["reason"] == "FailedMount"], 30, "FailedMount")
    assert failed[0]["message"] == 'MountVolume.SetUp failed for volume "cfg" : configmap "mount-cfg" not found'
    assert waiting_reason(cluster.pod("mount-late")) == "ContainerCreating"
    create_object(cluster, "configmaps", "mount-cfg", data={"k": "mounted"})
    wait_log(cluster, "mount-late", "mounted")


def test_final_terminated_state_is_watched_before_deleted(cluster):
    """A graceful delete: the terminated state (exit code, reason, message from the termination log,
    finishedAt) and a terminal phase are written before the pod goes away. (Docker: the shell is PID 1.)"""
    # `$$` in a command is an escaped `$` (upstream's $(VAR) expansion), so the shell sees `$$`
    pod = busybox_pod(cluster, "ender", "trap 'echo goodbye > /dev/termination-log; exit 3' TERM; echo up pid=$$$$; "
                      "while true; do sleep 0.2; done")
    cluster.create(pod)
    out = wait_log(cluster, "ender", "up")
    if cluster.runtime == "docker":  # the container's process is PID 1, with no init wrapper, as upstream
        assert "up pid=1\n" in out, out
    rv = cluster.pod("ender")["metadata"]["resourceVersion"]
    events: list[tuple[str, dict]] = []
    done = threading.Event()

    def watch():
        for ev in cluster.client.watch(f"/api/v1/namespaces/{cluster.namespace}/pods", {"resourceVersion": rv,
                                       "fieldSelector": "metadata.name=ender"}, read_timeout=60):
            events.append((ev["type"], ev["object"]))
            if ev["type"] == "DELETED":
                break
        done.set()

    threading.Thread(target=watch, daemon=True).start()
    cluster.client.delete(f"/api/v1/namespaces/{cluster.namespace}/pods/ender")
    wait_for(done.is_set, 60, "the pod's DELETED event")
    assert events[-1][0] == "DELETED"
    before = [obj for kind, obj in events[:-1] if kind == "MODIFIED"]
    final = before[-1]["status"]
    term = final["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"], term["message"]) == (3, "Error", "goodbye\n"), term
    assert term["finishedAt"] and final["phase"] == "Failed"


def test_termination_message_falls_back_to_the_log(cluster):
    """terminationMessagePolicy FallbackToLogsOnError: a failed container with an empty termination
    log gets its last output as the message; a custom terminationMessagePath is read as is."""
    cluster.create(busybox_pod(cluster, "fallback", "echo first; echo boom; exit 2", restartPolicy="Never",
                               container={"terminationMessagePolicy": "FallbackToLogsOnError"}))
    cluster.create(busybox_pod(cluster, "custom-path", "echo -n done > /tmp/msg", restartPolicy="Never",
                               container={"terminationMessagePath": "/tmp/msg"}))
    for name, code, reason, message in (("fallback", 2, "Error", "first\nboom\n"),
                                        ("custom-path", 0, "Completed", "done")):
        got = cluster.wait_pod(name, lambda p: p["status"].get("phase") in ("Succeeded", "Failed"), "finished")
        term = got["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (term["exitCode"], term["reason"], term.get("message")) == (code, reason, message), term


def test_nginx_command_and_args(cluster):
    """The nginx image runs the spec's command (here a shell that prints, then execs nginx)."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "custom-nginx"},
           "spec": {"nodeName": cluster.node, "terminationGracePeriodSeconds": 5, "containers": [{
               "name": "nginx", "image": "nginx", "command": ["sh", "-c"],
               "args": ["echo custom start >&2; exec nginx -g 'daemon off;'"]}]}}
    cluster.create(pod)
    got = cluster.wait_pod("custom-nginx", lambda p: p["status"].get("phase") == "Running" and
                           p["status"]["containerStatuses"][0]["ready"], "running")
    wait_log(cluster, "custom-nginx", "custom start")
    ip = got["status"]["podIP"]
    page = wait_for(lambda: requests.get(f"http://{ip}/", timeout=5), 15, "nginx answers")
    assert "Welcome to nginx!" in page.text


def test_memory_limit(cluster):
    """Docker: a container over its memory limit is OOMKilled. Process runtime: the limit is
    accepted and a Warning event says it is not enforced."""
    limits = {"resources": {"limits": {"memory": "32Mi", "cpu": "500m"}, "requests": {"memory": "16Mi"}}}
    if cluster.runtime == "docker":
        cluster.create(busybox_pod(cluster, "hog", "echo start; tail /dev/zero", restartPolicy="Never",
                                   container=limits))
        got = cluster.wait_pod("hog", lambda p: "terminated" in p["status"]["containerStatuses"][0]["state"],
                               "terminated")
        term = got["status"]["containerStatuses"][0]["state"]["terminated"]
        if term["reason"] == "Error" and term["exitCode"] == 137:
            # the engine may learn of the OOM kill just after the exit (see OOM_SETTLE_SECONDS): the
            # kubelet then says so within its next relists
            got = cluster.wait_pod("hog", lambda p: p["status"]["containerStatuses"][0]["state"]["terminated"]
                                   ["reason"] != "Error", "the exit 137 explained", timeout=10)
            term = got["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (term["reason"], term["exitCode"]) == ("OOMKilled", 137), term
        assert got["status"]["phase"] == "Failed"
        info = cluster.docker().inspect_container(term["containerID"].split("://")[1])["HostConfig"]
        assert (info["Memory"], info["NanoCpus"], info.get("Init")) == (32 * 2**20, 500_000_000, None)
        described = cluster.kubectl("describe", "pod", "hog")
        assert "OOMKilled" in described and "memory:  32Mi" in described, described
        return
    cluster.create(busybox_pod(cluster, "hog", "sleep 3600", container=limits))
    got = cluster.wait_pod("hog", lambda p: p["status"].get("phase") == "Running", "running")
    assert got["spec"]["containers"][0]["resources"]["limits"]["memory"] == "32Mi"
    warning = wait_for(lambda: [e for e in cluster.events(got) if e["reason"] == "LimitsNotEnforced"], 15,
                       "LimitsNotEnforced event")
    assert warning[0]["type"] == "Warning" and "not enforced" in warning[0]["message"]
