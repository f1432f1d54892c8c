"""kubectl 1.37's typed clients against the real API server process: protobuf bodies, new kinds, drain.

`kubectl create namespace|configmap|secret|serviceaccount` and `kubectl drain`
send `application/vnd.kubernetes.protobuf` bodies and do not fall back to JSON.
Each test checks what ends up in etcd, not only kubectl's exit code.
"""
from __future__ import annotations

import base64
import json
import re

import pytest

from labserver.apiserver import protobuf
from labserver.apiserver.protobuf.k8s import core_pb2, meta_pb2, policy_pb2, runtime_pb2
from labserver.lab.notebook.manifests import post_pod
from labserver.lab.supervise.procs import wait_for

from kubectl_testing import kubectl, table  # noqa: F401  (fixture)

pytestmark = pytest.mark.shared_apiserver   # one API server for the module, each test in its own namespace

PROTOBUF = "application/vnd.kubernetes.protobuf"


def stored(etcd_client, key: str) -> dict | None:
    value, _ = etcd_client.get(key)
    return None if value is None else json.loads(value)


def envelope(kind: str, message, api_version: str = "v1") -> bytes:
    return b"k8s\x00" + runtime_pb2.Unknown(typeMeta=runtime_pb2.TypeMeta(apiVersion=api_version, kind=kind),
                                            raw=message.SerializeToString()).SerializeToString()


def test_kubectl_creates_builtin_kinds_over_protobuf(kubectl, etcd_client, etcd_prefix, namespace):
    dev = f"{namespace}-dev"   # a namespace: a cluster-wide name, this test's own
    out = kubectl("create", "namespace", dev, "-v=8")
    assert f"Content-Type: {PROTOBUF}" in out.stderr and f"namespace/{dev} created" in out.stdout
    kubectl("create", "configmap", "c", "--from-literal=a=b", "-n", namespace)
    kubectl("create", "secret", "generic", "s", "--from-literal=p=q", "-n", namespace)
    kubectl("create", "serviceaccount", "sa1", "-n", namespace)

    ns = stored(etcd_client, f"{etcd_prefix}/namespaces/{dev}")
    assert ns["status"] == {"phase": "Active"} and ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": dev}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ns["metadata"]["creationTimestamp"])
    cm = stored(etcd_client, f"{etcd_prefix}/configmaps/{namespace}/c")
    assert (cm["kind"], cm["data"], cm["metadata"]["name"]) == ("ConfigMap", {"a": "b"}, "c")
    secret = stored(etcd_client, f"{etcd_prefix}/secrets/{namespace}/s")
    assert secret["data"] == {"p": base64.b64encode(b"q").decode()} and secret["type"] == "Opaque"
    assert "stringData" not in secret
    sa = stored(etcd_client, f"{etcd_prefix}/serviceaccounts/{namespace}/sa1")
    assert (sa["kind"], sa["metadata"]["namespace"]) == ("ServiceAccount", namespace)
    # every key kubectl left empty ("" and 0 are on the wire) is absent, as upstream stores it
    assert set(cm["metadata"]) == {"name", "namespace", "uid", "creationTimestamp"}

    again = kubectl("create", "configmap", "c", "--from-literal=a=b", "-n", namespace, ok=False)
    assert again.returncode == 1 and 'configmaps "c" already exists' in again.stderr


def test_kubectl_get_shows_the_upstream_columns(kubectl, namespace):
    kubectl("create", "configmap", "c", "--from-literal=a=b", "--from-literal=x=y", "-n", namespace)
    kubectl("create", "secret", "generic", "s", "--from-literal=p=q", "-n", namespace)
    kubectl("create", "secret", "tls", "t", "--cert=/dev/null", "--key=/dev/null", "-n", namespace,
            ok=False)  # kubectl refuses
    kubectl("create", "serviceaccount", "sa1", "-n", namespace)
    rows = table(kubectl("get", "cm,secret,sa", "-n", namespace).stdout)
    assert rows[0] == ["NAME", "DATA", "AGE"] and rows[1][:2] == ["configmap/c", "2"]
    secrets = rows.index(["NAME", "TYPE", "DATA", "AGE"])
    assert rows[secrets + 1][:3] == ["secret/s", "Opaque", "1"]
    accounts = rows.index(["NAME", "SECRETS", "AGE"])
    assert rows[accounts + 1][:2] == ["serviceaccount/sa1", "0"]
    assert table(kubectl("get", "sa", "sa1", "-n", namespace).stdout)[1][:2] == ["sa1", "0"]


