# %% [markdown]
# # 2 · Starting the API server
#
# The API server is the cluster's front door: a REST API over HTTP that stores every
# object in etcd. Every other component, from kubectl to the kubelet, reads and
# writes the cluster's state through it, never through etcd. In this notebook you
# will start it, ask it for nodes and pods as the post does with `curl`, see what the
# fields of its answers mean, watch it refuse a stale update (optimistic concurrency),
# and look at the keys it wrote into etcd.
#
# *About 20 minutes.*

# %%
from labserver.lab import Lab

lab = Lab()
lab.shell_setup()

# %%
lab.architecture(highlight="apiserver", caption="02 · the API server: the only way in, in front of etcd")

# %% [markdown]
# ### Catch-up cell
#
# **Opened this notebook on its own?** This one cell starts whatever notebook 01 (etcd) would have
# started, so the steps below have something to talk to. If you ran those notebooks
# just before, it only checks that everything is still up and says so.
# Re-running it is always harmless.

# %%
lab.catch_up(upto=1)

# %% [markdown]
# ## Step 1: start the API server
#
# The post's command was
# `./kube-apiserver --etcd-servers=http://127.0.0.1:2379 --service-cluster-ip-range=10.0.0.0/16`.
# Ours takes the same flags:
#
# * `--etcd-servers`: where etcd is (a comma-separated list when etcd is a cluster);
# * `--service-cluster-ip-range`: the addresses Kubernetes Services will get. Nothing uses
#   it in this workbook, but the API server insists on it, as the post found;
# * `--insecure-port=8080`: plain HTTP on `127.0.0.1:8080`, as kube-apiserver 1.0 served by default.
#
# **What to look for:** the lab waits until `GET /readyz` answers 200.

# %%
lab.start_apiserver()

# %% [markdown]
# > **Today:** kube-apiserver removed its unauthenticated "insecure port" in 1.20. A real
# > cluster serves HTTPS on port 6443 and checks who you are (certificates, tokens) and
# > what you may do (RBAC). The lab keeps the 2015 plain-HTTP port, bound to
# > `127.0.0.1` only, so that `curl` needs nothing else.

# %% [markdown]
# ## Step 2: what nodes and pods are there?
#
# **What to look for:** a `NodeList` whose `items` is empty, because no kubelet has
# registered yet.

# %%
!curl -s localhost:8080/api/v1/nodes | jq .

# %% [markdown]
# Every answer says what it is:
#
# * `kind` and `apiVersion`: the type of the object (`NodeList`) and the API version
#   it belongs to (`v1`, the core group);
# * `metadata.resourceVersion`: for a list, the etcd revision at which the API server
#   read it. For a single object, it is that object's etcd `mod_revision`, the one from
#   notebook 01. Clients send it back when they change an object (next step);
# * `items`: the nodes. None yet.
#
# > **Today:** the post's answer also had `"selfLink": "/api/v1/nodes"`. Kubernetes
# > stopped filling in `selfLink` in 1.20, and it is gone from the answers here too.
#
# Now the pods, keeping only `items`, as the post does with `jq`.
# **What to look for:** `[]`.

# %%
!curl -s localhost:8080/api/v1/pods | jq .items

# %% [markdown]
# ## Step 3: optimistic concurrency, for real
#
# Two clients, *alice* and *bob*, want to change the same object. Neither locks it.
# Instead, each update carries the `resourceVersion` the client last read. The API
# server turns that into an etcd transaction: *write only if the key's `mod_revision`
# is still that number*. The first update wins; the second finds that the object has
# changed since it was read, and gets **409 Conflict**.
#
# We use a **Lease** (`coordination.k8s.io/v1`), a tiny object that exists for exactly
# this: whoever manages to update it holds it. First, write one held by nobody into
# `lease.json`, next to this notebook:

# %%
import json

LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/demo"
lab.remove_leftover(LEASE)  # only does something when you re-run this notebook
lab.write_file("lease.json", json.dumps({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                         "metadata": {"name": "demo"}, "spec": {"holderIdentity": "nobody"}},
                                        indent=2) + "\n")

# %% [markdown]
# and POST it, as the post POSTs its pod: `--data @lease.json` sends the file's content.
# **What to look for:** the stored lease, with a `resourceVersion`.

# %%
!curl -s -X POST localhost:8080/apis/coordination.k8s.io/v1/namespaces/default/leases -H 'Content-Type: application/json' --data @lease.json | jq '{name: .metadata.name, resourceVersion: .metadata.resourceVersion, spec: .spec}'

# %% [markdown]
# Alice and Bob both read it, each into a file of their own.
# **What to look for:** they see the same `resourceVersion`.

# %%
!curl -s localhost:8080/apis/coordination.k8s.io/v1/namespaces/default/leases/demo --output alice.json
!curl -s localhost:8080/apis/coordination.k8s.io/v1/namespaces/default/leases/demo --output bob.json
!jq --compact-output '{resourceVersion: .metadata.resourceVersion, holderIdentity: .spec.holderIdentity}' alice.json bob.json

# %% [markdown]
# Alice writes first: `jq` sets her name as the holder in what she read, and she PUTs that
# back, `resourceVersion` included. `--write-out` makes curl print the HTTP status code, and
# `--output` keeps the answer in a file. **What to look for:** `200` and a new, higher
# `resourceVersion`.

# %%
!jq '.spec.holderIdentity = "alice"' alice.json > lease-alice.json
!curl -s -X PUT localhost:8080/apis/coordination.k8s.io/v1/namespaces/default/leases/demo -H 'Content-Type: application/json' --data @lease-alice.json --write-out '%{http_code}\n' --output alice-put.json
!jq --compact-output '{resourceVersion: .metadata.resourceVersion, holderIdentity: .spec.holderIdentity}' alice-put.json

