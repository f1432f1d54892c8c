"""A JSON LIST is joined from each object's cached JSON answer (encoded.py): the same bytes as the general path.

The general path decodes every stored object, sets its resourceVersion,
selects on the whole object and encodes the list (Storage.list, then dumps,
as the handler did for every JSON list and still does for Tables). Here it is
called directly, at the revision the served list was read at, and the two
bodies must be equal byte for byte: for objects with odd content, objects
written into etcd behind the server's back, pages, and selectors.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import orjson
import pytest

from api_testing import pod
from labserver.apiserver.encoded import _MARK, EncodedObjects
from labserver.apiserver.handlers.list import list_meta, predicate_for
from labserver.apiserver.handlers.request import resolve
from labserver.apiserver.storage import Storage, dumps

PODS = "/api/v1/namespaces/default/pods"
ODD = 'ünïcødé ✓ 🚀 "quoted" back\\slash \n\t new\u2028line </script> \x01 \\u0000 {"resourceVersion":"1"}'


def odd_pods() -> list[dict]:
    """Pods whose JSON holds escapes, unicode and `resourceVersion` keys everywhere but metadata itself."""
    first = pod("odd-1", labels={"resourceVersion": "7", "metadata": "x"})
    first["metadata"]["annotations"] = {"resourceVersion": ODD, "note": ODD, "metadata": '{"resourceVersion":"3"}',
                                        "marker-lookalike": _MARK[1:]}
    first["spec"]["containers"][0]["env"] = [{"name": "resourceVersion", "value": ODD},
                                             {"name": "metadata", "value": '"metadata":{"resourceVersion":"9"}'}]
    second = pod("odd-2")
    second["spec"]["nodeSelector"] = {"metadata": "resourceVersion", "resourceVersion": "metadata"}
    second["metadata"]["annotations"] = {"marker": _MARK}   # the marker itself: that object takes the general path
    return [first, second]


def raw_objects(name_prefix: str) -> dict[str, bytes]:
    """Pods as another writer might store them: spaces, \\u escapes, metadata last, a stored resourceVersion,
    a metadata-like map in spec, metadata that is not an object, duplicate keys."""
    def base(name: str) -> dict:
        return {**pod(name), "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                                          "creationTimestamp": "2026-01-01T00:00:00Z"}}
    nested = base(f"{name_prefix}nested")
    nested["spec"]["overhead"] = {"metadata": {"resourceVersion": "5", "labels": {"a": "b"}}}
    stale = base(f"{name_prefix}stale")
    stale["metadata"]["resourceVersion"] = "999"
    last = base(f"{name_prefix}last")
    last = {"spec": last["spec"], "kind": "Pod", "apiVersion": "v1", "metadata": last["metadata"]}
    odd = base(f"{name_prefix}odd")
    odd["metadata"]["labels"] = {"resourceVersion": "1"}
    odd["metadata"]["annotations"] = {"x": ODD}
    bad = {**pod(f"{name_prefix}bad"), "metadata": "not an object"}
    duplicate = json.dumps(base(f"{name_prefix}dup"))[:-1] + ', "kind": "Pod", "status": {"phase": "Pending"}}'
    return {
        f"{name_prefix}nested": json.dumps(nested, indent=2).encode(),                 # spaces, newlines
        f"{name_prefix}stale": json.dumps(stale, ensure_ascii=True).encode(),
        f"{name_prefix}last": orjson.dumps(last),
        f"{name_prefix}odd": json.dumps(odd, ensure_ascii=True).encode(),             # \\u escapes
        f"{name_prefix}bad": json.dumps(bad).encode(),
        f"{name_prefix}dup": duplicate.encode(),
    }


def general(app, query: str, revision: str) -> bytes:
    """The general path's JSON body for PODS + query, read at `revision` (continue tokens carry their own)."""
    with app.test_request_context(PODS + query):
        from flask import request
        scope = resolve("", "v1", "namespaces/default/pods")
        result = app.extensions["labserver.storage"].list(
            scope.resource, "default", limit=int(request.args.get("limit", 0)) or None,
            continue_token=request.args.get("continue"), predicate=predicate_for(scope), resource_version=int(revision))
        return dumps({"kind": "PodList", "apiVersion": "v1", "metadata": list_meta(result), "items": result.items})


