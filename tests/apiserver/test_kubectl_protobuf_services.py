"""kubectl 1.37 against the real API server process: Services, self reviews and Bindings over protobuf.

`kubectl create service`, `auth can-i` and `auth whoami` send protobuf bodies
(as kube-scheduler sends its Bindings) and never fall back to JSON. What kubectl
cannot do here fails as it fails against a cluster that does not serve the
resource: a 404 NotFound and one clear line. Each test checks what is stored.
"""
from __future__ import annotations

import json

from labserver.apiserver import protobuf
from labserver.apiserver.protobuf.k8s import binding_pb2, meta_pb2

from api_testing import pod
from kubectl_testing import kubectl, table  # noqa: F401  (fixture)
from test_kubectl_protobuf import envelope, stored

PROTOBUF = "application/vnd.kubernetes.protobuf"


def test_kubectl_creates_services_over_protobuf(kubectl, api, etcd_client, etcd_prefix):
    out = kubectl("create", "service", "clusterip", "web", "--tcp=80:8080", "-v=8")
    assert f"Content-Type: {PROTOBUF}" in out.stderr and out.stdout.strip() == "service/web created"
    assert kubectl("create", "service", "externalname", "ext", "--external-name=example.com").stdout.strip() == \
        "service/ext created"
    web = stored(etcd_client, f"{etcd_prefix}/services/specs/default/web")
    ip = web["spec"]["clusterIP"]
    assert web["spec"]["ports"] == [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}]
    assert web["spec"]["clusterIPs"] == [ip] and web["spec"]["selector"] == {"app": "web"}
    assert set(web["metadata"]) == {"name", "namespace", "uid", "creationTimestamp", "labels"}
    assert stored(etcd_client, f"{etcd_prefix}/ipaddresses/{ip}")["spec"]["parentRef"] == {
        "resource": "services", "namespace": "default", "name": "web"}
    ext = stored(etcd_client, f"{etcd_prefix}/services/specs/default/ext")
    assert ext["spec"] == {"selector": {"app": "ext"}, "type": "ExternalName", "externalName": "example.com",
                           "sessionAffinity": "None"}
    rows = table(kubectl("get", "svc").stdout)
    assert ["ext", "ExternalName", "<none>", "example.com", "<none>"] == rows[1][:5]
    # What the server stored reads back the same in protobuf (kubectl's Accept lists JSON too).
    for path in ("/api/v1/namespaces/default/services/web", "/api/v1/services",
                 f"/apis/networking.k8s.io/v1/ipaddresses/{ip}", "/apis/networking.k8s.io/v1/ipaddresses"):
        answer = api.get(path, headers={"Accept": PROTOBUF})
        assert answer.headers["Content-Type"] == PROTOBUF
        as_json = api.get(path).json()
        for item in as_json.get("items", []):   # protobuf items are typed by their list
            del item["kind"], item["apiVersion"]
        assert protobuf.decode(answer.content) == as_json


def test_kubectl_auth_asks_over_protobuf_and_stores_nothing(kubectl, revision):
    before = revision()
    asked = kubectl("auth", "can-i", "delete", "nodes", "-v=8")
    assert asked.stdout.strip() == "yes" and f"Content-Type: {PROTOBUF}" in asked.stderr
    assert f"Content-Type: {PROTOBUF}" in kubectl("auth", "whoami", "-v=8").stderr
    assert table(kubectl("auth", "can-i", "--list", "--namespace=kube-system").stdout)[1] == ["*.*", "[]", "[]",
                                                                                              "[*]"]
    assert revision() == before


def test_unserved_kubectl_commands_fail_with_404_and_one_clear_line(kubectl, revision):
    """serviceaccounts/token, resourcequotas, priorityclasses and roles are not served, as upstream answers."""
    before = revision()
    for args, message in [
            (("create", "token", "default"),
             "error: failed to create token: the server could not find the requested resource"),
            (("create", "quota", "q", "--hard=pods=2"),
             "error: failed to create quota: the server could not find the requested resource"),
            (("create", "priorityclass", "high", "--value=1000"),
             "error: failed to create priorityclass: the server could not find the requested resource"),
            (("create", "role", "r", "--verb=get", "--resource=pods"),
             "Error from server (NotFound): the server could not find the requested resource")]:
        result = kubectl(*args, "-v=6", ok=False)
        assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == message, result.stderr
        assert 'status="404 Not Found"' in result.stderr.replace("NOT FOUND", "Not Found")
    assert revision() == before


