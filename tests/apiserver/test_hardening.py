"""Issue #13's reproductions: no input breaks the server or poisons what others read.

Each bad request gets a Status with the right code and reason and leaves etcd's
revision where it was; what is stored anyway (straight into etcd) is still
listed, printed, selected and deleted.
"""
from __future__ import annotations

import json

import pytest

from api_testing import pod
from labserver.apiserver.resources import RESOURCES
from kubectl_testing import kubectl  # noqa: F401

PODS = "/api/v1/namespaces/default/pods"
EVENTS = "/api/v1/namespaces/default/events"
JSON = "application/json"
YAML = "application/yaml"
MERGE = "application/merge-patch+json"
SMP = "application/strategic-merge-patch+json"
JSONPATCH = "application/json-patch+json"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
BIG = str(1 << 64)

# The tests on the API server process (`api`, `kubectl`) share one for the module, each in its own namespace;
# the in-process `client` tests keep their own etcd prefixes (and start no API server).
shared = pytest.mark.shared_apiserver


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def event(**changes) -> dict:
    body = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
            "involvedObject": {"kind": "Pod", "name": "exists", "namespace": "default"},
            "reason": "Started", "message": "started", "type": "Normal", "count": 1,
            "source": {"component": "kubelet", "host": "n"}, "lastTimestamp": "2026-01-01T00:00:00Z"}
    body.update(changes)
    return body


def pod_with(**spec) -> bytes:
    return json.dumps(pod("bad", **spec)).encode()


ALIAS_BOMB = ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)) +
    "kind: Pod\napiVersion: v1\nmetadata: {name: bomb}\n").encode()
COPY_BOMB = json.dumps([{"op": "add", "path": "/metadata/annotations", "value": {"a": "x" * 40}}] +
                       [{"op": "copy", "from": "/metadata/annotations", "path": f"/metadata/annotations/a{i}"}
                        for i in range(23)]).encode()

