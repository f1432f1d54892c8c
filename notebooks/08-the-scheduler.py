# %% [markdown]
# # 8 · The scheduler, and a second node
#
# *About 15 minutes.*
#
# The post ended: "Next time we'll bring in the scheduler and add a couple more nodes into
# the mix." So far every pod named its node itself (`nodeName` in the manifest). In this
# notebook you will create a pod that does not, see that nothing runs it, start the
# **scheduler** and watch it choose a node, then add a second node and let the scheduler
# spread pods over both. You type real `kubectl` commands, as on any cluster.

# %%
from labserver.lab import Lab

lab = Lab()
lab.shell_setup()

# %% [markdown]
# ### Catch-up cell
#
# **Opened this notebook on its own?** This one cell starts what notebooks 01 to 03 (etcd,
# the API server, the kubelet) would have started. The post's two pods are not needed here.
# Re-running it is always harmless.

# %%
lab.catch_up(upto=3, pods=False)

# %% [markdown]
# ## Step 1: a pod that names no node
#
# `kubectl run` creates one pod from an image, the way most people's first command on a
# cluster does. Its manifest has no `nodeName`. No scheduler runs yet (the cell first makes
# sure of that, and removes pods left by an earlier run of this notebook).
# **What to look for:** `Pending`, and `<none>` in the `NODE` column.

# %%
lab.stop("scheduler")
for leftover in lab.pods("run"):
    lab.remove_leftover(f"/api/v1/namespaces/default/pods/{leftover['metadata']['name']}")

# %%
# !kubectl run web-1 --image=nginx

# %%
# !kubectl get pods --output=wide

# %% [markdown]
# No kubelet will ever pick it up: each kubelet watches only the pods whose `spec.nodeName`
# is its own node's name. And nobody says why it waits: there are no events for it at all.

# %%
# !kubectl get events --field-selector involvedObject.name=web-1

# %% [markdown]
# ### Checkpoint: Pending, on no node

# %%
pod = lab.get_pod("web-1")
assert pod["status"]["phase"] == "Pending" and "nodeName" not in pod["spec"], pod
print("checkpoint passed: web-1 is Pending and bound to no node")

# %% [markdown]
# ## Step 2: start the scheduler
#
# The scheduler is one more client of the API server. It watches the pods that have no
# node and the nodes. For each pod it runs one **scheduling cycle**: *filter* the nodes
# that cannot run it (not Ready, unschedulable, a taint the pod does not tolerate, a
# `nodeSelector` that does not match, not enough CPU or memory left), *score* the rest
# (the least requested node first, pods of one app spread apart), and *bind* the pod to
# the best one: it POSTs a **Binding** to the pod's `binding` subresource, which sets
# `spec.nodeName` once. From then on it is the kubelet's pod, as in notebook 04.
# **What to look for:** the command line, then `web-1` Running.

# %%
lab.start_scheduler()
pod = lab.wait_for_pod("web-1")

# %% [markdown]
# The scheduler records what it did as an event on the pod, and the API server set the
# pod's `PodScheduled` condition when the Binding arrived.
# **What to look for:** `Scheduled` ... `Successfully assigned default/web-1 to` your node.

# %%
# !kubectl get events --field-selector involvedObject.name=web-1,reason=Scheduled

# %%
# !kubectl get pod web-1 --output=jsonpath='{.spec.nodeName}{"\n"}{.status.conditions[?(@.type=="PodScheduled")]}{"\n"}'

# %% [markdown]
# ### Checkpoint: bound by the scheduler

# %%
import json

node = lab.node_name()
assert pod["spec"]["nodeName"] == node
events = json.loads(lab.kubectl.run("get", "events", "--field-selector=involvedObject.name=web-1,reason=Scheduled",
                                    "--output=json").stdout)["items"]
assert [e["message"] for e in events] == [f"Successfully assigned default/web-1 to {node}"], events
print("checkpoint passed: the scheduler bound web-1 to the only node, and said so")

# %% [markdown]
# ## Step 3: a second node
#
# A node is a kubelet that registered itself. The lab starts a second one on this machine,
# with its own name (`--hostname-override=node-2`), its own directory, its own port and its
# own range of pod addresses (`--pod-cidr`, used by the process runtime, so that a pod's IP
# says which node runs it). **What to look for:** `node-2` `Ready`.

# %%
lab.add_node("node-2")

# %%
# !kubectl get node node-2

# %% [markdown]
# ## Step 4: let the scheduler spread pods
#
# Five more pods, none naming a node. Each scoring round prefers the node with the least
# requested so far (a pod that requests nothing counts as a small default request), so
# the pods should end up on both nodes, evenly.

# %%
# !for i in 2 3 4 5 6; do kubectl run web-$i --image=nginx; done

# %%
pods = lab.wait_for_pods(6, "run")

# %% [markdown]
# Which pod went where depends on the order they arrived in, so the table below differs
# from run to run (its stored output is not compared). **What to look for:** both node names
# in the `NODE` column.

# %%
# NBVAL_IGNORE_OUTPUT
# !kubectl get pods --output=wide

# %% [markdown]
# ### Checkpoint: both nodes run pods

# %%
from collections import Counter

per_node = Counter(p["spec"]["nodeName"] for p in lab.pods("run"))
assert set(per_node) == {node, "node-2"} and abs(per_node[node] - per_node["node-2"]) <= 1, per_node
print("checkpoint passed: the scheduler spread 6 pods over both nodes, at most one apart")

# %% [markdown]
# ## Step 5: clean up
#
# `kubectl run` put a label `run=<name>` on each pod; delete them all by it. kubectl
# waits until each node's kubelet has stopped its containers.

# %%
# !kubectl delete pods --selector=run

# %% [markdown]
# ## Exercise: a pod that fits nowhere
#
# Run a pod that asks for a node label no node has:
#
# ```
# !kubectl run picky --image=nginx --overrides='{"spec": {"nodeSelector": {"disk": "ssd"}}}'
# !kubectl describe pod picky
# ```
#
# It stays Pending, and this time the scheduler says why: a `FailedScheduling` event whose
# message starts `0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.`
# (the same words a real scheduler uses), and the pod's `PodScheduled` condition is `False`. Then give
# one node that label with `!kubectl label node node-2 disk=ssd` and watch the pod get bound
# (the scheduler tries again when a node changes). Delete it with `!kubectl delete pod picky`.
#
# ## What just happened
#
# A pod without a node waited, silently, until the scheduler came. The scheduler filtered
# and scored the nodes, posted a Binding, and the chosen node's kubelet ran the pod. With
# a second node, the same cycle spread the pods over both. The scheduler never starts a
# container itself: it only writes one field, through the API server.
#
# **Next:** [09 · Controllers](09-controllers.ipynb).
