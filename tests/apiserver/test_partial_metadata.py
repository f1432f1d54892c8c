"""PartialObjectMetadata(List): metadata-only answers for get, list and watch, as client-go's metadata client asks."""
from __future__ import annotations

import json

from api_testing import pod

PODS = "/api/v1/namespaces/default/pods"
# client-go's metadata client: protobuf first (not served here), then JSON, then plain JSON
LIST_ACCEPT = ("application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
               "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json")
ONE_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


def test_list_as_partial_object_metadata_list(client):
    for name in ("a", "b"):
        assert client.post(PODS, json=pod(name, labels={"app": name})).status_code == 201
    response = client.get(f"{PODS}?limit=1", headers={"Accept": LIST_ACCEPT})
    body = response.json
    assert body["kind"] == "PartialObjectMetadataList" and body["apiVersion"] == "meta.k8s.io/v1"
    assert body["metadata"]["resourceVersion"].isdigit() and body["metadata"]["continue"]
    assert body["metadata"]["remainingItemCount"] == 1
    [item] = body["items"]
    assert set(item) == {"kind", "apiVersion", "metadata"} and item["kind"] == "PartialObjectMetadata"
    assert item["metadata"]["name"] == "a" and item["metadata"]["labels"] == {"app": "a"}
    assert item["metadata"]["uid"] and item["metadata"]["resourceVersion"].isdigit()


def test_get_as_partial_object_metadata_and_the_order_of_the_accept_header(client):
    assert client.post(PODS, json=pod("a")).status_code == 201
    one = client.get(f"{PODS}/a", headers={"Accept": ONE_ACCEPT}).json
    assert set(one) == {"kind", "apiVersion", "metadata"} and one["metadata"]["name"] == "a"
    v1beta1 = client.get(f"{PODS}/a", headers={"Accept": ONE_ACCEPT.replace("v=v1", "v=v1beta1")}).json
    assert v1beta1["apiVersion"] == "meta.k8s.io/v1beta1"
    # a list asked as a single PartialObjectMetadata falls through to the next range: plain JSON
    assert client.get(PODS, headers={"Accept": ONE_ACCEPT}).json["kind"] == "PodList"
    # JSON (or a Table) asked first wins, as upstream's negotiation takes the first range it can serve
    assert client.get(f"{PODS}/a", headers={"Accept": "application/json," + ONE_ACCEPT}).json["kind"] == "Pod"
    table = client.get(PODS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io," + LIST_ACCEPT})
    assert table.json["kind"] == "Table"


def test_watch_as_partial_object_metadata(client):
    assert client.post(PODS, json=pod("a", labels={"app": "a"})).status_code == 201
    response = client.get(f"{PODS}?watch=true&timeoutSeconds=1", headers={"Accept": ONE_ACCEPT})
    events = [json.loads(line) for line in response.get_data().splitlines() if line.strip()]
    assert [e["type"] for e in events] == ["ADDED"]
    obj = events[0]["object"]
    assert obj["kind"] == "PartialObjectMetadata" and set(obj) == {"kind", "apiVersion", "metadata"}
    assert obj["metadata"]["labels"] == {"app": "a"}
