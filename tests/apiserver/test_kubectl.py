"""The real kubectl 1.37 drives our API server as it drives a real cluster."""
from __future__ import annotations

import json
import queue
import re
import threading

import pytest
import yaml

from labserver.lab.supervise.procs import wait_for
from api_testing import NGINX_POD, pod
from kubectl_testing import kubectl, record_event, register_node, table  # noqa: F401

pytestmark = pytest.mark.shared_apiserver   # one API server for the module, each test in its own namespace

AGE = re.compile(r"^\d+s$")
POST_POD_YAML = yaml.safe_dump(NGINX_POD, sort_keys=False)


def create(api, body, namespace):
    response = api.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def set_running(api, name: str, namespace):
    """Write the status the kubelet writes once every container runs and is ready."""
    current = api.get(f"/api/v1/namespaces/{namespace}/pods/{name}").json()
    current["status"].update({
        "phase": "Running", "podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}], "hostIP": "127.0.0.1",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": "", "ready": True,
                               "restartCount": 0, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
                              for c in current["spec"]["containers"]]})
    response = api.put(f"/api/v1/namespaces/{namespace}/pods/{name}/status", json=current)
    assert response.status_code == 200, response.text


def test_get_nodes_prints_a_ready_node(api, kubectl, namespace):
    """`kubectl get nodes` prints NAME STATUS ROLES AGE VERSION with the node Ready (this test's node's row:
    the module's other tests register nodes on the same server)."""
    node = f"{namespace}-node"
    register_node(api, node)
    rows = table(kubectl("get", "nodes").stdout)
    assert rows[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    mine = [row for row in rows[1:] if row[0] == node]
    assert len(mine) == 1 and mine[0][:3] == [node, "Ready", "<none>"] and AGE.match(mine[0][3])
    wide = table(kubectl("get", "nodes", "-o", "wide").stdout)
    mine = [row for row in wide[1:] if row[0] == node]
    assert wide[0][5:7] == ["INTERNAL-IP", "EXTERNAL-IP"] and len(mine) == 1 and mine[0][5] == "127.0.0.1"


def test_get_pods_columns_as_a_real_cluster(api, kubectl, namespace):
    """`kubectl get pods` prints NAME READY STATUS RESTARTS AGE, 0/2 Pending then 2/2 Running."""
    assert kubectl("get", "pods", "-n", namespace).stderr.strip() == f"No resources found in {namespace} namespace."
    create(api, NGINX_POD, namespace)
    rows = table(kubectl("get", "pods", "-n", namespace).stdout)
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows[1][:4] == ["nginx", "0/2", "Pending", "0"] and AGE.match(rows[1][4])
    set_running(api, "nginx", namespace)
    assert table(kubectl("get", "pods", "-n", namespace).stdout)[1][:4] == ["nginx", "2/2", "Running", "0"]


@pytest.fixture
def three_pods(api, namespace):
    """web (labelled, bound to lab-node, running), db (unbound) in the test's namespace, and sys in a second
    namespace of the test's own, `<namespace>sys` (which sorts after it, as kube-system after default, in
    etcd's key order too).
    Each is labelled test=<namespace>, so that an all-namespaces listing can select this test's pods.
    Returns (namespace, the second namespace)."""
    other = f"{namespace}sys"
    response = api.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": other}})
    assert response.status_code == 201, response.text
    mine = {"test": namespace}
    create(api, pod("web", node="lab-node", labels={"app": "web", **mine}), namespace)
    set_running(api, "web", namespace)
    create(api, pod("db", labels={"app": "db", **mine}), namespace)
    create(api, pod("sys", labels=mine), other)
    return namespace, other


@pytest.mark.parametrize("args, expected", [
    (["-A"], [["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["NS", "db"], ["NS", "web"],
              ["NSsys", "sys"]]),
    (["-l", "app=web"], [["NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["web"]]),
    (["-l", "app!=web"], [["NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["db"]]),
    (["--field-selector", "spec.nodeName=lab-node"], [["NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["web"]]),
    (["--field-selector", "status.phase=Pending"], [["NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["db"]]),
    (["-o", "wide"], [["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                       "READINESS GATES"], ["db"], ["web"]]),
])
def test_get_pods_variants(three_pods, kubectl, args, expected):
    """-A adds NAMESPACE; -l and --field-selector filter on the server; -o wide adds the wide columns.
    (NS is the test's namespace; with -A, the rows of the other tests' namespaces are left out.)"""
    namespace, other = three_pods
    expected = [[cell.replace("NS", namespace) if cell.startswith("NS") else cell for cell in row]
                for row in expected]
    rows = table(kubectl("get", "pods", "-n", namespace, *args).stdout)
    if "-A" in args:
        rows = rows[:1] + [row for row in rows[1:] if row[0] in (namespace, other)]
    assert rows[0] == expected[0]
    assert [row[:len(want)] for row, want in zip(rows[1:], expected[1:])] == expected[1:]
    assert len(rows) == len(expected)


def test_get_pods_wide_cells(three_pods, kubectl):
    """-o wide shows the pod IP and node of a bound pod, <none> for an unbound one."""
    namespace, _ = three_pods
    rows = {row[0]: row for row in table(kubectl("get", "pods", "-n", namespace, "-o", "wide").stdout)[1:]}
    assert rows["web"][1:3] == ["1/1", "Running"] and rows["web"][5:7] == ["10.0.0.7", "lab-node"]
    assert rows["db"][5:] == ["<none>", "<none>", "<none>", "<none>"]


@pytest.mark.parametrize("fmt, parse", [("yaml", yaml.safe_load), ("json", json.loads)])
def test_get_pods_as_yaml_and_json(three_pods, kubectl, fmt, parse):
    """-o yaml / -o json print the objects as stored: a List, and a single Pod with its uid."""
    namespace, _ = three_pods
    listing = parse(kubectl("get", "pods", "-n", namespace, "-o", fmt).stdout)
    assert listing["kind"] == "List" and sorted(p["metadata"]["name"] for p in listing["items"]) == ["db", "web"]
    one = parse(kubectl("get", "pod", "web", "-n", namespace, "-o", fmt).stdout)
    assert (one["kind"], one["metadata"]["name"], one["spec"]["nodeName"]) == ("Pod", "web", "lab-node")
    assert one["metadata"]["uid"] and one["metadata"]["resourceVersion"].isdigit()


def test_get_pods_as_names(three_pods, kubectl):
    """-o name prints pod/<name> per pod (with -A, this test's pods: those labelled test=<namespace>)."""
    namespace, _ = three_pods
    assert kubectl("get", "pods", "-n", namespace, "-o", "name").stdout.split() == ["pod/db", "pod/web"]
    assert kubectl("get", "pods", "-A", "-l", f"test={namespace}", "-o", "name").stdout.split() == \
        ["pod/db", "pod/web", "pod/sys"]


def test_get_missing_pod_and_bad_selector(kubectl, namespace):
    """A missing pod and an unsupported field selector come back as kubectl's server errors."""
    missing = kubectl("get", "pod", "nope", "-n", namespace, ok=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): pods "nope" not found' in missing.stderr
    bad = kubectl("get", "pods", "-n", namespace, "--field-selector", "spec.color=red", ok=False)
    assert "Error from server (BadRequest)" in bad.stderr and "field label not supported: spec.color" in bad.stderr


def test_get_pods_watch_shows_a_change(api, kubectl, namespace):
    """`kubectl get pods -w` prints the pod, then a new row when its status changes."""
    create(api, NGINX_POD, namespace)
    watcher = kubectl.popen("get", "pods", "-n", namespace, "-w")
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()

    def saw(pattern):
        def check():
            while not lines.empty():
                seen.append(lines.get())
            return any(re.search(pattern, line) for line in seen)
        return check
    try:
        wait_for(saw(r"^nginx\s+0/2\s+Pending"), 30, "the first row of kubectl get pods -w")
        set_running(api, "nginx", namespace)
        wait_for(saw(r"^nginx\s+2/2\s+Running"), 30, "the Running row of kubectl get pods -w")
    finally:
        watcher.kill()
        watcher.wait(10)
    assert seen[0].split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]


def test_create_from_yaml(api, kubectl, tmp_path, namespace):
    """`kubectl create -f` the post's pod as YAML: created with defaults; a second create is AlreadyExists."""
    manifest = tmp_path / "nginx.yaml"
    manifest.write_text(POST_POD_YAML)
    assert kubectl("create", "-n", namespace, "-f", str(manifest)).stdout.strip() == "pod/nginx created"
    stored = api.get(f"/api/v1/namespaces/{namespace}/pods/nginx").json()
    assert stored["spec"]["restartPolicy"] == "Always" and stored["status"]["phase"] == "Pending"
    again = kubectl("create", "-n", namespace, "-f", str(manifest), ok=False)
    assert again.returncode == 1
    assert 'Error from server (AlreadyExists): error when creating' in again.stderr
    assert 'pods "nginx" already exists' in again.stderr


def test_apply_created_unchanged_configured(api, kubectl, tmp_path, namespace):
    """`kubectl apply -f` creates, then reports unchanged, then configures an edit (strategic merge)."""
    manifest = tmp_path / "nginx.yaml"
    manifest.write_text(POST_POD_YAML)
    first = kubectl("apply", "-n", namespace, "-f", str(manifest))
    assert (first.stdout.strip(), first.stderr) == ("pod/nginx created", "")
    second = kubectl("apply", "-n", namespace, "-f", str(manifest))
    assert (second.stdout.strip(), second.stderr) == ("pod/nginx unchanged", "")
    edited = json.loads(json.dumps(NGINX_POD))
    edited["metadata"]["labels"] = {"app": "web"}
    edited["spec"]["containers"][1]["image"] = "busybox:1.36"
    manifest.write_text(yaml.safe_dump(edited, sort_keys=False))
    third = kubectl("apply", "-n", namespace, "-f", str(manifest))
    assert (third.stdout.strip(), third.stderr) == ("pod/nginx configured", "")
    stored = api.get(f"/api/v1/namespaces/{namespace}/pods/nginx").json()
    assert stored["metadata"]["labels"] == {"app": "web"}
    assert [(c["name"], c["image"]) for c in stored["spec"]["containers"]] == [("nginx", "nginx"),
                                                                               ("log-truncator", "busybox:1.36")]
    assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]


def test_server_side_apply(api, kubectl, tmp_path, namespace):
    """`kubectl apply --server-side` creates the pod and then updates it in place."""
    manifest = tmp_path / "nginx.yaml"
    manifest.write_text(POST_POD_YAML)
    assert kubectl("apply", "--server-side", "-n", namespace, "-f", str(manifest)).stdout.strip() == \
        "pod/nginx serverside-applied"
    uid = api.get(f"/api/v1/namespaces/{namespace}/pods/nginx").json()["metadata"]["uid"]
    edited = json.loads(json.dumps(NGINX_POD))
    edited["metadata"]["labels"] = {"tier": "front"}
    manifest.write_text(yaml.safe_dump(edited))
    assert kubectl("apply", "--server-side", "-n", namespace, "-f", str(manifest)).stdout.strip() == \
        "pod/nginx serverside-applied"
    stored = api.get(f"/api/v1/namespaces/{namespace}/pods/nginx").json()
    assert stored["metadata"]["uid"] == uid and stored["metadata"]["labels"] == {"tier": "front"}


BAD_POD = """apiVersion: v1
kind: Pod
metadata:
  name: typo
spec:
  containers:
  - name: c
    image: busybox
    imagePullPolcy: Always
"""


def test_unknown_field_rejected_under_strict(api, kubectl, tmp_path, etcd_client, namespace):
    """kubectl's default (strict) validation hands the check to the server: upstream's 400 strict decoding
    error, nothing written; --validate=warn creates the pod and prints the server's warning."""
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(BAD_POD)
    before = etcd_client.get_response("/").header.revision
    strict = kubectl("create", "-n", namespace, "-f", str(manifest), ok=False)
    assert strict.returncode == 1
    assert ('Error from server (BadRequest): error when creating "' in strict.stderr and
            'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field '
            '"spec.containers[0].imagePullPolcy"' in strict.stderr), strict.stderr
    assert etcd_client.get_response("/").header.revision == before
    assert api.get(f"/api/v1/namespaces/{namespace}/pods/typo").status_code == 404
    warn = kubectl("create", "-n", namespace, "-f", str(manifest), "--validate=warn")
    assert warn.stdout.strip() == "pod/typo created"
    assert 'Warning: unknown field "spec.containers[0].imagePullPolcy"' in warn.stderr


def test_describe_pod_with_events(api, kubectl, namespace):
    """`kubectl describe pod` shows the pod and the events recorded about it."""
    created = create(api, pod("web", node="lab-node", labels={"app": "web"}), namespace)
    record_event(api, created, "Scheduled", f"Successfully assigned {namespace}/web to lab-node")
    record_event(api, created, "BackOff", "Back-off restarting failed container c", "Warning")
    other = create(api, pod("other"), namespace)
    record_event(api, other, "Pulled", "not about web")
    out = kubectl("describe", "pod", "web", "-n", namespace).stdout
    assert re.search(r"^Name:\s+web$", out, re.M) and re.search(r"^Node:\s+lab-node", out, re.M)
    assert re.search(r"^Labels:\s+app=web$", out, re.M)
    events = out[out.index("\nEvents:"):]
    assert re.search(rf"Normal\s+Scheduled\s+\S+\s+kubelet\s+Successfully assigned {namespace}/web to lab-node", events)
    assert re.search(r"Warning\s+BackOff\s+\S+\s+kubelet\s+Back-off restarting failed container c", events)
    assert "not about web" not in events


def test_describe_node_with_events(api, kubectl, namespace):
    """`kubectl describe node` shows conditions, addresses, system info and the node's events."""
    name = f"{namespace}-node"
    node = register_node(api, name)
    record_event(api, node, "NodeReady", f"Node {name} status is now: NodeReady")
    out = kubectl("describe", "node", name).stdout
    assert re.search(r"Ready\s+True\s+.*KubeletReady\s+kubelet is posting ready status", out)
    assert re.search(r"InternalIP:\s+127\.0\.0\.1", out)
    assert re.search(r"Kubelet Version:\s+\S+", out)
    events = out[out.index("\nEvents:"):]
    assert re.search(rf"Normal\s+NodeReady\s+\S+\s+kubelet\s+Node {name} status is now: NodeReady", events)


def test_delete_unbound_pod_is_immediate(api, kubectl, namespace):
    """`kubectl delete` of a pod on no node returns once it is gone."""
    create(api, pod("db"), namespace)
    assert kubectl("delete", "pod", "db", "-n", namespace).stdout.strip() == \
        f'pod "db" deleted from {namespace} namespace'
    assert api.get(f"/api/v1/namespaces/{namespace}/pods/db").status_code == 404


def test_delete_bound_pod_waits_for_the_kubelet(api, kubectl, namespace):
    """`kubectl delete` of a bound pod waits while it is Terminating and returns once the kubelet
    (played here) finalizes it with gracePeriodSeconds=0 and a uid precondition."""
    created = create(api, pod("web", node="lab-node"), namespace)
    set_running(api, "web", namespace)
    deleter = kubectl.popen("delete", "pod", "web", "-n", namespace, "--timeout=60s")
    url = f"/api/v1/namespaces/{namespace}/pods/web"
    terminating = wait_for(lambda: api.get(url).json()["metadata"].get("deletionTimestamp"), 30,
                           "the pod to get a deletionTimestamp")
    assert terminating
    rows = table(kubectl("get", "pods", "-n", namespace).stdout)
    assert rows[1][:3] == ["web", "1/1", "Terminating"]
    assert deleter.poll() is None, "kubectl delete returned while the pod still exists"
    final = api.delete(url, json={"gracePeriodSeconds": 0, "preconditions": {"uid": created["metadata"]["uid"]}})
    assert final.status_code == 200, final.text
    out, _ = deleter.communicate(timeout=60)
    assert deleter.returncode == 0, out
    assert out.strip() == f'pod "web" deleted from {namespace} namespace'
    assert api.get(url).status_code == 404


def test_get_namespaces_events_and_leases_columns(api, kubectl, namespace):
    """Namespaces, events and leases print the columns kubectl shows for them on a real cluster.
    (The module's other tests' namespaces, t-..., are left out of the listing; so are their leases.)"""
    created = create(api, pod("web"), namespace)
    record_event(api, created, "Scheduled", f"Successfully assigned {namespace}/web to lab-node")
    node = f"{namespace}-node"
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": node},
             "spec": {"holderIdentity": node, "leaseDurationSeconds": 40}}
    response = api.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", json=lease)
    assert response.status_code == 201, response.text
    namespaces = table(kubectl("get", "namespaces").stdout)
    assert namespaces[0] == ["NAME", "STATUS", "AGE"]
    mine = [row for row in namespaces[1:] if not row[0].startswith("t-") or row[0] == namespace]
    assert [row[:2] for row in mine] == [["default", "Active"], ["kube-node-lease", "Active"],
                                         ["kube-system", "Active"], [namespace, "Active"]]
    events = table(kubectl("get", "events", "-n", namespace).stdout)
    assert events[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert events[1][1:] == ["Normal", "Scheduled", "pod/web", f"Successfully assigned {namespace}/web to lab-node"]
    leases = table(kubectl("get", "leases", "-n", "kube-node-lease").stdout)
    mine = [row for row in leases[1:] if row[0] == node]
    assert leases[0] == ["NAME", "HOLDER", "AGE"] and len(mine) == 1 and mine[0][:2] == [node, node]
