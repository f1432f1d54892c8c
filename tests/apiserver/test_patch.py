"""The four PATCH types apply as the real API server applies them."""
import json

import pytest

from labserver.apiserver.errors import APIError
from labserver.apiserver.patch import apply_patch

SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSONPATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"

POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "nginx", "labels": {"app": "web", "tier": "front"}, "finalizers": ["a", "b"]},
    "spec": {
        "containers": [
            {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}],
             "volumeMounts": [{"name": "logs", "mountPath": "/var/log/nginx"}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "log-truncator", "image": "busybox", "command": ["/bin/sh"]},
        ],
        "volumes": [{"name": "logs", "emptyDir": {}}],
        "tolerations": [{"key": "x", "operator": "Exists"}],
    },
    "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]},
}


def patch(body, content_type, original=POD):
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return apply_patch(original, raw, content_type)


def test_merge_patch_replaces_lists_and_deletes_with_null():
    """RFC 7386: maps merge, lists are replaced whole, null removes a key."""
    out = patch({"metadata": {"labels": {"tier": None, "new": "x"}},
                 "spec": {"containers": [{"name": "only", "image": "busybox"}]}}, MERGE)
    assert out["metadata"]["labels"] == {"app": "web", "new": "x"}
    assert out["spec"]["containers"] == [{"name": "only", "image": "busybox"}]
    assert POD["metadata"]["labels"]["tier"] == "front", "the original must not be modified"