REFUSED = [
    # id, method, path, body, content type, code, reason, message fragment
    ("status-not-object", "PATCH", PODS + "/exists/status", b'{"status":"x"}', MERGE, 422, "Invalid",
     'json: cannot unmarshal string into Go struct field Pod.status of type v1.PodStatus'),
    ("event-count-string", "POST", EVENTS, json.dumps(event(count="abc")).encode(), JSON, 400, "BadRequest",
     'Event in version "v1" cannot be handled as a Event: json: cannot unmarshal string into Go struct field '
     'Event.count of type int32'),
    ("event-naive-time", "POST", EVENTS, json.dumps(event(lastTimestamp="2026-01-01T00:00:00")).encode(), JSON,
     400, "BadRequest", 'parsing time "2026-01-01T00:00:00" as "2006-01-02T15:04:05Z07:00": cannot parse "" as '
                        '"Z07:00"'),
    ("event-source-string", "POST", EVENTS, json.dumps(event(source="kubelet")).encode(), JSON, 400, "BadRequest",
     "json: cannot unmarshal string into Go struct field Event.source of type v1.EventSource"),
    ("delete-all-namespaces", "DELETE", "/api/v1/namespaces", b"", JSON, 405, "MethodNotAllowed",
     "does not allow this method"),
    ("nan-in-json", "POST", PODS, b'{"kind":"Pod","apiVersion":"v1","metadata":{"name":"n"},"spec":{"containers":'
     b'[{"name":"c","image":"i"}],"terminationGracePeriodSeconds":NaN}}', JSON, 400, "BadRequest", "NaN"),
    ("infinity-in-yaml", "POST", PODS, b"kind: Pod\napiVersion: v1\nmetadata: {name: n}\nspec:\n  containers:"
     b" [{name: c, image: i}]\n  overhead: {cpu: .inf}\n", YAML, 400, "BadRequest", "not a JSON number"),
    ("yaml-bool-annotation", "POST", PODS, b"kind: Pod\napiVersion: v1\nmetadata:\n  name: n\n  annotations: "
     b"{a: true}\nspec:\n  containers: [{name: c, image: i}]\n", YAML, 400, "BadRequest",
     "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.annotations of type string"),
    ("null-volume", "POST", PODS, pod_with(volumes=[None]), JSON, 422, "Invalid", "spec.volumes[0].name: Required"),
    ("null-container", "POST", PODS, json.dumps({**pod("bad"), "spec": {"containers": [None]}}).encode(), JSON,
     422, "Invalid", "spec.containers[0].name: Required"),
    ("resources-string", "POST", PODS, pod_with(containers=[{"name": "c", "image": "i", "resources": "x"}]), JSON,
     400, "BadRequest", "json: cannot unmarshal string into Go struct field Container.spec.containers.resources "
                        "of type v1.ResourceRequirements"),
    ("mount-name-list", "POST", PODS, pod_with(containers=[{"name": "c", "image": "i", "volumeMounts": [
        {"name": ["v"], "mountPath": "/v"}]}]), JSON, 400, "BadRequest",
     "json: cannot unmarshal array into Go struct field VolumeMount.spec.containers.volumeMounts.name of type "
     "string"),
    ("bad-quantity", "POST", PODS, pod_with(containers=[{"name": "c", "image": "i", "resources": {
        "limits": {"cpu": "lots"}}}]), JSON, 400, "BadRequest", "quantities must match the regular expression"),
    ("replicas-past-int32", "POST", "/apis/apps/v1/namespaces/default/deployments", json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1 << 31}}
    ).encode(), JSON, 400, "BadRequest", "json: cannot unmarshal number 2147483648 into Go struct field "
                                         "DeploymentSpec.spec.replicas of type int32"),
    ("yaml-alias-bomb", "POST", PODS, ALIAS_BOMB, YAML, 400, "BadRequest", "excessive aliasing"),
    ("json-patch-copy-bomb", "PATCH", PODS + "/exists", COPY_BOMB, JSONPATCH, 422, "Invalid", "Unable to copy"),
    ("json-patch-too-many-ops", "PATCH", PODS + "/exists", json.dumps(
        [{"op": "test", "path": "/kind", "value": "Pod"}] * 10001).encode(), JSONPATCH, 413,
     "RequestEntityTooLarge", "maximum operations in a JSON patch is 10000"),
    ("deep-json", "POST", PODS, ('{"kind":"Pod","apiVersion":"v1","metadata":{"name":"d"},"x":' + nested(5000) +
                                 "}").encode(), JSON, 400, "BadRequest", "max depth"),
    ("deep-json-patch", "PATCH", PODS + "/exists", ('{"x":' + nested(5000) + "}").encode(), MERGE, 400,
     "BadRequest", "max depth"),
    ("smp-delete-top", "PATCH", PODS + "/exists", b'{"$patch":"delete"}', SMP, 400, "BadRequest", "$patch"),
    ("smp-set-element-order-not-list", "PATCH", PODS + "/exists",
     b'{"spec":{"$setElementOrder/containers":{"name":"c"}}}', SMP, 400, "BadRequest", "must be a list"),
    ("json-patch-empty-path", "PATCH", PODS + "/exists", b'[{"op":"add","path":"","value":[]}]', JSONPATCH, 422,
     "Invalid", "invalid JSON pointer"),
    ("json-patch-non-ascii-path", "PATCH", PODS + "/exists", '[{"op":"replace","path":"/métadata","value":1}]'
     .encode(), JSONPATCH, 422, "Invalid", "doc is missing path"),
    ("delete-options-string-preconditions", "DELETE", PODS + "/exists", b'{"preconditions":"x"}', JSON, 400,
     "BadRequest", "preconditions"),
    ("limit-past-int64", "GET", PODS + "?limit=" + BIG, b"", JSON, 400, "BadRequest", "limit"),
    ("continue-past-int64", "GET", PODS + "?limit=1&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTg0NDY3NDQwNzM3"
     "MDk1NTE2MTYsInN0YXJ0IjoiYSJ9", b"", JSON, 400, "BadRequest", "continue"),
    ("watch-rv-past-int64", "GET", PODS + "?watch=true&resourceVersion=" + BIG, b"", JSON, 400, "BadRequest",
     "resource version"),
    ("grace-past-int64", "DELETE", PODS + "/exists?gracePeriodSeconds=" + BIG, b"", JSON, 400, "BadRequest",
     "gracePeriodSeconds"),
    ("timeout-past-int64", "GET", PODS + "?watch=true&timeoutSeconds=" + BIG, b"", JSON, 400, "BadRequest",
     "timeoutSeconds"),
    ("integer-past-int64", "POST", PODS, pod_with(terminationGracePeriodSeconds=1 << 64), JSON, 400, "BadRequest",
     "cannot unmarshal number"),
    ("over-etcd-request-limit", "POST", PODS, json.dumps({**pod("huge"), "metadata": {
        "name": "huge", "annotations": {"a": "x" * 2_000_000}}}).encode(), JSON, 413, "RequestEntityTooLarge",
     "Request entity too large: limit is 3145728"),
]


