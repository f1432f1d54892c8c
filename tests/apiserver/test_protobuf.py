"""The protobuf codec on its own: real objects round-trip, Go's JSON rules, and what it refuses.

Objects here are built by the code that writes them in the lab (the pod from
notebooks/nginx.yaml defaulted by the pod strategy, a node and lease as our
kubelet writes them); the integration tests in test_kubectl_protobuf.py
round-trip the objects a running kubelet really stored.
"""
from __future__ import annotations

import base64
import copy

import pytest

from labserver.apiserver import protobuf
from labserver.apiserver.protobuf.k8s import core_pb2, meta_pb2, runtime_pb2
from labserver.apiserver.resources import lookup
from labserver.apiserver.strategies import strategy_for
from labserver.kubelet import timefmt
from labserver.kubelet.node_status import NodeConfig, desired_status, node_labels, stamp_conditions
from labserver.lab.notebook.manifests import post_pod

# What kubectl 1.37 sent for `kubectl create namespace dev` (from its -v=8 log).
KUBECTL_CREATE_NAMESPACE = bytes.fromhex(
    "6b3873000a0f0a02763112094e616d657370616365121b0a130a036465761200"
    "1a0022002a00320038004200" "12001a020a00" "1a002200")


def round_trip(obj: dict) -> dict:
    return protobuf.decode(protobuf.encode(obj))


def stored(resource: str, obj: dict) -> dict:
    """`obj` as the server stores it on create: defaulted, validated, server metadata set."""
    obj = copy.deepcopy(obj)
    res = lookup("coordination.k8s.io" if resource == "leases" else "", "v1", resource)
    obj["metadata"].setdefault("namespace", "default") if res.namespaced else None
    strategy_for(res).before_create(obj)
    obj["metadata"]["resourceVersion"] = "42"
    return obj


def post_pod_running() -> dict:
    """The post's pod, defaulted, with a status like the one our kubelet writes when it runs."""
    pod = stored("pods", post_pod(node="lab-node"))
    t = pod["metadata"]["creationTimestamp"]
    pod["status"] = {
        "phase": "Running", "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}], "podIP": "127.1.0.2",
        "podIPs": [{"ip": "127.1.0.2"}], "startTime": t, "qosClass": "BestEffort",
        "conditions": [{"type": c, "status": "True", "lastProbeTime": None, "lastTransitionTime": t}
                       for c in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
        "containerStatuses": [
            {"name": c["name"], "image": c["image"], "imageID": f"docker-pullable://{c['image']}@sha256:ab12",
             "containerID": "docker://0123abcd", "ready": True, "started": True, "restartCount": 0,
             "state": {"running": {"startedAt": t}}, "lastState": {}}
            for c in pod["spec"]["containers"]]}
    return pod


def kubelet_node() -> dict:
    cfg = NodeConfig(name="lab-node")
    node = stored("nodes", {"apiVersion": "v1", "kind": "Node",
                            "metadata": {"name": "lab-node", "labels": node_labels(cfg)}})
    node["status"] = stamp_conditions(desired_status(cfg, "docker://24.0.5"), None)
    return node


REAL_OBJECTS = {
    "the post's pod, running": post_pod_running,
    "a node as the kubelet writes it": kubelet_node,
    "a lease as the kubelet writes it": lambda: stored("leases", {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "lab-node", "namespace": "kube-node-lease",
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "lab-node",
                                          "uid": "2b0f3f4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}]},
        "spec": {"holderIdentity": "lab-node", "leaseDurationSeconds": 40, "renewTime": timefmt.micro(),
                 "acquireTime": timefmt.micro()}}),
    "an event as the kubelet posts it": lambda: stored("events", {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "nginx.17c3a8e5b1d2f3a4"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "nginx", "apiVersion": "v1",
                           "uid": "2b0f3f4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "fieldPath": "spec.containers{nginx}"},
        "reason": "Started", "message": "Started container nginx", "source": {"component": "kubelet",
                                                                          "host": "lab-node"},
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:05Z", "count": 2,
        "type": "Normal", "eventTime": None, "reportingComponent": "kubelet", "reportingInstance": "lab-node"}),
    "a namespace": lambda: stored("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": "dev"}}),
    "a configmap with binaryData": lambda: stored("configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"app": "web"}},
        "data": {"a": "b", "empty": ""}, "binaryData": {"blob": base64.b64encode(bytes(range(256))).decode()},
        "immutable": False}),
    "a secret": lambda: stored("secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "stringData": {"password": "q"}, "data": {"raw": base64.b64encode(b"\x00\xff").decode()}}),
    "a service account": lambda: stored("serviceaccounts", {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa1"},
        "secrets": [{"name": "tok"}], "automountServiceAccountToken": False}),
}


@pytest.mark.parametrize("name", REAL_OBJECTS)
def test_real_objects_round_trip_identically(name):
    obj = REAL_OBJECTS[name]()
    assert round_trip(obj) == obj


