"""ConfigMaps, Secrets and ServiceAccounts through the handlers: defaults, validation, immutability, tables."""
from __future__ import annotations

import base64

import pytest

CMS = "/api/v1/namespaces/default/configmaps"
SECRETS = "/api/v1/namespaces/default/secrets"
SAS = "/api/v1/namespaces/default/serviceaccounts"
TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def causes(response) -> list[tuple[str, str]]:
    status = response.get_json()
    assert (response.status_code, status["reason"]) == (422, "Invalid"), status
    return [(c["field"], c["message"]) for c in status["details"]["causes"]]


def test_secret_defaults_and_string_data(client):
    """type defaults to Opaque; stringData is merged into data (base64) and never stored."""
    created = client.post(SECRETS, json={"metadata": {"name": "s"}, "data": {"a": b64(b"1"), "b": b64(b"2")},
                                         "stringData": {"b": "two", "c": "3"}}).get_json()
    assert created["type"] == "Opaque"
    assert created["data"] == {"a": b64(b"1"), "b": b64(b"two"), "c": b64(b"3")}
    assert "stringData" not in created
    again = client.get(SECRETS + "/s").get_json()
    assert again["data"] == created["data"] and "stringData" not in again


def test_base64_that_is_not_is_400_and_nothing_is_stored(client, revision):
    before = revision()
    for url, body in [(SECRETS, {"metadata": {"name": "s"}, "data": {"k": "not base64!"}}),
                      (CMS, {"metadata": {"name": "c"}, "binaryData": {"k": "%%%"}})]:
        response = client.post(url, json=body)
        status = response.get_json()
        assert (response.status_code, status["reason"]) == (400, "BadRequest")
        assert "illegal base64 data" in status["message"]
    assert revision() == before


def test_keys_are_validated(client):
    found = causes(client.post(CMS, json={"metadata": {"name": "c"}, "data": {"a b": "x", "..": "y", "k": "z"},
                                          "binaryData": {"k": b64(b"z")}}))
    assert ("data[a b]", 'Invalid value: "a b": a valid config key must consist of alphanumeric characters, '
            "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
            "'[-._a-zA-Z0-9]+')") in found
    assert ("data[..]", "Invalid value: \"..\": must not be '..'") in found
    assert ("data[k]", 'Invalid value: "k": duplicate of key present in binaryData') in found
    tls = causes(client.post(SECRETS, json={"metadata": {"name": "t"}, "type": "kubernetes.io/tls",
                                            "data": {"tls.crt": b64(b"c")}}))
    assert tls == [("data[tls.key]", "Required value")]


def test_size_limit(client):
    found = causes(client.post(CMS, json={"metadata": {"name": "big"}, "data": {"k": "x" * (1024 * 1024 + 1)}}))
    assert found == [("", "Too long: may not be more than 1048576 bytes")]


def test_immutable_data_and_secret_type(client):
    cm = client.post(CMS, json={"metadata": {"name": "c"}, "data": {"a": "1"}, "immutable": True}).get_json()
    found = causes(client.put(CMS + "/c", json=dict(cm, data={"a": "2"})))
    assert found == [("data", "Forbidden: field is immutable when `immutable` is set")]
    found = causes(client.put(CMS + "/c", json=dict(cm, immutable=False)))
    assert found == [("immutable", "Forbidden: field is immutable when `immutable` is set")]
    labelled = dict(cm, metadata=dict(cm["metadata"], labels={"x": "y"}))
    assert client.put(CMS + "/c", json=labelled).status_code == 200     # metadata may still change
    secret = client.post(SECRETS, json={"metadata": {"name": "s"}}).get_json()
    found = causes(client.put(SECRETS + "/s", json=dict(secret, type="kubernetes.io/ssh-auth",
                                                        data={"ssh-privatekey": b64(b"k")})))
    assert ("type", 'Invalid value: "kubernetes.io/ssh-auth": field is immutable') in found


@pytest.mark.parametrize("url, body, columns, cells", [
    (CMS, {"metadata": {"name": "c"}, "data": {"a": "1"}, "binaryData": {"b": b64(b"\x00")}},
     ["Name", "Data", "Age"], ["c", 2]),
    (SECRETS, {"metadata": {"name": "s"}, "stringData": {"p": "q"}}, ["Name", "Type", "Data", "Age"],
     ["s", "Opaque", 1]),
    (SAS, {"metadata": {"name": "sa1"}, "secrets": [{"name": "a"}, {"name": "b"}]}, ["Name", "Secrets", "Age"],
     ["sa1", 2]),
])
def test_tables(client, url, body, columns, cells):
    assert client.post(url, json=body).status_code == 201
    table = client.get(url, headers=TABLE).get_json()
    assert [c["name"] for c in table["columnDefinitions"]] == columns
    assert table["rows"][0]["cells"][:-1] == cells
