"""The protobuf codec for Services, IPAddresses, Bindings and the self reviews.

Objects are the ones the server really writes or answers: Services defaulted
by the service strategy with the addresses the allocator gives them, the
IPAddress that records one, each review as the review handler answers it, and
the bodies kubectl 1.37 sent (copied from its -v=8 log) for `create service`,
`auth can-i`, `auth can-i --list` and `auth whoami`.
"""
from __future__ import annotations

import copy

import pytest

from labserver.apiserver import protobuf
from labserver.apiserver.ipallocator import ip_address_object
from labserver.apiserver.protobuf.k8s import authentication_pb2, runtime_pb2, service_pb2
from labserver.apiserver.resources import lookup
from labserver.apiserver.strategies import strategy_for
from labserver.apiserver.strategies.service import kubernetes_service

from test_protobuf import body, round_trip

# What kubectl 1.37 sent (its -v=8 "Request Body"), byte for byte.
KUBECTL_BODIES = {
    "create service clusterip web2 --tcp=80:8080": (
        "6b3873000a0d0a027631120753657276696365126c0a210a047765623212001a0022002a003200380042005a0b0a03617070"
        "12047765623212430a1b0a0738302d38303830120354435018502207080010903f1a002800120b0a036170701204776562"
        "321a002209436c757374657249503a00420052005a00600068001a020a001a002200"),
    "create service externalname ext --external-name=example.com": (
        "6b3873000a0d0a027631120753657276696365125a0a1f0a0365787412001a0022002a00320038004200"
        "5a0a0a0361707012036578741233120a0a036170701203657874""1a00220c45787465726e616c4e616d653a0042005"
        "20b6578616d706c652e636f6d5a00600068001a020a001a002200"),
    "auth can-i create pods": (
        "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a6563744163636573"
        "73526576696577123f0a100a0012001a0022002a0032003800420012210a1f0a0764656661756c7412066372656174651a"
        "0022002a04706f647332003a001a08080012001a0020001a002200"),
    "auth can-i --list": (
        "6b3873000a310a17617574686f72697a6174696f6e2e6b38732e696f2f7631121653656c665375626a65637452756c6573"
        "52657669657712230a100a0012001a0022002a0032003800420012090a0764656661756c741a04180022001a002200"),
    "auth whoami": (
        "6b3873000a2d0a1861757468656e7469636174696f6e2e6b38732e696f2f7631121153656c665375626a65637452657669"
        "6577121a0a100a0012001a0022002a0032003800420012060a040a0012001a002200"),
}

# The JSON the real API server reads from each (Go's JSON of the decoded struct).
EXPECTED = {
    "create service clusterip web2 --tcp=80:8080": {
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "web2", "labels": {"app": "web2"}},
        "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                 "selector": {"app": "web2"}, "type": "ClusterIP"},
        "status": {"loadBalancer": {}}},
    "create service externalname ext --external-name=example.com": {
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "ext", "labels": {"app": "ext"}},
        "spec": {"selector": {"app": "ext"}, "type": "ExternalName", "externalName": "example.com"},
        "status": {"loadBalancer": {}}},
    "auth can-i create pods": {
        "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}},
        "status": {"allowed": False}},
    "auth can-i --list": {
        "kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {}, "spec": {"namespace": "default"},
        "status": {"resourceRules": [], "nonResourceRules": [], "incomplete": False}},
    "auth whoami": {
        "kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {}, "status": {"userInfo": {}}},
}


@pytest.mark.parametrize("command", KUBECTL_BODIES)
def test_what_kubectl_sends_decodes_as_upstream_reads_it(command):
    assert protobuf.decode(bytes.fromhex(KUBECTL_BODIES[command])) == EXPECTED[command]


def stored_service(spec: dict, cluster_ip: str | None = "10.0.0.17", name: str = "web") -> dict:
    """A Service as the server stores it: defaulted, its address allocated, server metadata set."""
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
           "spec": copy.deepcopy(spec)}
    if cluster_ip:
        svc["spec"]["clusterIP"] = cluster_ip
    strategy_for(lookup("", "v1", "services")).before_create(svc)
    svc["metadata"]["resourceVersion"] = "42"
    return svc


SERVICES = {
    "clusterip, as kubectl create service makes it": lambda: stored_service(
        {"ports": [{"name": "80-8080", "port": 80, "targetPort": 8080}], "selector": {"app": "web"}}),
    "the kubernetes service": lambda: stored_service(kubernetes_service("10.0.0.0/16", 8080)["spec"], None,
                                                     "kubernetes"),
    "headless, named target port": lambda: stored_service(
        {"clusterIP": "None", "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "UDP",
                                         "appProtocol": "kubernetes.io/h2c"}],
         "selector": {"app": "db"}, "publishNotReadyAddresses": True}, None),
    "externalname": lambda: stored_service({"type": "ExternalName", "externalName": "example.com"}, None),
    "client-ip affinity and traffic fields": lambda: stored_service(
        {"ports": [{"port": 443}], "sessionAffinity": "ClientIP", "externalIPs": ["192.0.2.7"],
         "trafficDistribution": "PreferClose", "internalTrafficPolicy": "Local"}),
}


@pytest.mark.parametrize("name", SERVICES)
def test_stored_services_round_trip_identically(name):
    svc = SERVICES[name]()
    assert round_trip(svc) == svc


