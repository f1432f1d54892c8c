"""Pod probes and init containers at the API server: upstream's defaults and validation messages."""
from __future__ import annotations

from api_testing import pod

PODS = "/api/v1/namespaces/default/pods"


def test_probe_defaults(client):
    body = pod("p")
    body["spec"]["containers"][0].update(
        livenessProbe={"httpGet": {"port": 80}},
        readinessProbe={"exec": {"command": ["true"]}, "periodSeconds": 2, "failureThreshold": 5})
    c = client.post(PODS, json=body).get_json()["spec"]["containers"][0]
    assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert (c["readinessProbe"]["periodSeconds"], c["readinessProbe"]["failureThreshold"]) == (2, 5)


def test_probe_and_init_container_validation(client):
    body = pod("p")
    body["spec"]["containers"][0].update(livenessProbe={"periodSeconds": 1},
                                         startupProbe={"exec": {"command": ["true"]}, "tcpSocket": {"port": 1},
                                                       "successThreshold": 2})
    body["spec"]["initContainers"] = [
        {"name": "init", "image": "busybox", "readinessProbe": {"exec": {"command": ["true"]}}},
        {"name": "side", "image": "busybox", "restartPolicy": "OnFailure"}]
    r = client.post(PODS, json=body)
    assert r.status_code == 422
    causes = {(c["field"], c["message"]) for c in r.get_json()["details"]["causes"]}
    assert causes == {
        ("spec.containers[0].livenessProbe", "Required value: must specify a handler type"),
        ("spec.containers[0].startupProbe.tcpSocket", "Forbidden: may not specify more than 1 handler type"),
        ("spec.containers[0].startupProbe.successThreshold", "Invalid value: 2: must be 1"),
        ("spec.initContainers[0].readinessProbe",
         "Forbidden: may not be set for init containers without restartPolicy=Always"),
        ("spec.initContainers[1].restartPolicy", 'Unsupported value: "OnFailure": supported values: "Always"'),
    }, causes


def test_sidecar_may_have_probes(client):
    body = pod("p")
    body["spec"]["initContainers"] = [{"name": "side", "image": "busybox", "restartPolicy": "Always",
                                       "readinessProbe": {"exec": {"command": ["true"]}}}]
    assert client.post(PODS, json=body).status_code == 201