def test_kubectl_label_annotate_and_patch_every_served_kind(kubectl, api):
    assert api.post("/api/v1/namespaces/default/pods", json=pod("web")).status_code == 201
    kubectl("create", "configmap", "c", "--from-literal=a=b")
    kubectl("create", "secret", "generic", "s", "--from-literal=a=b")
    kubectl("create", "serviceaccount", "sa1")
    kubectl("create", "service", "clusterip", "svc", "--tcp=80")
    kubectl("create", "namespace", "dev")
    for body, path in [
            ({"metadata": {"name": "n1"}}, "/api/v1/nodes"),
            ({"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
              "reason": "Test", "message": "hi", "type": "Normal"}, "/api/v1/namespaces/default/events"),
            ({"metadata": {"name": "l1"}, "spec": {"holderIdentity": "n1"}},
             "/apis/coordination.k8s.io/v1/namespaces/default/leases")]:
        assert api.post(path, json=body).status_code == 201, path
    for ref in ("pod/web", "configmap/c", "secret/s", "serviceaccount/sa1", "service/svc", "namespace/dev",
                "node/n1", "event/e1", "lease/l1"):
        kubectl("label", ref, "tier=a")
        kubectl("annotate", ref, "note=x")
        kubectl("patch", ref, "-p", '{"metadata":{"labels":{"smp":"1"}}}')
        kubectl("patch", ref, "--type=merge", "-p", '{"metadata":{"labels":{"merge":"1"}}}')
        kubectl("patch", ref, "--type=json", "-p", '[{"op":"add","path":"/metadata/labels/json","value":"1"}]')
        meta = json.loads(kubectl("get", ref, "-o", "json").stdout)["metadata"]
        assert {k: meta["labels"][k] for k in ("tier", "smp", "merge", "json")} == {
            "tier": "a", "smp": "1", "merge": "1", "json": "1"}, ref
        assert meta["annotations"] == {"note": "x"}, ref
    # A Service's ports merge on their port: a strategic patch adds one and changes another.
    kubectl("patch", "service/svc", "-p", '{"spec":{"ports":[{"port":81,"name":"b"},{"port":80,"targetPort":90}]}}')
    ports = json.loads(kubectl("get", "service/svc", "-o", "json").stdout)["spec"]["ports"]
    assert [(p["port"], p["targetPort"]) for p in ports] == [(80, 90), (81, 81)]
    # IPAddresses are written only with their Service.
    ip = json.loads(kubectl("get", "service/svc", "-o", "json").stdout)["spec"]["clusterIP"]
    refused = kubectl("label", f"ipaddress/{ip}", "tier=a", ok=False)
    assert refused.returncode == 1 and refused.stderr.strip() == (
        "Error from server (MethodNotAllowed): the server does not allow this method on the requested resource")


def test_a_protobuf_binding_binds_the_pod(api, etcd_client, etcd_prefix):
    """What kube-scheduler POSTs to pods/<name>/binding (protobuf), applied once."""
    assert api.post("/api/v1/namespaces/default/pods", json=pod("web")).status_code == 201
    binding = binding_pb2.Binding(metadata=meta_pb2.ObjectMeta(name="web", namespace="default"))
    binding.target.kind, binding.target.name = "Node", "node-1"
    data = envelope("Binding", binding)
    url = "/api/v1/namespaces/default/pods/web/binding"
    response = api.post(url, data=data, headers={"Content-Type": PROTOBUF})
    assert response.status_code == 201, response.text
    assert stored(etcd_client, f"{etcd_prefix}/pods/default/web")["spec"]["nodeName"] == "node-1"
    again = api.post(url, data=data, headers={"Content-Type": PROTOBUF})
    assert again.status_code == 409 and 'already assigned to node "node-1"' in again.json()["message"]
