"""Services: defaults, ClusterIP allocation in etcd (safe across API server processes), kubectl's view."""
from __future__ import annotations

import ipaddress
import threading

import pytest
import requests

from labserver.apiserver.ipallocator import ServiceRange
from labserver.lab.supervise.components import start_apiserver
from api_testing import pod
from kubectl_testing import kubectl, table  # noqa: F401

SERVICES = "/api/v1/namespaces/default/services"
IPS = "/apis/networking.k8s.io/v1/ipaddresses"
RANGE = ipaddress.ip_network("10.0.0.0/16")   # what the fixtures pass as --service-cluster-ip-range

# The tests on an API server process share one for the module, each in its own namespace (the in-process
# `svc_client` tests and test_a_full_range keep their own etcd prefixes, and start no API server).
shared = pytest.mark.shared_apiserver


def service(name: str, port: int = 80, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": port}], **spec}}


def owners(items: list[dict]) -> dict[str, str]:
    """IPAddress name -> `namespace/name` of the Service that holds it."""
    return {i["metadata"]["name"]: f'{i["spec"]["parentRef"]["namespace"]}/{i["spec"]["parentRef"]["name"]}'
            for i in items}


def allocated(client) -> dict[str, str]:
    return owners(client.get(IPS).json["items"])


@pytest.fixture
def svc_client(app):
    """The in-process app, with the kubernetes service bootstrapped as the server does."""
    from labserver.apiserver.strategies.service import bootstrap_kubernetes_service
    assert bootstrap_kubernetes_service(app.extensions["labserver.storage"], "10.0.0.0/16", 8080) is None
    return app.test_client()


def test_create_defaults_and_allocates_from_the_range(svc_client):
    """A bare Service gets upstream's defaults and a ClusterIP in the range, recorded as an IPAddress."""
    response = svc_client.post(SERVICES, json=service("web", 80))
    assert response.status_code == 201, response.json
    spec = response.json["spec"]
    assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
    ip = spec["clusterIP"]
    assert spec["clusterIPs"] == [ip] and ipaddress.ip_address(ip) in RANGE
    assert ip not in ("10.0.0.0", "10.0.0.1", "10.0.255.255")
    assert response.json["status"] == {"loadBalancer": {}}
    assert allocated(svc_client) == {"10.0.0.1": "default/kubernetes", ip: "default/web"}


def test_the_kubernetes_service_is_the_first_address_on_443(svc_client):
    """Bootstrap creates default/kubernetes like upstream's: 10.0.0.1, port https 443, apiserver labels."""
    svc = svc_client.get(f"{SERVICES}/kubernetes").json
    assert svc["spec"]["clusterIP"] == "10.0.0.1"
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8080}]
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}


def test_requested_cluster_ip_outside_the_range_or_taken_is_422(svc_client, revision):
    """Upstream's 422 messages, and nothing written."""
    before = revision()
    outside = svc_client.post(SERVICES, json=service("a", clusterIP="1.1.1.1"))
    assert outside.status_code == 422 and outside.json["reason"] == "Invalid"
    assert outside.json["message"] == (
        'Service "a" is invalid: spec.clusterIPs: Invalid value: []string{"1.1.1.1"}: failed to allocate IP '
        '1.1.1.1: the provided IP (1.1.1.1) is not in the valid range. The range of valid IPs is 10.0.0.0/16')
    taken = svc_client.post(SERVICES, json=service("b", clusterIP="10.0.0.1"))
    assert taken.status_code == 422
    assert taken.json["message"].endswith("failed to allocate IP 10.0.0.1: provided IP is already allocated")
    assert taken.json["details"]["causes"][0]["field"] == "spec.clusterIPs"
    bad = svc_client.post(SERVICES, json=service("c", clusterIP="not-an-ip"))
    assert bad.status_code == 422 and "spec.clusterIPs[0]" in bad.json["message"]
    assert revision() == before


def test_requested_address_in_range_is_granted(svc_client):
    response = svc_client.post(SERVICES, json=service("fixed", clusterIP="10.0.0.42"))
    assert response.status_code == 201 and response.json["spec"]["clusterIPs"] == ["10.0.0.42"]
    assert allocated(svc_client)["10.0.0.42"] == "default/fixed"


