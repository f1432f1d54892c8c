# %% [markdown]
# # 2 · Starting the API server
#
# The API server is the cluster's front door: a REST API over HTTP that stores every
# object in etcd. Every other component, from kubectl to the kubelet, reads and
# writes the cluster's state through it, never through etcd. In this notebook you
# will start it, ask it for nodes and pods as the post does with `curl`, see what the
# fields of its answers mean, watch it refuse a stale update (optimistic concurrency),
# and look at the keys it wrote into etcd.

# %%
from labserver.lab import Lab

lab = Lab()

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
nodes = lab.curl("GET", "/api/v1/nodes")

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
pods = lab.curl("GET", "/api/v1/pods", jq=".items")

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
# this: whoever manages to update it holds it. First, create one held by nobody:

# %%
LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/demo"
lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
         "metadata": {"name": "demo"}, "spec": {"holderIdentity": "nobody"}}
lab.remove_leftover(LEASE)  # only does something when you re-run this notebook
created = lab.curl("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", lease,
                   jq="{name: .metadata.name, resourceVersion: .metadata.resourceVersion, spec: .spec}")

# %% [markdown]
# Alice and Bob both read it. **What to look for:** they see the same `resourceVersion`.

# %%
SHOW = "{resourceVersion: .metadata.resourceVersion, holderIdentity: .spec.holderIdentity}"
alice = lab.curl("GET", LEASE, who="alice", jq=SHOW).json
bob = lab.curl("GET", LEASE, who="bob", jq=SHOW).json

# %% [markdown]
# Alice writes first: she takes the lease and sends it back with the
# `resourceVersion` she read. **What to look for:** `200 OK` and a new, higher
# `resourceVersion`.

# %%
alice["spec"]["holderIdentity"] = "alice"
alice_put = lab.curl("PUT", LEASE, alice, who="alice", body_file="lease-alice.json", jq=SHOW)

# %% [markdown]
# Bob, who read the same version, now tries to take it too.
# **What to look for:** `409 Conflict`, as a Kubernetes `Status` object with reason
# `Conflict` and the same message a real cluster gives.

# %%
bob["spec"]["holderIdentity"] = "bob"
bob_put = lab.curl("PUT", LEASE, bob, who="bob", body_file="lease-bob.json")

# %% [markdown]
# Bob's change was refused, and not lost by accident: Alice's write is still
# there. A well-behaved client now reads the object again and decides what to do. kubectl
# and the kubelet retry like this. Here is what happened, drawn from the requests
# the lab recorded. The etcd arrows show the transaction the API server ran for each update:

# %%
picture = lab.sequence(who=("alice", "bob"))

# %% [markdown]
# ## Checkpoint

# %%
assert nodes.json["kind"] == "NodeList" and pods.json["kind"] == "PodList"
if not lab.running("kubelet"):  # until notebook 03 starts one, no node has registered
    assert nodes.json["items"] == [] and pods.json["items"] == []
assert alice_put.status == 200 and int(alice_put.json["metadata"]["resourceVersion"]) > int(bob["metadata"]["resourceVersion"])
assert bob_put.status == 409 and bob_put.json["reason"] == "Conflict"
holder = lab.curl("GET", LEASE, show=False).json["spec"]["holderIdentity"]
assert holder == "alice", holder
print("checkpoint passed: empty lists, and the stale update was refused with 409 Conflict")

# %% [markdown]
# ## Step 4: what the API server wrote into etcd
#
# Every object lives under `/registry/<resource>/...`: cluster-wide ones by name,
# namespaced ones under their namespace. The API server created the three standard
# namespaces when it started, and the Lease is there too.
# **What to look for:** the numbers: each key's `mod_revision`, which is exactly the
# `resourceVersion` the API showed.

# %%
for key, mod_revision in lab.etcd_keys():
    print(f"mod_revision {mod_revision:>3}  {key}")

stored = lab.etcd_value("/registry/leases/default/demo")

# %%
_, meta = lab.etcd_client().get("/registry/leases/default/demo")
assert str(meta.mod_revision) == alice_put.json["metadata"]["resourceVersion"]
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
# > Nodes still live under the 2015 name `/registry/minions/`, as you will see in the
# > next notebook.

# %% [markdown]
# ## What just happened
#
# You started the API server on top of etcd. It answered the post's two `curl`
# requests with empty lists, refused Bob's stale update with 409 because the etcd
# revision had moved on, and wrote its objects as JSON under `/registry/` in etcd.
#
# **Next:** [03 · Adding a node](03-adding-a-node.ipynb).