def same_as_general(client, query: str = "") -> dict:
    """GET PODS + query, checked byte for byte against the general path at the same revision; its JSON."""
    served = client.get(PODS + query)
    assert served.status_code == 200 and served.content_type == "application/json", served.data[:300]
    assert served.data == general(client.application, query, served.get_json()["metadata"]["resourceVersion"])
    return served.get_json()


def test_plain_list_is_the_general_list_byte_for_byte(client, etcd_client, etcd_prefix):
    """Created odd pods and pods written behind the server's back: the served list is the general path's
    bytes, twice (the second from the cache), and every item's resourceVersion is its key's mod_revision,
    the list's the revision of the read."""
    for body in odd_pods():
        assert client.post(PODS, json=body).status_code == 201, body
    for name, value in raw_objects("raw-").items():
        etcd_client.put(f"{etcd_prefix}/pods/default/{name}", value)
    for _ in range(2):
        listed = same_as_general(client)
    resp = etcd_client.get_prefix_response(f"{etcd_prefix}/pods/default/")
    revisions = {kv.key.decode().rsplit("/", 1)[1]: str(kv.mod_revision) for kv in resp.kvs}
    assert [p["metadata"]["resourceVersion"] for p in listed["items"]] == list(revisions.values())
    assert int(listed["metadata"]["resourceVersion"]) == resp.header.revision
    by_name = dict(zip(revisions, listed["items"]))
    assert by_name["odd-1"]["metadata"]["labels"] == {"resourceVersion": "7", "metadata": "x"}
    assert by_name["odd-1"]["metadata"]["annotations"]["note"] == ODD
    assert by_name["raw-nested"]["spec"]["overhead"]["metadata"]["resourceVersion"] == "5"
    assert by_name["raw-stale"]["metadata"]["resourceVersion"] == revisions["raw-stale"] != "999"
    assert by_name["raw-bad"]["metadata"] == {"resourceVersion": revisions["raw-bad"]}
    assert by_name["raw-dup"]["status"] == {"phase": "Pending"}
    cache = client.application.extensions["labserver.storage"].encoded
    assert len(cache) == len(revisions) - 1   # all but the pod holding the marker