@pytest.mark.parametrize("method,path,body,ctype,code,reason,message", [b[1:] for b in REFUSED],
                         ids=[b[0] for b in REFUSED])
def test_refused_and_nothing_written(client, revision, method, path, body, ctype, code, reason, message):
    """Refused with a Status of the right code, reason and message; etcd's revision does not move."""
    assert client.post(PODS, json=pod("exists")).status_code == 201
    assert client.post("/api/v1/namespaces", json={"metadata": {"name": "aaa"}}).status_code == 201
    before = revision()
    r = client.open(path, method=method, data=body, headers={"Content-Type": ctype})
    assert r.status_code == code, r.get_data(as_text=True)[:2000]
    assert r.headers["Content-Type"] == "application/json"
    status = r.get_json()
    assert status["kind"] == "Status" and (status["code"], status["reason"]) == (code, reason)
    assert message in status["message"], status["message"][:2000]
    assert revision() == before


DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def deployment(**spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
                **spec}}


def test_wrong_json_type_is_a_decode_error_like_upstream(client, revision):
    """A body that cannot decode into its Go type is upstream's 400 BadRequest from transformDecodeError,
    naming the Go struct, the field path and the Go type, the first mismatch only; nothing is written."""
    before = revision()
    r = client.post(DEPLOYMENTS, data=json.dumps(deployment(replicas="x", paused="no")), content_type=JSON)
    assert r.status_code == 400 and r.get_json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "BadRequest",
        "details": {}, "code": 400,
        "message": 'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string '
                   'into Go struct field DeploymentSpec.spec.replicas of type int32'}
    r = client.post(PODS, json={**pod("bad"), "metadata": []})
    assert (r.status_code, r.get_json()["message"]) == (400, 'Pod in version "v1" cannot be handled as a Pod: json: '
                                                             'cannot unmarshal array into Go struct field '
                                                             'Pod.metadata of type v1.ObjectMeta')
    env = [{"name": "PORT", "value": 7070}]
    r = client.post(PODS, json=pod("bad", containers=[{"name": "c", "image": "i", "env": env}]))
    assert r.status_code == 400 and r.get_json()["message"].endswith(
        "json: cannot unmarshal number into Go struct field EnvVar.spec.containers.env.value of type string")
    assert revision() == before


def test_wrong_json_type_in_a_patch_is_invalid_patch_like_upstream(client, revision):
    """A patched object that cannot decode is 422 Invalid on the field `patch` (handlers/patch.go): its value
    is the patched object's JSON (merge, JSON patch) or the strategic merge patch as Go prints a map."""
    assert client.post(DEPLOYMENTS, json=deployment()).status_code == 201
    before = revision()
    r = client.patch(DEPLOYMENTS + "/web", data=b'{"spec":{"replicas":"x"}}',
                     content_type="application/strategic-merge-patch+json")
    body = ('Invalid value: "map[spec:map[replicas:x]]": json: cannot unmarshal string into Go struct field '
            'DeploymentSpec.spec.replicas of type int32')
    assert r.status_code == 422 and r.get_json()["reason"] == "Invalid"
    assert r.get_json()["message"] == f' "" is invalid: patch: {body}'
    assert r.get_json()["details"] == {"causes": [{"reason": "FieldValueInvalid", "field": "patch", "message": body}]}
    r = client.patch(DEPLOYMENTS + "/web", data=b'{"spec":{"replicas":"x"}}', content_type=MERGE)
    cause = r.get_json()["details"]["causes"][0]
    assert r.status_code == 422 and cause["field"] == "patch"
    assert cause["message"].startswith('Invalid value: "{\\"apiVersion\\":\\"apps/v1\\",')
    assert '\\"replicas\\":\\"x\\"' in cause["message"]
    assert cause["message"].endswith("json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas"
                                     " of type int32")
    assert revision() == before


def test_nulls_decode_as_go_zero_values(client):
    """A null field is omitted, except a zero metav1.Time, which Go writes as null (lastProbeTime: null)."""
    body = pod("nulls")
    body["spec"]["nodeName"] = None
    assert client.post(PODS, json=body).status_code == 201
    current = client.get(PODS + "/nulls").get_json()
    assert "nodeName" not in current["spec"]
    current["status"]["conditions"] = [{"type": "Ready", "status": "True", "lastProbeTime": None,
                                        "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": None}]
    r = client.put(PODS + "/nulls/status", json=current)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["status"]["conditions"] == [{"type": "Ready", "status": "True", "lastProbeTime": None,
                                                     "lastTransitionTime": "2026-01-01T00:00:00Z"}]