# %% [markdown]
# Bob, who read the same version, now tries to take it too.
# **What to look for:** `409`, and an answer that is a Kubernetes `Status` object with reason
# `Conflict` and the same message a real cluster gives.

# %%
!jq '.spec.holderIdentity = "bob"' bob.json > lease-bob.json
!curl -s -X PUT localhost:8080/apis/coordination.k8s.io/v1/namespaces/default/leases/demo -H 'Content-Type: application/json' --data @lease-bob.json --write-out '%{http_code}\n' --output bob-put.json
!jq . bob-put.json

# %% [markdown]
# Bob's change was refused, and not lost by accident: Alice's write is still
# there. A well-behaved client now reads the object again and decides what to do. kubectl
# and the kubelet retry like this. Here is what happened, drawn from the files the curl
# commands above wrote (what each one read, sent, and got back). The etcd arrows show the
# transaction the API server ran for each update:

# %%
picture = lab.sequence(who=("alice", "bob"))

# %% [markdown]
# ## Checkpoint

# %%
import requests

api = lab.api_url
nodes, pods = requests.get(f"{api}/api/v1/nodes").json(), requests.get(f"{api}/api/v1/pods").json()
assert nodes["kind"] == "NodeList" and pods["kind"] == "PodList"
if not lab.running("kubelet"):  # until notebook 03 starts one, no node has registered
    assert nodes["items"] == [] and pods["items"] == []
alice_put, bob_read, bob_put = (json.load(open(f)) for f in ("alice-put.json", "bob.json", "bob-put.json"))
assert int(alice_put["metadata"]["resourceVersion"]) > int(bob_read["metadata"]["resourceVersion"])
assert bob_put["code"] == 409 and bob_put["reason"] == "Conflict"
holder = requests.get(api + LEASE).json()["spec"]["holderIdentity"]
assert holder == "alice", holder
print("checkpoint passed: empty lists, and the stale update was refused with 409 Conflict")

# %% [markdown]
# ## Step 4: what the API server wrote into etcd
#
# Every object lives under `/registry/<resource>/...`: cluster-wide ones by name,
# namespaced ones under their namespace. The API server created the three standard
# namespaces when it started, and the Lease is there too. `etcdctl` lists the keys
# (`--keys-only` prints each key followed by an empty line):

# %%
!etcdctl get /registry --prefix --keys-only

# %% [markdown]
# The lease as stored, and its `mod_revision` beside the `resourceVersion` of Alice's
# answer. **What to look for:** the two numbers are the same.

# %%
!etcdctl get /registry/leases/default/demo --print-value-only | jq .
!etcdctl get /registry/leases/default/demo --write-out=json | jq --compact-output '{mod_revision: .kvs[0].mod_revision}'
!jq --compact-output '{resourceVersion: .metadata.resourceVersion}' alice-put.json

# %%
_, meta = lab.etcd_client().get("/registry/leases/default/demo")
assert str(meta.mod_revision) == alice_put["metadata"]["resourceVersion"]
assert {"/registry/leases/default/demo", "/registry/namespaces/default",
        "/registry/namespaces/kube-node-lease", "/registry/namespaces/kube-system"} <= {k for k, _ in lab.etcd_keys()}
print("checkpoint passed: the lease's resourceVersion is its etcd mod_revision")

# %% [markdown]
# Look at the stored JSON: there is no `resourceVersion` in it. The API server does not
# store it; each time it reads an object it sets `resourceVersion` to the key's
# `mod_revision`. That is why the two can never disagree.

# %% [markdown]
# > **Today:** a real kube-apiserver stores objects in etcd as Protocol Buffers, not
# > JSON (JSON was the 2015 format). The keys are the same `/registry/...` paths.
# > Nodes still live under the 2015 name `/registry/minions/`: you will list that key with
# > `etcdctl` in the next notebook.

# %% [markdown]
# ### Exercise: be Bob
#
# Bob lost because he sent a stale `resourceVersion`. Do what a well-behaved client does:
# read the lease again, set Bob as the holder in what you read, and PUT it (the commands
# of Step 3 are all you need). Then run the check.

# %% tags=["exercise"]
# your commands here

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution: read again (the current resourceVersion), change, PUT.
!curl -s localhost:8080/apis/coordination.k8s.io/v1/namespaces/default/leases/demo --output bob.json
!jq '.spec.holderIdentity = "bob"' bob.json > lease-bob.json
!curl -s -X PUT localhost:8080/apis/coordination.k8s.io/v1/namespaces/default/leases/demo -H 'Content-Type: application/json' --data @lease-bob.json --write-out '%{http_code}\n' --output bob-put.json

# %% tags=["check"]
lab.check("bob-wins")

# %% [markdown]
# ## What just happened
#
# You started the API server on top of etcd. It answered the post's two `curl`
# requests with empty lists, refused Bob's stale update with 409 because the etcd
# revision had moved on, and wrote its objects as JSON under `/registry/` in etcd.
#
# ## Questions
#
# 1. Bob's PUT was refused although nobody locked the lease. What exactly did etcd compare?
# 2. Where does a single object's `resourceVersion` come from, given that it is not in the stored JSON?
# 3. `curl ... | jq .items` printed `[]` for pods. What would `jq '.items | length'` print?

# %% [markdown] jupyter={"source_hidden": true}
# **Answers.** 1. The key's `mod_revision` in etcd against the `resourceVersion` Bob sent: the
# transaction writes only if they are equal, and Alice's write had moved it on. 2. The API server
# sets it, on every read, to the key's etcd `mod_revision`. 3. `0`.

# %% [markdown]
# **Next:** [03 · Adding a node](03-adding-a-node.ipynb).