def test_validation_names_every_problem(svc_client):
    body = service("bad", ports=[{"port": 0, "protocol": "ICMP"}, {"port": 80}], type="NodePort")
    response = svc_client.post(SERVICES, json=body)
    assert response.status_code == 422
    fields = {c["field"] for c in response.json["details"]["causes"]}
    assert {"spec.type", "spec.ports[0].port", "spec.ports[0].protocol", "spec.ports[0].name",
            "spec.ports[1].name"} <= fields
    assert svc_client.post(SERVICES, json=service("none", ports=[])).json["message"] == (
        'Service "none" is invalid: spec.ports: Required value')


def test_headless_and_external_name_get_no_address(svc_client):
    headless = svc_client.post(SERVICES, json=service("db", clusterIP="None"))
    assert headless.status_code == 201 and headless.json["spec"]["clusterIPs"] == ["None"]
    external = svc_client.post(SERVICES, json={"metadata": {"name": "ext"}, "spec": {
        "type": "ExternalName", "externalName": "example.com"}})
    assert external.status_code == 201 and "clusterIP" not in external.json["spec"]
    with_ip = svc_client.post(SERVICES, json={"metadata": {"name": "ext2"}, "spec": {
        "type": "ExternalName", "externalName": "example.com", "clusterIP": "10.0.0.9"}})
    assert with_ip.status_code == 422 and with_ip.json["details"]["causes"][0]["field"] == "spec.clusterIP"
    assert set(allocated(svc_client)) == {"10.0.0.1"}
    assert svc_client.delete(f"{SERVICES}/db").status_code == 200


