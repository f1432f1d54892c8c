"""/metrics: upstream's request, watch and etcd metrics, in Prometheus text format, moving with traffic."""
from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from labserver.lab.supervise.components import start_apiserver
from labserver.lab.supervise.procs import wait_for
from api_testing import pod
from kubectl_testing import Kubectl


@pytest.fixture
def one_worker(etcd, etcd_prefix, tmp_path):
    """An API server with one worker process: every request lands on the counters /metrics shows."""
    server = start_apiserver(etcd.client_url, tmp_path / "apiserver.log", extra_args=["--workers=1", f"--etcd-prefix={etcd_prefix}"])
    yield server
    server.stop()


def samples(url: str) -> dict[tuple, float]:
    """(sample name, sorted label items) -> value, parsed with prometheus_client's own parser."""
    response = requests.get(url + "/metrics", timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(all_samples: dict, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(v for (n, items), v in all_samples.items()
               if n == name and labels.items() <= dict(items).items())


def test_request_and_etcd_metrics_move_with_requests(one_worker):
    url = one_worker.url
    pods = f"{url}/api/v1/namespaces/default/pods"
    before = samples(url)
    assert requests.post(pods, json=pod("a"), timeout=30).status_code == 201
    assert requests.post(pods, json=pod("a"), timeout=30).status_code == 409
    assert requests.get(pods, timeout=30).status_code == 200
    assert requests.get(f"{pods}/missing", timeout=30).status_code == 404
    # a request is counted once its response is closed, a moment after the client has it all
    wait_for(lambda: value(samples(url), "apiserver_request_total", resource="pods")
             - value(before, "apiserver_request_total", resource="pods") == 4, 10, "four pod requests counted")
    after = samples(url)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)
    common = {"component": "apiserver", "group": "", "version": "v1", "resource": "pods", "scope": "namespace"}
    assert moved("apiserver_request_total", verb="POST", code="201", **common) == 1
    assert moved("apiserver_request_total", verb="POST", code="409", **common) == 1
    assert moved("apiserver_request_total", verb="LIST", code="200", **common) == 1
    assert moved("apiserver_request_total", verb="GET", code="404", **common) == 1
    assert moved("apiserver_request_duration_seconds_count", verb="POST", **common) == 2
    assert moved("apiserver_request_duration_seconds_bucket", verb="LIST", le="+Inf", **common) == 1
    assert moved("apiserver_request_duration_seconds_sum", verb="POST", **common) > 0
    assert moved("etcd_request_duration_seconds_count", operation="create", group="", resource="pods") == 2
    assert moved("etcd_requests_total", operation="list", group="", resource="pods") == 1
    assert moved("etcd_requests_total", operation="get", group="", resource="pods") == 1


def test_open_watches_are_counted_until_they_end(one_worker):
    url = one_worker.url
    labels = {"verb": "WATCH", "resource": "pods", "scope": "cluster", "group": "", "version": "v1"}
    assert value(samples(url), "apiserver_longrunning_requests", **labels) == 0
    with requests.get(f"{url}/api/v1/pods?watch=true&timeoutSeconds=30", stream=True, timeout=30) as watch:
        assert watch.status_code == 200
        assert value(samples(url), "apiserver_longrunning_requests", **labels) == 1
    wait_for(lambda: value(samples(url), "apiserver_longrunning_requests", **labels) == 0, 10,
             "the closed watch to leave apiserver_longrunning_requests")
    assert value(samples(url), "apiserver_request_total", **labels, code="200") == 1


def test_kubectl_get_raw_metrics(one_worker, tmp_path):
    kubectl = Kubectl(one_worker.url, tmp_path / "kubectl-home")
    kubectl("get", "pods")
    wait_for(lambda: 'resource="pods"' in kubectl("get", "--raw", "/metrics").stdout, 10, "kubectl's LIST counted")
    text = kubectl("get", "--raw", "/metrics").stdout
    for name in ("# TYPE apiserver_request_total counter", "# TYPE apiserver_request_duration_seconds histogram",
                 "# TYPE apiserver_longrunning_requests gauge", "# TYPE etcd_request_duration_seconds histogram"):
        assert name in text
    assert 'apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",' \
           'scope="namespace",subresource="",verb="LIST",version="v1"} 1.0' in text
    assert "_created" not in text