def test_scheduling_and_volume_fields_round_trip():
    """Affinity, tolerations, spread constraints, security contexts and projected/CSI volumes keep every field."""
    pod = post_pod_running()
    term = {"labelSelector": {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["a", "b"]}]}, "topologyKey": "kubernetes.io/hostname",
        "namespaces": ["default"]}
    pod["spec"].update(
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                      {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}},
                  "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                      {"weight": 100, "podAffinityTerm": term}]},
                  "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}},
        tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                      "tolerationSeconds": 300}],
        topologySpreadConstraints=[{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                                    "labelSelector": {"matchLabels": {"app": "web"}}, "minDomains": 2}],
        securityContext={"runAsUser": 0, "runAsNonRoot": False, "fsGroup": 2000, "supplementalGroups": [1, 2],
                         "seccompProfile": {"type": "RuntimeDefault"}, "sysctls": [{"name": "a.b", "value": "1"}]},
        hostAliases=[{"ip": "127.0.0.1", "hostnames": ["x"]}], priority=0, dnsConfig={"options": [{"name": "ndots",
                                                                                                    "value": "2"}]})
    pod["spec"]["volumes"] += [
        {"name": "token", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                          "fieldPath": "metadata.namespace"}}]}}]}},
        {"name": "csi", "csi": {"driver": "d.example.com", "readOnly": True, "volumeAttributes": {"k": "v"}}},
        {"name": "host", "hostPath": {"path": "/tmp", "type": "Directory"}},
        {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o400, "optional": False}}]
    container = pod["spec"]["containers"][0]
    container.update(
        securityContext={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "privileged": False},
        livenessProbe={"httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP",
                                   "httpHeaders": [{"name": "X", "value": ""}]},
                       "initialDelaySeconds": 3, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1,
                       "failureThreshold": 3},
        lifecycle={"preStop": {"sleep": {"seconds": 5}}},
        env=[{"name": "A", "value": "1"}, {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                                      "fieldPath": "metadata.name"}}},
             {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}}],
        envFrom=[{"prefix": "CM_", "configMapRef": {"name": "cm"}}],
        resources={"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}})
    assert round_trip(pod) == pod


def test_the_round_trip_is_real_protobuf():
    """The bytes are a runtime.Unknown whose raw parses as the kind's own message."""
    pod = post_pod_running()
    data = protobuf.encode(pod)
    assert data[:4] == b"k8s\x00"
    envelope = runtime_pb2.Unknown.FromString(data[4:])
    assert (envelope.typeMeta.apiVersion, envelope.typeMeta.kind) == ("v1", "Pod")
    message = core_pb2.Pod.FromString(envelope.raw)
    assert message.spec.containers[0].ports[0].containerPort == 80
    assert message.spec.volumes[0].volumeSource.HasField("emptyDir")   # inline VolumeSource
    assert message.spec.terminationGracePeriodSeconds == 30
    assert message.status.containerStatuses[0].state.running.startedAt.seconds > 1_700_000_000


def test_kubectl_create_namespace_body():
    """kubectl writes every non-pointer field ("" and 0 too): JSON gets what Go's JSON encoder would write.

    Its zero creationTimestamp is left out (omitzero since Kubernetes 1.34), not null.
    """
    assert protobuf.decode(KUBECTL_CREATE_NAMESPACE) == {
        "kind": "Namespace", "apiVersion": "v1",
        "metadata": {"name": "dev"}, "spec": {}, "status": {}}


def body(kind: str, message, api_version: str = "v1") -> bytes:
    envelope = runtime_pb2.Unknown(typeMeta=runtime_pb2.TypeMeta(apiVersion=api_version, kind=kind),
                                   raw=message.SerializeToString())
    return b"k8s\x00" + envelope.SerializeToString()


def test_go_json_rules():
    """omitempty zeros dropped; pointer zeros kept; no-omitempty fields always; inline structs flattened."""
    pod = core_pb2.Pod()
    pod.metadata.name, pod.metadata.namespace, pod.metadata.generation = "p", "", 0
    spec = pod.spec
    spec.terminationGracePeriodSeconds = 0          # *int64 set to 0: kept
    spec.hostNetwork = False                         # bool, omitempty: dropped
    spec.enableServiceLinks = False                  # *bool false: kept
    c = spec.containers.add(name="c", image="busybox", workingDir="")
    c.ports.add(containerPort=80, hostPort=0)
    env = c.env.add(name="FROM_CM")
    env.valueFrom.configMapKeyRef.localObjectReference.name = "cm"
    env.valueFrom.configMapKeyRef.key = "k"
    c.livenessProbe.handler.httpGet.port.type, c.livenessProbe.handler.httpGet.port.strVal = 1, "http"
    c.livenessProbe.handler.httpGet.path = "/"
    c.resources.limits["memory"].string = "64Mi"
    status = pod.status.containerStatuses.add(name="c")    # ready, restartCount, image, imageID: always
    status.state.SetInParent()
    obj = protobuf.decode(body("Pod", pod))
    assert obj["metadata"] == {"name": "p"}
    assert obj["spec"]["terminationGracePeriodSeconds"] == 0
    assert obj["spec"]["enableServiceLinks"] is False
    assert "hostNetwork" not in obj["spec"]
    assert obj["spec"]["containers"][0] == {
        "name": "c", "image": "busybox", "ports": [{"containerPort": 80}],
        "env": [{"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}],
        "resources": {"limits": {"memory": "64Mi"}},
        "livenessProbe": {"httpGet": {"path": "/", "port": "http"}}}
    assert obj["status"]["containerStatuses"] == [{"name": "c", "state": {}, "lastState": {}, "ready": False,
                                                   "restartCount": 0, "image": "", "imageID": ""}]
    assert "phase" not in obj["status"]


def test_times_quantities_and_int_or_string():
    """Time keeps seconds (nanos dropped as upstream), MicroTime microseconds, Quantity 0 when unset."""
    event = core_pb2.Event()
    event.metadata.name = "e"
    event.firstTimestamp.seconds, event.firstTimestamp.nanos = 1_767_225_600, 999_999_999
    event.eventTime.seconds, event.eventTime.nanos = 1_767_225_600, 123_456_789
    obj = protobuf.decode(body("Event", event))
    assert obj["firstTimestamp"] == "2026-01-01T00:00:00Z"
    assert obj["eventTime"] == "2026-01-01T00:00:00.123456Z"
    assert obj["lastTimestamp"] is None                 # a zero metav1.Time is null
    assert obj["involvedObject"] == {} and obj["source"] == {}
    assert obj["reportingComponent"] == "" and obj["reportingInstance"] == ""
    pod = core_pb2.Pod()
    env = pod.spec.containers.add(name="c").env.add(name="MEM")
    env.valueFrom.resourceFieldRef.resource = "limits.memory"
    port = pod.spec.containers[0].readinessProbe.handler.tcpSocket.port
    port.type, port.intVal = 0, 8080
    obj = protobuf.decode(body("Pod", pod))
    assert obj["spec"]["containers"][0]["env"][0]["valueFrom"] == {
        "resourceFieldRef": {"resource": "limits.memory", "divisor": "0"}}
    assert obj["spec"]["containers"][0]["readinessProbe"] == {"tcpSocket": {"port": 8080}}


def test_lists_always_have_items():
    obj = round_trip({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": []})
    assert obj == {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": []}
    pods = round_trip({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"},
                       "items": [post_pod_running()]})
    assert pods["items"][0]["spec"]["containers"][0]["name"] == "nginx"


def test_status_and_delete_options():
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": 'pods "x" not found', "reason": "NotFound", "details": {"name": "x", "kind": "pods"},
              "code": 404}
    assert round_trip(status) == status
    options = meta_pb2.DeleteOptions(gracePeriodSeconds=0, propagationPolicy="Background", dryRun=["All"])
    options.preconditions.uid = "u1"
    assert protobuf.decode(body("DeleteOptions", options)) == {
        "kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "propagationPolicy": "Background",
        "dryRun": ["All"], "preconditions": {"uid": "u1"}}


@pytest.mark.parametrize("data, message", [
    (b'{"kind":"Namespace"}', "does not appear to be a protobuf message"),
    (b"k8s\x00\xff\xff\xff", "unable to decode the protobuf envelope"),
    (body("Frobnicator", core_pb2.Namespace()), 'no kind "Frobnicator" is registered for version "v1"'),
    (b"k8s\x00" + runtime_pb2.Unknown(typeMeta=runtime_pb2.TypeMeta(apiVersion="v1", kind="Namespace"),
                                      raw=b"\x0a\x05ab").SerializeToString(), "unable to decode Namespace"),
    (b"k8s\x00" + runtime_pb2.Unknown(raw=b"").SerializeToString(), "Object 'Kind' is missing"),
])
def test_bad_bodies_are_refused(data, message):
    with pytest.raises(protobuf.ProtobufError, match=message):
        protobuf.decode(data)


def test_fields_we_do_not_define_are_refused_not_dropped():
    """A PodSpec field this server has no .proto definition for (workloadRef, 42) is an error."""
    spec = core_pb2.PodSpec(nodeName="n").SerializeToString() + b"\xd2\x02\x03\x0a\x01x"   # field 42, bytes
    pod = core_pb2.Pod()
    pod.spec.MergeFromString(spec)
    with pytest.raises(protobuf.ProtobufError, match=r"PodSpec|spec\.#42"):
        protobuf.decode(body("Pod", pod))


def test_json_fields_without_a_protobuf_field_are_refused():
    pod = post_pod_running()
    pod["spec"]["notAField"] = 1
    with pytest.raises(protobuf.ProtobufError, match="spec.notAField"):
        protobuf.encode(pod)
    secret = {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"}, "data": {"k": "not base64!"}}
    with pytest.raises(protobuf.ProtobufError, match="illegal base64"):
        protobuf.encode(secret)
    pod = post_pod_running()
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = 2 ** 40
    with pytest.raises(protobuf.ProtobufError, match="Pod has no protobuf form"):
        protobuf.encode(pod)