def test_strategic_merge_merges_containers_by_name():
    """Containers merge by name: one field of one container changes, the other container stays."""
    out = patch({"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}, SMP)
    names = [c["name"] for c in out["spec"]["containers"]]
    assert names == ["nginx", "log-truncator"]
    assert out["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert out["spec"]["containers"][0]["ports"] == [{"containerPort": 80}]


@pytest.mark.parametrize("field, element, key", [
    ("env", {"name": "B", "value": "20"}, "name"),
    ("ports", {"containerPort": 80, "name": "http"}, "containerPort"),
    ("volumeMounts", {"mountPath": "/var/log/nginx", "readOnly": True}, "mountPath"),
])
def test_strategic_merge_uses_each_lists_merge_key(field, element, key):
    """env by name, ports by containerPort, volumeMounts by mountPath: the element merges, none is added."""
    out = patch({"spec": {"containers": [{"name": "nginx", field: [element]}]}}, SMP)
    merged = out["spec"]["containers"][0][field]
    assert len(merged) == len(POD["spec"]["containers"][0][field])
    match = next(e for e in merged if e[key] == element[key])
    assert all(match[k] == v for k, v in element.items())


def test_strategic_merge_conditions_by_type_and_new_elements_appended():
    """Status conditions merge by type; an element with a new key is appended."""
    out = patch({"status": {"conditions": [{"type": "Ready", "status": "True"},
                                           {"type": "Initialized", "status": "True"}]}}, SMP)
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                           {"type": "PodScheduled", "status": "True"},
                                           {"type": "Initialized", "status": "True"}]


def test_strategic_merge_replaces_lists_without_merge_key():
    """Lists with no patchMergeKey (tolerations, command) are replaced, as upstream."""
    out = patch({"spec": {"tolerations": [{"key": "y", "operator": "Exists"}]}}, SMP)
    assert out["spec"]["tolerations"] == [{"key": "y", "operator": "Exists"}]


def test_set_element_order_and_delete_directive_as_kubectl_apply_sends():
    """`$setElementOrder` reorders, `$patch: delete` removes one container (kubectl apply's patch)."""
    body = {"spec": {"$setElementOrder/containers": [{"name": "log-truncator"}, {"name": "sidecar"}],
                     "containers": [{"name": "nginx", "$patch": "delete"},
                                    {"name": "sidecar", "image": "busybox"}]}}
    out = patch(body, SMP)
    assert [c["name"] for c in out["spec"]["containers"]] == ["log-truncator", "sidecar"]


def test_replace_directive_on_map_and_list():
    """`$patch: replace` replaces a map, or a whole list when it appears as an element."""
    out = patch({"metadata": {"labels": {"$patch": "replace", "only": "this"}}}, SMP)
    assert out["metadata"]["labels"] == {"only": "this"}
    out = patch({"spec": {"containers": [{"$patch": "replace"}, {"name": "x", "image": "y"}]}}, SMP)
    assert out["spec"]["containers"] == [{"name": "x", "image": "y"}]


def test_delete_directive_on_map():
    """`$patch: delete` on a map removes it."""
    out = patch({"status": {"$patch": "delete"}}, SMP)
    assert "status" not in out


def test_delete_from_primitive_list_and_merged_finalizers():
    """finalizers merge as a set; `$deleteFromPrimitiveList/finalizers` removes entries."""
    out = patch({"metadata": {"finalizers": ["c", "a"]}}, SMP)
    assert out["metadata"]["finalizers"] == ["a", "b", "c"]
    out = patch({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, SMP)
    assert out["metadata"]["finalizers"] == ["b"]


def test_retain_keys_drops_fields_not_listed():
    """`$retainKeys` keeps only the listed keys of the original (volume source switch)."""
    body = {"spec": {"volumes": [{"name": "logs", "$retainKeys": ["hostPath", "name"],
                                  "hostPath": {"path": "/tmp"}}]}}
    out = patch(body, SMP)
    assert out["spec"]["volumes"] == [{"name": "logs", "hostPath": {"path": "/tmp"}}]


def test_json_patch_operations():
    """RFC 6902 add/remove/replace/move/copy/test on JSON pointers, including ~1 escapes."""
    ops = [
        {"op": "test", "path": "/metadata/name", "value": "nginx"},
        {"op": "add", "path": "/metadata/labels/example.com~1role", "value": "x"},
        {"op": "remove", "path": "/metadata/labels/tier"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.27"},
        {"op": "add", "path": "/spec/containers/-", "value": {"name": "third", "image": "busybox"}},
        {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copy"},
        {"op": "move", "from": "/metadata/labels/copy", "path": "/metadata/labels/moved"},
    ]
    out = patch(ops, JSONPATCH)
    assert out["metadata"]["labels"] == {"app": "web", "example.com/role": "x", "moved": "web"}
    assert out["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert out["spec"]["containers"][2]["name"] == "third"


@pytest.mark.parametrize("ops", [
    [{"op": "replace", "path": "/metadata/name", "value": "x"}, {"op": "test", "path": "/metadata/name",
                                                                  "value": "nginx"}],
    [{"op": "remove", "path": "/spec/nothing"}],
    [{"op": "nope", "path": "/a"}],
    [{"op": "add", "path": "no-slash", "value": 1}],
    [{"op": "add", "path": "/metadata/x"}],
    [{"path": "/metadata"}],
])
def test_json_patch_that_cannot_apply_is_422(ops):
    """A JSON patch that decodes but cannot apply (failed test, missing path, bad op) is 422, as upstream."""
    with pytest.raises(APIError) as err:
        patch(ops, JSONPATCH)
    assert (err.value.code, err.value.reason) == (422, "Invalid")


def test_server_side_apply_yaml_merges_into_object():
    """apply-patch+yaml (kubectl apply --server-side) merges the YAML config in, containers by name."""
    out = patch("metadata:\n  labels:\n    applied: 'yes'\nspec:\n  containers:\n  - name: nginx\n"
                "    image: nginx:1.27\n", APPLY)
    assert out["metadata"]["labels"]["applied"] == "yes"
    assert [c["image"] for c in out["spec"]["containers"]] == ["nginx:1.27", "busybox"]


@pytest.mark.parametrize("body, content_type", [
    ("{not json", SMP), ("{not json", MERGE), ("[1", JSONPATCH), ("a: [", APPLY),
    ('"a string"', MERGE), ('{"op": "add"}', JSONPATCH),
    ('{"spec": {"containers": [{"image": "no-name"}]}}', SMP),
])
def test_malformed_patch_is_400(body, content_type):
    """Undecodable or structurally wrong patches are 400 BadRequest."""
    with pytest.raises(APIError) as err:
        patch(body, content_type)
    assert (err.value.code, err.value.reason) == (400, "BadRequest")


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_unsupported_patch_type_is_415(content_type):
    """A PATCH with a non-patch content type is 415 UnsupportedMediaType."""
    with pytest.raises(APIError) as err:
        patch({}, content_type)
    assert (err.value.code, err.value.reason) == (415, "UnsupportedMediaType")


def test_content_type_parameters_are_ignored():
    """`application/merge-patch+json; charset=utf-8` is a merge patch."""
    out = patch({"metadata": {"labels": {"x": "y"}}}, MERGE + "; charset=utf-8")
    assert out["metadata"]["labels"]["x"] == "y"


def test_patch_naming_another_uid_is_conflict(client):
    """A status patch carrying the uid of an earlier pod of the same name is 409 and changes nothing."""
    pods = "/api/v1/namespaces/default/pods"
    body = {"metadata": {"name": "again"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    old_uid = client.post(pods, json=body).get_json()["metadata"]["uid"]
    assert client.delete(pods + "/again").status_code == 200
    current = client.post(pods, json=body).get_json()
    r = client.patch(pods + "/again/status", data=json.dumps({"metadata": {"uid": old_uid},
                                                              "status": {"phase": "Running"}}),
                     headers={"Content-Type": SMP})
    assert r.status_code == 409 and r.get_json()["reason"] == "Conflict", r.get_json()
    assert f"UID in precondition: {old_uid}" in r.get_json()["message"]
    assert client.get(pods + "/again").get_json() == current
    ok = client.patch(pods + "/again/status", data=json.dumps({"metadata": {"uid": current["metadata"]["uid"]},
                                                               "status": {"phase": "Running"}}),
                      headers={"Content-Type": SMP})
    assert ok.status_code == 200 and ok.get_json()["status"]["phase"] == "Running"