def test_yaml_keys_become_strings(client):
    """YAML map keys that are not strings become strings, as sigs.k8s.io/yaml converts them to JSON."""
    body = b"kind: Pod\napiVersion: v1\nmetadata:\n  name: n\n  labels: {1: a, 2.5: b}\n" \
           b"spec:\n  containers: [{name: c, image: i}]\n"
    r = client.post(PODS, data=body, content_type=YAML)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert client.get(PODS + "/n").get_json()["metadata"]["labels"] == {"1": "a", "2.5": "b"}


def test_yaml_dates_stay_strings(client):
    """A date-looking YAML annotation is stored as the string it was (as sigs.k8s.io/yaml keeps it), never a date."""
    body = b"kind: Pod\napiVersion: v1\nmetadata:\n  name: dated\n  annotations: {since: 2020-01-01}\n" \
           b"spec:\n  containers: [{name: c, image: i}]\n"
    r = client.post(PODS, data=body, content_type=YAML)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert client.get(PODS + "/dated").get_json()["metadata"]["annotations"] == {"since": "2020-01-01"}


@shared
@pytest.mark.parametrize("field", ["spec.bogus\nX-Injected: 1", "spec.héllo", 'spec.quote"d'])
def test_warn_mode_drops_unknown_fields_with_a_safe_warning(api, etcd_client, field, etcd_prefix, namespace):
    """Warn (the default): the unknown field is dropped from what is stored and reported in a Warning header
    that HTTP can carry (control characters escaped as Go's %q; UTF-8 as upstream sends it)."""
    body = pod("warned")
    body["spec"][field.split(".", 1)[1]] = 1
    r = api.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
    assert r.status_code == 201, r.text
    raw = r.raw.headers.getlist("Warning")
    assert len(raw) == 1
    warning = raw[0].encode("latin-1").decode("utf-8")
    expected = json.dumps(field, ensure_ascii=False).replace("\\u0022", '\\"')
    assert warning.startswith('299 - "unknown field ') and "X-Injected" not in r.headers
    assert expected.strip('"').replace("\\", "\\\\").replace('"', '\\"') in warning
    stored = json.loads(etcd_client.get(f"{etcd_prefix}/pods/{namespace}/warned")[0])
    assert set(stored["spec"]) >= {"containers"} and field.split(".", 1)[1] not in stored["spec"]


@shared
def test_kubectl_validate_warn_with_odd_field_names(api, kubectl, tmp_path, etcd_client, etcd_prefix, namespace):
    """`kubectl create --validate=warn` of a manifest whose unknown field has non-ASCII and a newline in
    its name: created at once (no hang), kubectl prints the server's warning, the field is not stored."""
    manifest = tmp_path / "odd.json"
    body = pod("odd")
    body["spec"]["ünknown\nfield"] = 1
    manifest.write_text(json.dumps(body))
    result = kubectl("create", "-n", namespace, "-f", str(manifest), "--validate=warn", timeout=30)
    assert result.stdout.strip() == "pod/odd created"
    assert 'Warning: unknown field "spec.ünknown\\nfield"' in result.stderr
    stored = json.loads(etcd_client.get(f"{etcd_prefix}/pods/{namespace}/odd")[0])
    assert [k for k in stored["spec"] if "field" in k] == []


def test_strict_still_refuses_unknown_fields(client, revision):
    """Strict: unknown fields are upstream's 400 strict decoding error naming each; nothing written."""
    before = revision()
    body = pod("strict")
    body["spec"]["bogus"] = 1
    body["spec"]["other"] = 2
    r = client.post(PODS + "?fieldValidation=Strict", json=body)
    assert (r.status_code, r.get_json()["message"]) == (400, 'Pod in version "v1" cannot be handled as a Pod: strict '
                                                             'decoding error: unknown field "spec.bogus", unknown '
                                                             'field "spec.other"')
    assert revision() == before


def put_raw(etcd_client, key: str, obj: dict) -> None:
    etcd_client.put(key, json.dumps(obj))


