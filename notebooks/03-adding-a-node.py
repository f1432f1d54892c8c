# %% [markdown]
# # 3 · Adding a node
#
# A cluster needs machines to run pods on. The **kubelet** is the agent on each one:
# when it starts it registers its machine as a **Node** with the API server, then
# keeps reporting that the node is alive, and watches the API server for pods assigned
# to it. In this notebook you will start a kubelet pointed at the API server and see
# this machine appear as a node, named after its hostname and Ready.
#
# *About 15 minutes.*

# %%
from labserver.lab import Lab

lab = Lab()
lab.shell_setup()

# %%
lab.architecture(highlight="kubelet", caption="03 · the kubelet: a node joins, and keeps its Lease")

# %% [markdown]
# ### Catch-up cell
#
# **Opened this notebook on its own?** This one cell starts whatever notebooks 01 and 02 (etcd, the API server) would have
# started, so the steps below have something to talk to. If you ran those notebooks
# just before, it only checks that everything is still up and says so.
# Re-running it is always harmless.

# %%
lab.catch_up(upto=2)

# %% [markdown]
# ## Step 1: start the kubelet
#
# The post ran `./kubelet --api-servers=127.0.0.1:8080`. Ours takes the same flag, plus:
#
# * `--root-dir`: where it keeps pod volumes and state (`.lab/kubelet`);
# * `--runtime`: `docker` (the post's way) or `process`;
# * `--port=10250`: the kubelet's own HTTP port (health, container logs), the same port as upstream.
#
# With no `--hostname-override`, the node is named after this machine's hostname, as
# in the post. **What to look for:** `node <your hostname> is registered and Ready`.

# %%
lab.start_kubelet()

# %% [markdown]
# Here is how the pieces fit together now. Nothing but the API server touches etcd:
#
# ```
#    you (curl, kubectl) ──HTTP──▶ API server ──etcd v3──▶ etcd (/registry/...)
#                                      ▲
#                    register the node │ renew its Lease, watch pods with
#                                      │ spec.nodeName=<node>, report pod status
#                                   kubelet ──▶ runtime (docker | process) ──▶ containers
# ```

# %% [markdown]
# ## Step 2: the node, as the API server sees it
#
# The post's `curl ... | jq '.items' | head` showed the node's metadata.
# **What to look for:** the name (your hostname), the `kubernetes.io/hostname` label,
# and the fields the API server filled in: `uid`, `resourceVersion` and
# `creationTimestamp`.

# %%
!curl -s localhost:8080/api/v1/nodes | jq '.items[] | .metadata'

# %% [markdown]
# **Is it Ready?** The kubelet reports conditions in the node's status. **What to look
# for:** `Ready` is `"True"`, with reason `KubeletReady`. The three *pressure* conditions
# (memory, disk, process IDs) should be `"False"`. (There is one node, so `.items[0]` is it.)

# %%
!curl -s localhost:8080/api/v1/nodes | jq --compact-output '.items[0].status.conditions[] | {type, status, reason}'

# %% [markdown]
# **How does the cluster know the node is still alive?** Every 10 seconds the kubelet
# renews a Lease named after its node in the `kube-node-lease` namespace: the same
# kind of object as Alice and Bob's in notebook 02. **What to look for:** `holderIdentity`
# is the node, and `renewTime` is recent.

# %%
!curl -s localhost:8080/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases | jq '.items[] | .spec'

# %% [markdown]
# And in etcd: the node itself is stored under `/registry/minions/`, the 2015 name
# notebook 02 promised (more on it below).

# %%
!etcdctl get /registry/minions/ --prefix --keys-only

# %% [markdown]
# ## Checkpoint

# %%
import requests

node = lab.node_name()
n = requests.get(f"{lab.api_url}/api/v1/nodes/{node}", timeout=5).json()
lease = requests.get(f"{lab.api_url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}").json()
assert n["metadata"]["labels"]["kubernetes.io/hostname"] == node
assert n["metadata"]["uid"] and n["metadata"]["resourceVersion"] and n["metadata"]["creationTimestamp"]
assert {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"] == "True"
assert lease["spec"]["holderIdentity"] == node
assert "/registry/minions/" + node in [k for k, _ in lab.etcd_keys()]
print(f"checkpoint passed: node {node} is registered and Ready")

# %% [markdown]
# > **Today vs. 2015**
# > * `--api-servers` is gone: today's kubelet reads where the API server is, and its
# >   credentials, from a kubeconfig file (`--kubeconfig`), usually obtained through TLS bootstrapping.
# > * The node has more labels now (`kubernetes.io/os`, `kubernetes.io/arch`), and its
# >   heartbeat moved from rewriting the whole node status to renewing a small Lease (1.14+).
# > * The node is stored in etcd under `/registry/minions/`: "minion" was the
# >   pre-1.0 name for a node, and the key never changed.

# %% [markdown]
# ## What just happened
#
# You started a kubelet with `--api-servers`. It registered this machine as a node,
# named after the hostname, reported it Ready, and now renews its Lease every 10
# seconds. It is also watching the API server for pods bound to this node. None
# yet.
#
# ### Exercise: your own jq filter
#
# Write a command that prints just the status of the node's `Ready` condition (`True`),
# and capture what it prints in `ready`: in a notebook, `ready = !command` does that.
# jq's `select(...)` keeps only the values for which its test is true, and `jq -r`
# prints a string without its quotes.

# %% tags=["exercise"]
ready = None  # your command here: ready = !curl -s localhost:8080/api/v1/nodes | jq -r ...

# %% tags=["solution"] jupyter={"source_hidden": true}
ready = !curl -s localhost:8080/api/v1/nodes | jq -r '.items[0].status.conditions[] | select(.type == "Ready") | .status'
ready

# %% tags=["check"]
lab.check("node-ready", answer=ready)

# %% [markdown]
# ## Questions
#
# 1. Which two objects does the kubelet keep writing while the node is alive, and which one changes every 10 seconds?
# 2. Why is the node stored under `/registry/minions/` and not `/registry/nodes/`?
# 3. What does the kubelet watch the API server for?

# %% [markdown] jupyter={"source_hidden": true}
# **Answers.** 1. The Node (its status) and its Lease in `kube-node-lease`; the Lease is renewed every
# 10 seconds. 2. "Minion" was the pre-1.0 name of a node, and the etcd key never changed. 3. Pods whose
# `spec.nodeName` is its node.

# %% [markdown]
# **Next:** [04 · Running a pod through the API server](04-running-a-pod.ipynb).