def test_every_service_field_has_upstreams_number():
    """NodePort and LoadBalancer fields and the status arrive intact, so validation can refuse them itself."""
    svc = stored_service({"ports": [{"port": 80, "nodePort": 30080}]})
    svc["spec"].update(type="LoadBalancer", loadBalancerIP="192.0.2.1", loadBalancerSourceRanges=["0.0.0.0/0"],
                       externalTrafficPolicy="Local", healthCheckNodePort=30999, allocateLoadBalancerNodePorts=False,
                       loadBalancerClass="example.com/lb", ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack")
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.1", "ipMode": "VIP",
                                                   "ports": [{"port": 80, "protocol": "TCP", "error": "Oops"}]}]},
                     "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1,
                                     "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "R", "message": ""}]}
    assert round_trip(svc) == svc
    message = service_pb2.Service.FromString(runtime_pb2.Unknown.FromString(protobuf.encode(svc)[4:]).raw)
    assert message.spec.ports[0].nodePort == 30080 and message.spec.healthCheckNodePort == 30999
    assert message.spec.HasField("allocateLoadBalancerNodePorts") and message.status.conditions[0].reason == "R"


def test_go_json_rules_for_services():
    """targetPort is always written (0 when unset, which defaulting turns into the port); pointers keep zeros."""
    svc = service_pb2.Service()
    svc.metadata.name = "s"
    svc.spec.ports.add(port=80, protocol="", name="")
    svc.spec.allocateLoadBalancerNodePorts = False
    svc.spec.sessionAffinityConfig.clientIP.timeoutSeconds = 0
    svc.spec.publishNotReadyAddresses = False
    obj = protobuf.decode(body("Service", svc))
    assert obj["spec"] == {"ports": [{"port": 80, "targetPort": 0}], "allocateLoadBalancerNodePorts": False,
                           "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}}
    assert obj["status"] == {"loadBalancer": {}}


def test_ip_address_round_trips():
    ip = ip_address_object("10.0.0.17", stored_service({"ports": [{"port": 80}]}))
    ip["metadata"]["resourceVersion"] = "43"
    assert round_trip(ip) == ip
    assert ip["spec"]["parentRef"] == {"resource": "services", "namespace": "default", "name": "web"}
    listed = {"apiVersion": "networking.k8s.io/v1", "kind": "IPAddressList", "metadata": {"resourceVersion": "43"},
              "items": [{k: v for k, v in ip.items() if k not in ("kind", "apiVersion")}]}
    assert round_trip(listed) == listed


def test_binding_round_trips():
    binding = {"apiVersion": "v1", "kind": "Binding",
               "metadata": {"name": "web", "namespace": "default", "uid": "2b0f3f4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                            "resourceVersion": "7", "annotations": {"why": "test"}},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-2"}}
    assert round_trip(binding) == binding


@pytest.fixture
def answers(client):
    """POST a review (JSON) to the in-process server; its answer."""
    def post(path: str, review: dict) -> dict:
        response = client.post(path, json=review)
        assert response.status_code == 201, response.json
        return response.json
    return post


def test_reviews_as_the_server_answers_them_round_trip(answers):
    group = "/apis/authorization.k8s.io/v1"
    reviews = [
        answers(f"{group}/selfsubjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "group": "apps",
                                            "version": "v1", "resource": "deployments", "subresource": "scale",
                                            "name": "web",
                                            "fieldSelector": {"requirements": [
                                                {"key": "spec.nodeName", "operator": "In", "values": ["n1"]}]},
                                            "labelSelector": {"rawSelector": "app=web"}}}}),
        answers(f"{group}/selfsubjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"nonResourceAttributes": {"path": "/metrics", "verb": "get"}}}),
        answers(f"{group}/selfsubjectrulesreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": "default"}}),
        answers("/apis/authentication.k8s.io/v1/selfsubjectreviews", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
    ]
    assert reviews[0]["status"]["allowed"] is True and reviews[2]["status"]["resourceRules"]
    for review in reviews:
        assert round_trip(review) == review


def test_user_extra_is_a_list_of_strings():
    review = authentication_pb2.SelfSubjectReview()
    review.status.userInfo.username = "jane"
    review.status.userInfo.extra["scopes"].items.extend(["a", "b"])
    obj = protobuf.decode(body("SelfSubjectReview", review, "authentication.k8s.io/v1"))
    assert obj["status"]["userInfo"] == {"username": "jane", "extra": {"scopes": ["a", "b"]}}
    assert round_trip(obj) == obj
    obj["status"]["userInfo"]["extra"]["scopes"] = "a"
    with pytest.raises(protobuf.ProtobufError, match="list of strings"):
        protobuf.encode(obj)


def test_service_fields_we_do_not_define_are_refused():
    """A ServiceSpec field with a number no .proto here has (99) is an error, never dropped."""
    svc = service_pb2.Service()
    svc.spec.MergeFromString(service_pb2.ServiceSpec(type="ClusterIP").SerializeToString() + b"\x9a\x06\x01x")
    with pytest.raises(protobuf.ProtobufError, match=r"spec\.#99"):
        protobuf.decode(body("Service", svc))
    with pytest.raises(protobuf.ProtobufError, match="spec.notAField"):
        protobuf.encode(dict(stored_service({"ports": [{"port": 80}]}), spec={"notAField": 1}))