@pytest.mark.parametrize("data, fragment", [
    (b"\x0a\x03dev", "does not appear to be a protobuf message"),
    (b"k8s\x00\x0a\xff", "unable to decode the protobuf envelope"),
    (envelope("ConfigMap", core_pb2.ConfigMap(metadata=meta_pb2.ObjectMeta(name="dev"))),
     "does not match the expected kind (Namespace)"),
    (b"k8s\x00" + runtime_pb2.Unknown(typeMeta=runtime_pb2.TypeMeta(apiVersion="v1", kind="Namespace"),
                                      raw=b"\x0a\x05ab").SerializeToString(), "unable to decode Namespace"),
    (b"k8s\x00" + runtime_pb2.Unknown(
        typeMeta=runtime_pb2.TypeMeta(apiVersion="v1", kind="Namespace"),
        raw=core_pb2.Namespace(metadata=meta_pb2.ObjectMeta(name="dev")).SerializeToString() + b"\xf8\x01\x01",
    ).SerializeToString(), "fields this server does not know"),
])
def test_bad_protobuf_bodies_are_400_and_store_nothing(api, revision, data, fragment):
    before = revision()
    response = api.post("/api/v1/namespaces", data=data, headers={"Content-Type": PROTOBUF})
    assert response.status_code == 400, response.text
    status = response.json()
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "BadRequest", 400)
    assert fragment in status["message"]
    assert revision() == before


def test_protobuf_answers_only_when_nothing_else_is_accepted(api, namespace):
    as_json = api.get("/api/v1/namespaces/default", headers={"Accept": f"{PROTOBUF},application/json"})
    assert as_json.headers["Content-Type"] == "application/json"
    as_proto = api.get("/api/v1/namespaces/default", headers={"Accept": PROTOBUF})
    assert as_proto.headers["Content-Type"] == PROTOBUF
    assert protobuf.decode(as_proto.content) == as_json.json()
    missing = api.get("/api/v1/namespaces/nope", headers={"Accept": PROTOBUF})
    assert missing.status_code == 404 and missing.headers["Content-Type"] == PROTOBUF
    status = protobuf.decode(missing.content)
    assert (status["kind"], status["reason"], status["details"]) == ("Status", "NotFound",
                                                                     {"name": "nope", "kind": "namespaces"})
    pods = api.get(f"/api/v1/namespaces/{namespace}/pods", headers={"Accept": PROTOBUF})
    assert protobuf.decode(pods.content)["items"] == []
    # An unknown field is pruned before it is stored, in every validation mode (as upstream), so
    # whatever is stored has a protobuf form.
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odd"}, "data": {"a": "b"}, "extra": 1}
    assert api.post(f"/api/v1/namespaces/{namespace}/configmaps?fieldValidation=Ignore", json=cm).status_code == 201
    odd = api.get(f"/api/v1/namespaces/{namespace}/configmaps/odd", headers={"Accept": PROTOBUF})
    assert odd.headers["Content-Type"] == PROTOBUF
    stored = protobuf.decode(odd.content)
    assert stored["data"] == {"a": "b"} and "extra" not in stored


def eviction(name: str, namespace: str, **options) -> bytes:
    body = policy_pb2.Eviction(metadata=meta_pb2.ObjectMeta(name=name, namespace=namespace))
    if options:
        body.deleteOptions.CopyFrom(meta_pb2.DeleteOptions(**options))
    return envelope("Eviction", body, "policy/v1")