def test_update_keeps_the_address_and_refuses_to_change_it(svc_client):
    created = svc_client.post(SERVICES, json=service("web")).json
    ip = created["spec"]["clusterIP"]
    replacement = service("web", 8080)   # a PUT without clusterIP, as `kubectl replace` of the manifest
    replacement["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    updated = svc_client.put(f"{SERVICES}/web", json=replacement)
    assert updated.status_code == 200, updated.json
    assert updated.json["spec"]["clusterIP"] == ip and updated.json["spec"]["ports"][0]["port"] == 8080
    changed = svc_client.patch(f"{SERVICES}/web", json={"spec": {"clusterIP": "10.0.0.77", "clusterIPs": None}},
                               headers={"Content-Type": "application/merge-patch+json"})
    assert changed.status_code == 422
    assert changed.json["details"]["causes"][0] == {
        "reason": "FieldValueInvalid", "field": "spec.clusterIPs[0]",
        "message": 'Invalid value: "10.0.0.77": may not change once set'}


def test_delete_releases_the_address_and_dry_run_allocates_nothing(svc_client, revision):
    ip = svc_client.post(SERVICES, json=service("web")).json["spec"]["clusterIP"]
    before = revision()
    dry = svc_client.post(f"{SERVICES}?dryRun=All", json=service("dry"))
    assert dry.status_code == 201 and ipaddress.ip_address(dry.json["spec"]["clusterIP"]) in RANGE
    assert revision() == before and "dry" not in allocated(svc_client).values()
    assert svc_client.delete(f"{SERVICES}/web").status_code == 200
    assert ip not in allocated(svc_client)
    again = svc_client.post(SERVICES, json=service("again", clusterIP=ip))   # the address is free again
    assert again.status_code == 201


def test_ipaddresses_are_read_only(svc_client):
    assert svc_client.post(IPS, json={"metadata": {"name": "10.0.0.9"}}).status_code == 405
    assert svc_client.delete(f"{IPS}/10.0.0.1").status_code == 405
    assert svc_client.get(f"{IPS}/10.0.0.1").json["spec"]["parentRef"]["name"] == "kubernetes"


def test_candidates_prefer_the_upper_band_and_skip_the_kubernetes_address():
    small = ServiceRange("10.0.0.0/28")    # 14 usable addresses, static band 16: lower band only
    picks = small.candidates({"10.0.0.1"})
    assert sorted(picks, key=ipaddress.ip_address) == [f"10.0.0.{i}" for i in range(2, 15)]
    big = ServiceRange("10.0.0.0/16")
    assert all(ipaddress.ip_address(ip) >= ipaddress.ip_address("10.0.1.1") for ip in big.candidates(set()))
    assert small.candidates({f"10.0.0.{i}" for i in range(1, 15)}) == []


@shared
def test_concurrent_creates_on_two_api_servers_get_distinct_addresses(etcd, etcd_prefix, apiserver, tmp_path,
                                                                        namespace):
    """20 creates at once, split over two API server processes (each with two workers) on one etcd.
    (The second server is this test's own, on the shared one's prefix; of the addresses allocated in the
    whole cluster, those of the test's namespace and the kubernetes service's are looked at.)"""
    services = f"/api/v1/namespaces/{namespace}/services"
    second = start_apiserver(etcd.client_url, tmp_path / "second.log", extra_args=[f"--etcd-prefix={etcd_prefix}"])
    try:
        urls = [apiserver.url, second.url]
        results: dict[str, requests.Response] = {}

        def create(i: int):
            results[f"s{i}"] = requests.post(urls[i % 2] + services, json=service(f"s{i}"), timeout=30)
        threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert all(r.status_code == 201 for r in results.values()), [r.text for r in results.values()
                                                                     if r.status_code != 201]
        ips = [r.json()["spec"]["clusterIP"] for r in results.values()]
        assert len(set(ips)) == 20 and all(ipaddress.ip_address(ip) in RANGE for ip in ips)
        held = _allocated_over_http(apiserver.url)
        assert {held[ip] for ip in ips} == {f"{namespace}/s{i}" for i in range(20)}
        for i in range(20):
            assert requests.delete(f"{urls[i % 2]}{services}/s{i}", timeout=30).status_code == 200
        left = {ip: owner for ip, owner in _allocated_over_http(second.url).items()
                if owner.startswith(f"{namespace}/") or owner == "default/kubernetes"}
        assert left == {"10.0.0.1": "default/kubernetes"}
    finally:
        second.stop()


def _allocated_over_http(url: str) -> dict[str, str]:
    return owners(requests.get(url + IPS, timeout=30).json()["items"])


# -- kubectl ---------------------------------------------------------------------------------

SVC_YAML = """apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"""


@shared
def test_kubectl_create_get_describe_and_delete_a_service(kubectl, tmp_path, namespace):
    """`kubectl create -f`, `get svc` (kubectl's columns, the kubernetes service in default, web in the test's
    namespace), `-o wide`, delete (of the cluster's addresses, those of default and the test's namespace)."""
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(SVC_YAML)
    assert kubectl("create", "-n", namespace, "-f", str(manifest)).stdout.strip() == "service/web created"
    header = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    default = table(kubectl("get", "svc", "-n", "default").stdout)
    assert default[0] == header
    assert default[1][:5] == ["kubernetes", "ClusterIP", "10.0.0.1", "<none>", "443/TCP"]
    rows = table(kubectl("get", "svc", "-n", namespace).stdout)
    assert rows[0] == header
    assert rows[1][0:2] == ["web", "ClusterIP"] and ipaddress.ip_address(rows[1][2]) in RANGE
    assert rows[1][3:5] == ["<none>", "80/TCP"]
    wide = table(kubectl("get", "services", "-n", namespace, "-o", "wide").stdout)
    assert wide[0][-1] == "SELECTOR" and wide[1][-1] == "app=web"
    described = dict(line.split(":", 1)
                     for line in kubectl("describe", "svc", "web", "-n", namespace).stdout.splitlines())
    assert described["TargetPort"].strip() == "8080/TCP" and described["IP"].strip() == rows[1][2]
    assert described["Endpoints"].strip() == "<none>"   # no endpoints controller (yet)
    assert kubectl("delete", "svc", "web", "-n", namespace).returncode == 0
    addresses = table(kubectl("get", "ipaddresses").stdout)
    assert addresses[0][:2] == ["NAME", "PARENTREF"]
    assert [r[0] for r in addresses[1:] if r[1].split("/")[1] in ("default", namespace)] == ["10.0.0.1"]


@shared
def test_kubectl_apply_updates_a_service_and_keeps_its_address(kubectl, tmp_path, namespace):
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(SVC_YAML)
    kubectl("apply", "-n", namespace, "-f", str(manifest))
    first = table(kubectl("get", "svc", "web", "-n", namespace).stdout)[1]
    manifest.write_text(SVC_YAML.replace("  - port: 80\n    targetPort: 8080\n",
                                         "  - port: 80\n    targetPort: 8080\n    name: http\n"
                                         "  - port: 443\n    name: https\n"))
    assert kubectl("apply", "-n", namespace, "-f", str(manifest)).stdout.strip() == "service/web configured"
    second = table(kubectl("get", "svc", "web", "-n", namespace).stdout)[1]
    assert second[2] == first[2] and second[4] == "80/TCP,443/TCP"


@shared
def test_kubectl_expose_pod(api, kubectl, namespace):
    """`kubectl expose pod nginx --port=80`: a Service selecting the pod's labels."""
    created = api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod("nginx", labels={"run": "nginx"}))
    assert created.status_code == 201, created.text
    assert kubectl("expose", "pod", "nginx", "-n", namespace, "--port=80").stdout.strip() == "service/nginx exposed"
    row = table(kubectl("get", "svc", "nginx", "-n", namespace, "-o", "wide").stdout)[1]
    assert row[1] == "ClusterIP" and row[4] == "80/TCP" and row[6] == "run=nginx"