def test_malformed_stored_objects_are_still_listed_printed_and_deleted(client, etcd_client, etcd_prefix):
    """Objects written into etcd behind the server's back with wrong types never break a listing:
    JSON, Table and field-selected lists answer, the odd rows show <unknown>, and each can be deleted."""
    assert client.post(PODS, json=pod("good")).status_code == 201
    bad_pod = {**pod("odd"), "status": "x", "spec": {"containers": "x", "nodeName": "n"}}
    bad_pod["metadata"].update({"namespace": "default", "uid": "u", "creationTimestamp": "whenever"})
    put_raw(etcd_client, f"{etcd_prefix}/pods/default/odd", bad_pod)
    bad_event = {**event(count="abc", source="kubelet", lastTimestamp="2026-01-01T00:00:00")}
    bad_event["metadata"].update({"namespace": "default"})
    put_raw(etcd_client, f"{etcd_prefix}/events/default/e1", bad_event)
    assert {p["metadata"]["name"] for p in client.get(PODS).get_json()["items"]} == {"good", "odd"}
    rows = client.get(PODS, headers={"Accept": TABLE}).get_json()["rows"]
    assert [r["cells"][0] for r in rows] == ["good", "odd"] and rows[1]["cells"][1] == "<unknown>"
    assert client.get(PODS + "?fieldSelector=status.phase%3DPending").status_code == 200
    assert client.get(EVENTS, headers={"Accept": TABLE}).status_code == 200
    selected = client.get(EVENTS + "?fieldSelector=source%3Dkubelet,involvedObject.name%3Dexists")
    assert selected.status_code == 200 and selected.get_json()["items"] == []
    assert client.delete(PODS + "/odd?gracePeriodSeconds=0").status_code == 200
    assert client.delete(EVENTS + "/e1").status_code == 200
    assert client.get(PODS + "/odd").status_code == 404


def test_deeply_nested_stored_objects_are_patchable_or_refused_clearly(client, etcd_client, etcd_prefix):
    """A pod stored 900 levels deep (before the limits) in an unknown field: a patch succeeds and drops it.
    Deep in a free-form field (managedFields.fieldsV1): a clear 422 (an invalid patch), never a 500."""
    assert client.post(PODS, json=pod("deep")).status_code == 201
    stored = json.loads(etcd_client.get(f"{etcd_prefix}/pods/default/deep")[0])
    deep = json.loads(nested(900))
    stored["metadata"]["deep"] = deep
    put_raw(etcd_client, f"{etcd_prefix}/pods/default/deep", stored)
    r = client.patch(PODS + "/deep", data=b'{"metadata":{"labels":{"a":"b"}}}', content_type=MERGE)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    assert "deep" not in r.get_json()["metadata"] and r.get_json()["metadata"]["labels"] == {"a": "b"}
    stored["metadata"]["managedFields"] = [{"manager": "m", "fieldsV1": {"f": deep}}]
    put_raw(etcd_client, f"{etcd_prefix}/pods/default/deep", stored)
    r = client.patch(PODS + "/deep", data=b'{"metadata":{"labels":{"a":"c"}}}', content_type=MERGE)
    assert r.status_code == 422 and r.get_json()["message"].endswith("exceeded max depth of 100")


def lightkube_verbs() -> dict[tuple[str, str, str], set[str]]:
    """Upstream's discovery verbs per (group, version, plural), as lightkube-models ships them."""
    import ast
    import importlib.util
    from pathlib import Path
    root = Path(list(importlib.util.find_spec("lightkube.resources").submodule_search_locations)[0])
    rename = {"post": "create", "put": "update"}
    verbs = {}
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "ApiInfo":
                kw = {k.arg: k.value for k in node.keywords}
                group, version, _ = [ast.literal_eval(a) for a in kw["resource"].args]
                plural, found = ast.literal_eval(kw["plural"]), ast.literal_eval(kw["verbs"])
                verbs[(group, version, plural)] = {rename.get(v, v) for v in found if not v.startswith("global_")}
    return verbs


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.name)
def test_served_verbs_are_upstreams(resource):
    """Each resource serves exactly the verbs upstream's discovery lists for it (namespaces: no deletecollection).

    One deliberate exception: IPAddress objects are written only together with
    their Service (one etcd transaction), so the lab serves them read-only.
    """
    upstream = lightkube_verbs()[(resource.group, resource.version, resource.name)]
    if resource.name == "ipaddresses":
        upstream = {"get", "list", "watch"}
    assert set(resource.verbs) == upstream