def test_eviction_subresource(api, etcd_client, revision, etcd_prefix, namespace):
    """Evicting an unbound pod deletes it at once; dryRun and bad bodies change nothing."""
    pods = f"/api/v1/namespaces/{namespace}/pods"
    assert api.post(pods, json=post_pod("web")).status_code == 201
    key = f"{etcd_prefix}/pods/{namespace}/web"
    headers = {"Content-Type": PROTOBUF}
    before = revision()
    for url, body, code in [(f"{pods}/web/eviction?dryRun=All", eviction("web", namespace), 201),
                            (f"{pods}/web/eviction", eviction("web", namespace, dryRun=["All"]), 201),
                            (f"{pods}/web/eviction", eviction("other", namespace), 400),
                            (f"{pods}/ghost/eviction", eviction("ghost", namespace), 404)]:
        response = api.post(url, data=body, headers=headers)
        assert response.status_code == code, response.text
    assert revision() == before and stored(etcd_client, key) is not None
    discovery = api.get("/api/v1").json()["resources"]
    assert {"name": "pods/eviction", "singularName": "", "namespaced": True, "group": "policy", "version": "v1",
            "kind": "Eviction", "verbs": ["create"]} in discovery

    response = api.post(f"{pods}/web/eviction", data=eviction("web", namespace), headers=headers)
    assert response.status_code == 201
    assert response.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                               "code": 201}
    assert stored(etcd_client, key) is None
    as_json = api.post(f"{pods}/web/eviction", json={"apiVersion": "policy/v1", "kind": "Eviction",
                                                     "metadata": {"name": "web"}})
    assert as_json.status_code == 404


def test_kubectl_drain_evicts_the_pods_of_a_node(kubectl, kubelet_factory, api, etcd_client, etcd_prefix, namespace):
    """A real kubelet runs the post's pod; drain cordons the node and evicts the pod; the kubelet finishes."""
    from labserver.lab.machine.sysdeps import install_hint
    if install_hint("process"):
        pytest.skip(install_hint("process"))
    node = f"{namespace}-node"   # the module's server is shared: a node of this test's own
    kubelet_factory(hostname=node, runtime="process")
    wait_for(lambda: stored(etcd_client, f"{etcd_prefix}/leases/kube-node-lease/{node}"), 30, "node lease")
    assert api.post(f"/api/v1/namespaces/{namespace}/pods", json=post_pod(node=node)).status_code == 201

    def running():
        pod = api.get(f"/api/v1/namespaces/{namespace}/pods/nginx").json()
        ready = [s["ready"] for s in pod["status"].get("containerStatuses", [])]
        return pod if pod["status"].get("phase") == "Running" and ready == [True, True] else None
    pod = wait_for(running, 60, "the post's pod Running 2/2")

    # Real objects, as the kubelet and the server wrote them, survive JSON -> protobuf -> JSON.
    events = api.get(f"/api/v1/namespaces/{namespace}/events").json()["items"]
    assert events, "the kubelet records events"
    for obj in [pod, api.get(f"/api/v1/nodes/{node}").json(), api.get("/api/v1/namespaces/default").json(),
                api.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}").json(),
                *events]:
        obj.setdefault("kind", "Event")
        obj.setdefault("apiVersion", "v1")
        assert protobuf.decode(protobuf.encode(obj)) == obj

    out = kubectl("drain", node, "--ignore-daemonsets", "--force", "--delete-emptydir-data",
                  "--timeout=90s", "-v=6", timeout=120)
    assert "pod/nginx evicted" in out.stdout and f"node/{node} drained" in out.stdout
    assert re.search(rf'verb="POST" url="[^"]*/namespaces/{namespace}/pods/nginx/eviction" status="201 Created"',
                     out.stderr, re.I), out.stderr
    stored_node = stored(etcd_client, f"{etcd_prefix}/minions/{node}")
    assert stored_node["spec"]["unschedulable"] is True
    assert stored(etcd_client, f"{etcd_prefix}/pods/{namespace}/nginx") is None
    rows = [row for row in table(kubectl("get", "nodes").stdout)[1:] if row[0] == node]
    assert len(rows) == 1 and rows[0][:2] == [node, "Ready,SchedulingDisabled"]
    kubectl("uncordon", node)
    assert stored(etcd_client, f"{etcd_prefix}/minions/{node}")["spec"].get("unschedulable") in (None, False)