@shared
def test_kubectl_cluster_info(apiserver, kubectl):
    """kubectl lists kube-system services labelled kubernetes.io/cluster-service=true: there are none."""
    out = kubectl("cluster-info").stdout
    assert out.splitlines()[0] == f"Kubernetes control plane is running at {apiserver.url}"
    assert "kubectl cluster-info dump" in out


@shared
def test_kubectl_create_service_clusterip(kubectl, namespace):
    assert kubectl("create", "service", "clusterip", "web", "--tcp=80:8080", "-n", namespace).stdout.strip() == \
        "service/web created"
    row = table(kubectl("get", "svc", "web", "-n", namespace).stdout)[1]
    assert row[4] == "80/TCP"


@shared
def test_official_client_reads_and_writes_services(apiserver, namespace):
    """Typed V1Service objects round-trip; the kubernetes service reads back as the client expects.
    (Of all namespaces' services, those of default and the test's namespace are looked at.)"""
    from kubernetes import client as k8s
    with k8s.ApiClient(k8s.Configuration(host=apiserver.url)) as api_client:
        core = k8s.CoreV1Api(api_client)
        created = core.create_namespaced_service(namespace, k8s.V1Service(
            metadata=k8s.V1ObjectMeta(name="web"),
            spec=k8s.V1ServiceSpec(selector={"app": "web"}, ports=[k8s.V1ServicePort(port=80, target_port=8080)])))
        assert isinstance(created, k8s.V1Service) and created.spec.ports[0].target_port == 8080
        assert ipaddress.ip_address(created.spec.cluster_ip) in RANGE
        kubernetes = core.read_namespaced_service("kubernetes", "default")
        assert kubernetes.spec.cluster_ip == "10.0.0.1" and kubernetes.spec.ports[0].port == 443
        names = sorted(s.metadata.name for s in core.list_service_for_all_namespaces().items
                       if s.metadata.namespace in ("default", namespace))
        assert names == ["kubernetes", "web"]
        core.delete_namespaced_service("web", namespace)
        assert [s.metadata.name for s in core.list_namespaced_service(namespace).items] == []
        assert [s.metadata.name for s in core.list_namespaced_service("default").items] == ["kubernetes"]


def test_a_full_range_is_500_and_a_delete_makes_room(etcd, etcd_prefix):
    """10.0.0.0/29: six usable addresses, the first the kubernetes service's; the sixth Service finds none."""
    from labserver.apiserver import create_app
    from labserver.apiserver.storage import bootstrap_namespaces
    from labserver.apiserver.strategies.service import bootstrap_kubernetes_service
    app = create_app({"ETCD_SERVERS": [etcd.client_url], "SERVICE_CLUSTER_IP_RANGE": "10.0.0.0/29",
                      "ETCD_PREFIX": etcd_prefix})
    storage = app.extensions["labserver.storage"]
    try:
        bootstrap_namespaces(storage)
        bootstrap_kubernetes_service(storage, "10.0.0.0/29", 8080)
        client = app.test_client()
        ips = {client.post(SERVICES, json=service(f"s{i}")).json["spec"]["clusterIP"] for i in range(5)}
        assert ips == {f"10.0.0.{i}" for i in range(2, 7)}
        full = client.post(SERVICES, json=service("s5"))
        assert full.status_code == 500 and full.json["message"] == (
            "Internal error occurred: failed to allocate a serviceIP: range is full")
        assert client.delete(f"{SERVICES}/s0").status_code == 200
        assert client.post(SERVICES, json=service("s5")).status_code == 201
    finally:
        storage.close()
