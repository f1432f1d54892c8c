"""LIST with limit/continue: pages at one revision, remainingItemCount, selectors, bad tokens."""
from __future__ import annotations

from api_testing import pod

PODS = "/api/v1/namespaces/default/pods"


def _names(body) -> list[str]:
    return [p["metadata"]["name"] for p in body["items"]]


def test_pages_cover_everything_once_at_one_revision(client):
    """limit=3 over 8 pods: pages of 3,3,2, remainingItemCount, one resourceVersion, later writes unseen."""
    for i in range(8):
        client.post(PODS, json=pod(f"p{i}"))
    first = client.get(PODS + "?limit=3").get_json()
    rv = first["metadata"]["resourceVersion"]
    assert _names(first) == ["p0", "p1", "p2"] and first["metadata"]["remainingItemCount"] == 5
    client.post(PODS, json=pod("p3a"))          # after the first page: not in this list
    client.delete(PODS + "/p7")
    second = client.get(PODS + "?limit=3&continue=" + first["metadata"]["continue"]).get_json()
    assert _names(second) == ["p3", "p4", "p5"] and second["metadata"]["resourceVersion"] == rv
    third = client.get(PODS + "?limit=3&continue=" + second["metadata"]["continue"]).get_json()
    assert _names(third) == ["p6", "p7"]
    assert "continue" not in third["metadata"] and "remainingItemCount" not in third["metadata"]


def test_exact_page_has_no_continue(client):
    """When the last page is exactly full there is no continue token."""
    for i in range(2):
        client.post(PODS, json=pod(f"p{i}"))
    body = client.get(PODS + "?limit=2").get_json()
    assert _names(body) == ["p0", "p1"] and "continue" not in body["metadata"]


def test_paging_with_selector_fills_pages(client):
    """With a label selector each page still holds `limit` matching items."""
    for i in range(9):
        client.post(PODS, json=pod(f"p{i}", labels={"even": str(i % 2 == 0).lower()}))
    page = client.get(PODS + "?limit=2&labelSelector=even%3Dtrue").get_json()
    names = _names(page)
    while page["metadata"].get("continue"):
        page = client.get(PODS + "?limit=2&labelSelector=even%3Dtrue&continue=" +
                          page["metadata"]["continue"]).get_json()
        names += _names(page)
    assert names == ["p0", "p2", "p4", "p6", "p8"]


def test_continue_after_compaction_is_expired(client, etcd_client):
    """A continue token whose revision was compacted is 410 Expired."""
    for i in range(3):
        client.post(PODS, json=pod(f"p{i}"))
    token = client.get(PODS + "?limit=1").get_json()["metadata"]["continue"]
    last = client.post(PODS, json=pod("late")).get_json()["metadata"]["resourceVersion"]
    client.post(PODS, json=pod("later"))
    etcd_client.compact(int(last) + 1, physical=True)
    r = client.get(PODS + "?limit=1&continue=" + token)
    assert r.status_code == 410 and r.get_json()["reason"] == "Expired"


def test_table_list_pages(client):
    """A Table list pages too and carries the continue token."""
    for i in range(3):
        client.post(PODS, json=pod(f"p{i}"))
    table = client.get(PODS + "?limit=2", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    body = table.get_json()
    assert body["kind"] == "Table" and [r["cells"][0] for r in body["rows"]] == ["p0", "p1"]
    assert body["metadata"]["continue"]