def test_pages_and_writes_are_seen_through_the_cache(client, etcd_client, etcd_prefix):
    """Pages of the plain list equal the general path's pages; an update, a write behind the server's back
    and a delete between two lists show in the next one, with the new resourceVersions."""
    assert same_as_general(client)["items"] == [] and same_as_general(client, "?limit=1")["items"] == []
    for i in range(5):
        assert client.post(PODS, json=pod(f"p{i}")).status_code == 201
    assert client.get(PODS).status_code == 200    # fills the cache
    first = same_as_general(client, "?limit=2")
    assert [p["metadata"]["name"] for p in first["items"]] == ["p0", "p1"]
    assert first["metadata"]["remainingItemCount"] == 3
    second = same_as_general(client, "?limit=2&continue=" + first["metadata"]["continue"])
    assert [p["metadata"]["name"] for p in second["items"]] == ["p2", "p3"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    patched = client.patch(PODS + "/p1", data=b'{"metadata":{"labels":{"v":"2"}}}',
                           content_type="application/merge-patch+json").get_json()
    stored = orjson.loads(etcd_client.get(f"{etcd_prefix}/pods/default/p2")[0])
    stored["metadata"]["annotations"] = {"behind": "the server's back"}
    etcd_client.put(f"{etcd_prefix}/pods/default/p2", orjson.dumps(stored))
    assert client.delete(PODS + "/p3?gracePeriodSeconds=0").status_code == 200
    items = {p["metadata"]["name"]: p for p in same_as_general(client)["items"]}
    assert sorted(items) == ["p0", "p1", "p2", "p4"]
    assert items["p1"]["metadata"]["labels"] == {"v": "2"}
    assert items["p1"]["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]
    assert items["p2"]["metadata"]["annotations"] == {"behind": "the server's back"}
    assert items["p2"]["metadata"]["resourceVersion"] == str(
        etcd_client.get_response(f"{etcd_prefix}/pods/default/p2").kvs[0].mod_revision)


SELECTORS = ["?labelSelector=app%3Dweb", "?labelSelector=app%21%3Dweb", "?labelSelector=app+in+(web,db),tier",
             "?labelSelector=%21app", "?labelSelector=resourceVersion", "?fieldSelector=spec.nodeName%3Dn1",
             "?fieldSelector=status.phase%21%3DRunning", "?fieldSelector=metadata.name%3Dodd-1",
             "?fieldSelector=status.podIPs%3D10.0.0.1,spec.hostNetwork%3Dfalse",
             "?fieldSelector=spec.nodeName%3Dn1&labelSelector=app&limit=2", "?fieldSelector=spec.nodeName%3D&limit=1"]


def test_selected_lists_are_the_general_lists_byte_for_byte(client, etcd_client, etcd_prefix):
    """Label and field selectors, with pages, on odd and malformed pods: what the cached view of each object
    selects is what the whole object selects, before and after the cache is filled."""
    for body in odd_pods():
        assert client.post(PODS, json=body).status_code == 201, body
    for i, (labels, node) in enumerate([({"app": "web", "tier": "1"}, "n1"), ({"app": "db"}, "n1"), ({}, "n2"),
                                        ({"app": "web"}, None)]):
        assert client.post(PODS, json=pod(f"p{i}", node=node, labels=labels)).status_code == 201
    for name, value in raw_objects("raw-").items():
        etcd_client.put(f"{etcd_prefix}/pods/default/{name}", value)
    odd = {**pod("raw-odd-types"), "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}, "x"]},
           "metadata": {"name": "raw-odd-types", "namespace": "default", "labels": ["app"]}}
    etcd_client.put(f"{etcd_prefix}/pods/default/raw-odd-types", json.dumps(odd))
    etcd_client.put(f"{etcd_prefix}/pods/default/raw-no-spec", json.dumps({**odd, "spec": "x", "status": 5,
                                                                           "metadata": {"labels": {"app": "web"}}}))
    seen = set()
    for _ in range(2):
        for query in SELECTORS:
            listed = same_as_general(client, query)
            seen.update(p["metadata"].get("name") for p in listed["items"])
            while listed["metadata"].get("continue"):
                listed = same_as_general(client, query + "&continue=" + listed["metadata"]["continue"])
                seen.update(p["metadata"].get("name") for p in listed["items"])
    assert {"p0", "p1", "p2", "p3", "odd-1", "raw-odd-types", None} <= seen


def test_an_undecodable_stored_value_fails_the_list_as_before(client, etcd_client, etcd_prefix):
    """A value that is not JSON is never passed through: the plain list fails as the general one does."""
    assert client.post(PODS, json=pod("fine")).status_code == 201
    etcd_client.put(f"{etcd_prefix}/pods/default/broken", b'{"kind": "Pod", "metadata": {')
    fast = client.get(PODS)
    assert fast.status_code == 500 and fast.get_json()["kind"] == "Status"
    with pytest.raises(ValueError):
        general(client.application, "", str(etcd_client.get_response("/").header.revision))


# -- the cache itself ------------------------------------------------------------------------------

def kv(key: bytes, value: bytes, mod_revision: int) -> SimpleNamespace:
    """What the cache reads of an etcd KeyValue."""
    return SimpleNamespace(key=key, value=value, mod_revision=mod_revision)


@pytest.mark.parametrize("value", list(raw_objects("").values())
                         + [dumps(p) for p in odd_pods()] + [b'{"metadata":{}}', b'{"metadata":{"a":1},"x":[]}'])
def test_parts_join_to_the_general_answer(value):
    cache = EncodedObjects(Storage.decode, dumps)
    for rev in (1, 1, 123456789, 123456789, 1):
        assert b"".join(cache.parts(kv(b"/k", value, rev), dict)[0]) == dumps(Storage.decode(value, rev))


def test_cache_is_bounded_and_drops_the_oldest_first():
    value = dumps({"metadata": {"name": "x" * 100}})
    cache = EncodedObjects(Storage.decode, dumps, max_bytes=1000)
    for i in range(20):
        cache.parts(kv(b"/k%d" % i, value, i + 1), dict)
    assert 0 < len(cache) <= 1000 // (2 * len(value))
    assert list(cache._entries)[-1] == b"/k19" and b"/k0" not in cache._entries
    assert cache._size == sum(len(k) + len(e[0]) + sum(map(len, e[2])) for k, e in cache._entries.items())
    huge = dumps({"metadata": {"name": "x" * 2000}})
    assert b"".join(cache.parts(kv(b"/huge", huge, 5), dict)[0]) == dumps(Storage.decode(huge, 5))
    assert b"/huge" not in cache._entries
