"""OpenAPI v3 documents carry what kubectl looks for; check_fields finds unknown fields."""
import pytest
from flask import Flask

from labserver.apiserver import openapi
from labserver.apiserver.errors import APIError


@pytest.fixture
def client():
    app = Flask("openapi-test")
    app.register_blueprint(openapi.bp)
    return app.test_client()


def gv_document(client, name):
    root = client.get("/openapi/v3").get_json()
    url = root["paths"][name]["serverRelativeURL"]
    assert "?hash=" in url
    response = client.get(url)
    assert response.status_code == 200
    return response.get_json()


@pytest.mark.parametrize("name, group, kind", [("api/v1", "", "Pod"), ("api/v1", "", "Node"),
                                               ("api/v1", "", "Namespace"), ("api/v1", "", "Event"),
                                               ("apis/coordination.k8s.io/v1", "coordination.k8s.io", "Lease")])
def test_patch_operation_accepts_field_validation(client, name, group, kind):
    """Each kind has a PATCH operation tagged with its GVK and a fieldValidation query parameter
    (what kubectl's query_param_verifier_v3 requires before it hands validation to the server)."""
    doc = gv_document(client, name)
    gvk = {"group": group, "version": "v1", "kind": kind}
    patches = [p["patch"] for p in doc["paths"].values() if "patch" in p
               and p["patch"]["x-kubernetes-group-version-kind"] == gvk]
    assert patches
    params = [(p["name"], p["in"]) for p in patches[0]["parameters"]]
    assert ("fieldValidation", "query") in params
    assert "application/strategic-merge-patch+json" in patches[0]["requestBody"]["content"]


def test_schemas_resolve_and_carry_patch_metadata(client):
    """Every $ref resolves; Pod carries its GVK; containers merge by name like the Go struct tags."""
    doc = gv_document(client, "api/v1")
    schemas = doc["components"]["schemas"]

    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)
    for ref in refs(doc):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    pod = schemas["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    volumes = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["volumes"]
    assert volumes["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas


def test_unknown_document_is_404(client):
    """A group-version we do not serve is a NotFound Status."""
    response = client.get("/openapi/v3/apis/nope/v1")
    assert response.status_code == 404 and response.get_json()["reason"] == "NotFound"


POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "nginx", "labels": {"any-key": "v"}, "annotations": {"a/b": "c"}},
       "spec": {"containers": [{"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}],
                                "volumeMounts": [{"name": "logs", "mountPath": "/logs"}],
                                "resources": {"limits": {"cpu": "100m"}}}],
                "volumes": [{"name": "logs", "emptyDir": {}}], "affinity": {"anything": {"goes": 1}}},
       "status": {"phase": "Pending", "containerStatuses": [{"name": "nginx", "state": {"waiting": {}}}]}}


@pytest.mark.parametrize("mode", ["Strict", "Warn", "Ignore", None])
def test_known_fields_pass_in_every_mode(mode):
    """A pod using only real fields (maps of any keys, free-form affinity) raises and warns nothing."""
    assert openapi.check_fields("Pod", POD, mode) == []


def with_unknown():
    pod = {**POD, "spec": {**POD["spec"], "foo": 1}}
    pod["spec"]["containers"] = [{**POD["spec"]["containers"][0], "imagePullPolcy": "Always"}]
    return pod


def test_strict_rejects_unknown_fields_with_paths():
    """Strict: 422 naming each unknown field with its path, like upstream's strict decoding error."""
    with pytest.raises(APIError) as err:
        openapi.check_fields("Pod", with_unknown(), "Strict")
    e = err.value
    assert (e.code, e.reason) == (422, "Invalid")
    assert 'strict decoding error: unknown field "spec.containers[0].imagePullPolcy", unknown field ' \
           '"spec.foo"' in e.message
    assert [c["field"] for c in e.details["causes"]] == ["spec.containers[0].imagePullPolcy", "spec.foo"]


def test_warn_returns_one_warning_per_unknown_field():
    """Warn: the request goes through; each unknown field becomes a warning string."""
    assert openapi.check_fields("Pod", with_unknown(), "Warn") == [
        'unknown field "spec.containers[0].imagePullPolcy"', 'unknown field "spec.foo"']
    assert openapi.check_fields("Pod", with_unknown(), "Ignore") == []


@pytest.mark.parametrize("kind, obj, unknown", [
    ("Node", {"status": {"nodeInfo": {"kubeletVersion": "v1", "shoeSize": 4}}}, "status.nodeInfo.shoeSize"),
    ("Event", {"involvedObject": {"kind": "Pod", "color": "red"}}, "involvedObject.color"),
    ("Lease", {"spec": {"holderIdentity": "n", "renewTime": "t", "x": 1}}, "spec.x"),
    ("Namespace", {"metadata": {"nmae": "typo"}}, "metadata.nmae"),
])
def test_other_kinds_are_checked(kind, obj, unknown):
    """Nodes, events, leases and namespaces are walked against their own schemas."""
    assert openapi.check_fields(kind, obj, "Warn") == [f'unknown field "{unknown}"']


MODEL_NAMES = {"Event": "CoreV1Event", "EventSeries": "CoreV1EventSeries", "KeySelector": "V1ConfigMapKeySelector",
               "OptionalReference": "V1ConfigMapEnvSource"}


def model_fields(model) -> set[str]:
    return {info.serialization_alias or name for name, info in model.model_fields.items()}


@pytest.mark.parametrize("name", sorted(openapi.schema_data()["schemas"]))
def test_schema_fields_match_the_official_clients_models(name):
    """Each schema lists exactly the JSON fields of the same type in the official 1.37 client's models,
    so Strict accepts every real field and nothing else."""
    from kubernetes import client as k8s
    model = getattr(k8s, MODEL_NAMES.get(name, f"V1{name}"))
    assert set(openapi.schema_data()["schemas"][name]) == model_fields(model)
