"""Every bad request gets a Status JSON with the right code, reason and message, and leaves etcd unchanged."""
from __future__ import annotations

import json

import pytest
import requests

from api_testing import pod
from labserver.lab.supervise.components import start_apiserver
from labserver.lab.supervise.etcd import start_etcd
from labserver.lab.supervise.procs import free_port, wait_for

PODS = "/api/v1/namespaces/default/pods"
JSON = "application/json"


def _pod_json(**changes) -> bytes:
    body = pod("bad")
    for path, value in changes.items():
        target = body
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return json.dumps(body).encode()


BAD = [
    # id, method, path, body, content type, code, reason, message fragment
    ("malformed-json", "POST", PODS, b'{"kind": "Pod",', JSON, 400, "BadRequest", "json parse error"),
    ("malformed-yaml", "POST", PODS, b"kind: Pod\n  metadata: [", "application/yaml", 400, "BadRequest", "YAML"),
    ("not-an-object", "POST", PODS, b"[1, 2]", JSON, 400, "BadRequest", "expected a JSON object"),
    ("kind-mismatch", "POST", PODS, _pod_json(kind="Node"), JSON, 400, "BadRequest", "kind in the data (Node)"),
    ("apiversion-mismatch", "POST", PODS, _pod_json(apiVersion="apps/v1"), JSON, 400, "BadRequest",
     "API version in the data (apps/v1)"),
    ("namespace-mismatch", "POST", PODS, _pod_json(metadata={"name": "x", "namespace": "kube-system"}), JSON,
     400, "BadRequest", "namespace of the provided object does not match"),
    ("spec-not-object", "POST", PODS, _pod_json(spec="nginx"), JSON, 400, "BadRequest",
     'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct field '
     'Pod.spec of type v1.PodSpec'),
    ("missing-name", "POST", PODS, _pod_json(metadata={}), JSON, 422, "Invalid",
     "metadata.name: Required value: name or generateName is required"),
    ("name-not-dns1123", "POST", PODS, _pod_json(metadata={"name": "Bad_Name"}), JSON, 422, "Invalid",
     'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'),
    ("name-escapes-key", "POST", PODS, _pod_json(metadata={"name": "../../minions/x"}), JSON, 422, "Invalid",
     "metadata.name: Invalid value"),
    ("name-with-slash", "POST", PODS, _pod_json(metadata={"name": "a/b"}), JSON, 422, "Invalid",
     "metadata.name: Invalid value"),
    ("missing-containers", "POST", PODS, _pod_json(spec__containers=None), JSON, 422, "Invalid",
     'Pod "bad" is invalid: spec.containers: Required value'),
    ("missing-image", "POST", PODS, _pod_json(spec__containers=[{"name": "c"}]), JSON, 422, "Invalid",
     "spec.containers[0].image: Required value"),
    ("duplicate-container", "POST", PODS,
     _pod_json(spec__containers=[{"name": "c", "image": "a"}, {"name": "c", "image": "b"}]), JSON, 422,
     "Invalid", 'spec.containers[1].name: Duplicate value: "c"'),
    ("container-name-not-label", "POST", PODS, _pod_json(spec__containers=[{"name": "C.x", "image": "a"}]),
     JSON, 422, "Invalid", "RFC 1123 label"),
    ("port-out-of-range", "POST", PODS,
     _pod_json(spec__containers=[{"name": "c", "image": "a", "ports": [{"containerPort": 70000}]}]), JSON,
     422, "Invalid", "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535"),
    ("mount-without-volume", "POST", PODS,
     _pod_json(spec__containers=[{"name": "c", "image": "a", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]),
     JSON, 422, "Invalid", 'spec.containers[0].volumeMounts[0].name: Not found: "v"'),
    ("bad-restart-policy", "POST", PODS, _pod_json(spec__restartPolicy="Sometimes"), JSON, 422, "Invalid",
     'spec.restartPolicy: Unsupported value: "Sometimes"'),
    ("unknown-field-strict", "POST", PODS + "?fieldValidation=Strict", _pod_json(spec__bogus=1), JSON, 400,
     "BadRequest", 'strict decoding error: unknown field "spec.bogus"'),
    ("bad-field-validation", "POST", PODS + "?fieldValidation=Loud", _pod_json(), JSON, 400, "BadRequest",
     "fieldValidation"),
    ("duplicate-create", "POST", PODS, json.dumps(pod("exists")).encode(), JSON, 409, "AlreadyExists",
     'pods "exists" already exists'),
    ("stale-resource-version", "PUT", PODS + "/exists",
     json.dumps({**pod("exists"), "metadata": {"name": "exists", "resourceVersion": "1"}}).encode(), JSON,
     409, "Conflict", 'Operation cannot be fulfilled on pods "exists": the object has been modified'),
    ("put-name-mismatch", "PUT", PODS + "/exists", json.dumps(pod("other")).encode(), JSON, 400, "BadRequest",
     "does not match the name on the URL"),
    ("put-missing", "PUT", PODS + "/missing", json.dumps(pod("missing")).encode(), JSON, 404, "NotFound",
     'pods "missing" not found'),
    ("get-missing", "GET", PODS + "/missing", b"", JSON, 404, "NotFound", 'pods "missing" not found'),
    ("delete-missing", "DELETE", PODS + "/missing", b"", JSON, 404, "NotFound", 'pods "missing" not found'),
    ("get-bad-name", "GET", PODS + "/..", b"", JSON, 404, "NotFound", "not found"),
    ("missing-namespace", "POST", "/api/v1/namespaces/nowhere/pods", json.dumps(pod("x")).encode(), JSON, 404,
     "NotFound", 'namespaces "nowhere" not found'),
    ("unknown-resource", "GET", "/api/v1/widgets", b"", JSON, 404, "NotFound", "could not find the requested"),
    ("unknown-subresource", "GET", PODS + "/exists/nosuch", b"", JSON, 404, "NotFound", "could not find"),
    ("unknown-path", "GET", "/no/such/path", b"", JSON, 404, "NotFound", "could not find the requested resource"),
    ("unknown-group", "GET", "/apis/batch/v1/jobs", b"", JSON, 404, "NotFound", "could not find"),
    ("post-to-item", "POST", PODS + "/exists", json.dumps(pod("exists")).encode(), JSON, 405,
     "MethodNotAllowed", "does not allow this method"),
    ("options-method", "TRACE", PODS, b"", JSON, 405, "MethodNotAllowed", "does not allow this method"),
    ("unsupported-media-type", "POST", PODS, b"kind=Pod", "text/plain", 415, "UnsupportedMediaType",
     "unknown format"),
    ("patch-media-type", "PATCH", PODS + "/exists", b"{}", "application/json", 415, "UnsupportedMediaType", ""),
    ("body-too-large", "POST", PODS, b'{"kind":"Pod","x":"' + b"x" * (3 * 1024 * 1024) + b'"}', JSON, 413,
     "RequestEntityTooLarge", "too large"),
    ("bad-limit", "GET", PODS + "?limit=abc", b"", JSON, 400, "BadRequest", "limit"),
    ("bad-continue", "GET", PODS + "?limit=1&continue=garbage", b"", JSON, 400, "BadRequest", "continue"),
    ("bad-label-selector", "GET", PODS + "?labelSelector=a%20in%20(", b"", JSON, 400, "BadRequest", ""),
    ("bad-field-selector", "GET", PODS + "?fieldSelector=spec.color%3Dred", b"", JSON, 400, "BadRequest", ""),
    ("watch-bad-rv", "GET", PODS + "?watch=true&resourceVersion=abc", b"", JSON, 400, "BadRequest",
     "invalid resource version"),
    ("delete-system-namespace", "DELETE", "/api/v1/namespaces/default", b"", JSON, 403, "Forbidden",
     "may not be deleted"),
]


@pytest.mark.parametrize("method,path,body,ctype,code,reason,message", [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_bad_request(client, revision, method, path, body, ctype, code, reason, message):
    """The request is refused with a Status of the right code/reason/message and etcd's revision is unchanged."""
    assert client.post(PODS, json=pod("exists")).status_code == 201
    before = revision()
    r = client.open(path, method=method, data=body, headers={"Content-Type": ctype})
    assert r.status_code == code, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/json"
    status = r.get_json()
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert (status["code"], status["reason"]) == (code, reason)
    assert message in status["message"]
    assert revision() == before


def test_invalid_lists_every_cause(client):
    """A 422 carries one cause per problem, with reason and field, as kubectl prints them."""
    body = pod("Bad_Name", containers=[{"name": "c"}, {"name": "c", "image": "x", "ports": [{"containerPort": 0}]}])
    status = client.post(PODS, json=body).get_json()
    fields = {(c["field"], c["reason"]) for c in status["details"]["causes"]}
    assert fields == {("metadata.name", "FieldValueInvalid"), ("spec.containers[0].image", "FieldValueRequired"),
                      ("spec.containers[1].name", "FieldValueDuplicate"),
                      ("spec.containers[1].ports[0].containerPort", "FieldValueInvalid")}
    assert status["details"]["kind"] == "Pod" and status["message"].startswith('Pod "Bad_Name" is invalid: [')


def test_unexpected_error_is_status(client, monkeypatch):
    """An unexpected exception is a 500 InternalError Status, not a traceback page."""
    from labserver.apiserver import handlers

    def boom(scope):
        raise RuntimeError("kaboom")
    monkeypatch.setitem(handlers.ITEM, "GET", boom)
    r = client.get(PODS + "/x")
    assert r.status_code == 500 and r.headers["Content-Type"] == "application/json"
    assert r.get_json()["reason"] == "InternalError" and "kaboom" in r.get_json()["message"]


@pytest.mark.integration
def test_etcd_down_then_back(tmp_path):
    """etcd stopped: open watches end with an ERROR, requests get 503, /readyz fails; once back it serves again."""
    client_port, peer_port = free_port(), free_port()
    etcd = start_etcd(tmp_path / "etcd", client_port=client_port, peer_port=peer_port)
    # One process: this pins one etcd client's recovery step by step; with --workers=N each worker
    # reconnects on its own (test_workers.py), so right after one answers another may still say 503.
    server = start_apiserver(etcd.client_url, tmp_path / "api.log", extra_args=["--workers=1"])
    try:
        url = server.url + PODS
        rv = requests.post(url, json=pod("before"), timeout=10).json()["metadata"]["resourceVersion"]
        open_watch = requests.get(f"{url}?watch=true&resourceVersion={rv}", stream=True, timeout=30)
        etcd.stop()
        ended_with = [json.loads(line) for line in open_watch.iter_lines() if line]
        assert [e["type"] for e in ended_with] == ["ERROR"] and ended_with[0]["object"]["code"] == 503
        r = requests.get(url, timeout=15)
        assert r.status_code == 503, r.text
        status = r.json()
        assert status["reason"] == "ServiceUnavailable" and etcd.client_url in status["message"]
        assert requests.post(url, json=pod("during"), timeout=15).status_code == 503
        assert requests.get(server.url + "/readyz", timeout=15).status_code != 200
        etcd = start_etcd(tmp_path / "etcd", client_port=client_port, peer_port=peer_port)
        wait_for(lambda: requests.get(url, timeout=5).status_code == 200, 20, "API server serving again")
        # Once one request is served, so is every next one (each on a new connection, so on other
        # threads and etcd channels, which may still be reconnecting).
        answers = [requests.get(url, timeout=10) for _ in range(20)]
        assert [r.status_code for r in answers] == [200] * 20, answers[-1].text
        names = [p["metadata"]["name"] for p in answers[0].json()["items"]]
        assert names == ["before"]
        assert requests.get(server.url + "/readyz", timeout=5).text == "ok"
        with requests.get(url + "?watch=true", stream=True, timeout=10) as watch:   # watches work again too
            assert requests.post(url, json=pod("after"), timeout=10).status_code == 201
            lines = watch.iter_lines()
            seen = [json.loads(next(lines))["object"]["metadata"]["name"] for _ in range(2)]
        assert seen == ["before", "after"]
    finally:
        server.stop()
        etcd.stop()
