# %% [markdown]
# # 9 · Controllers: declared state that keeps itself
#
# *About 15 minutes.*
#
# So far you told the cluster *what to do*: run this pod. Here you tell it *what should be
# true*: three copies of nginx, always. A **Deployment** says so. The **controller-manager**
# runs small loops, each watching one kind of object through the API server and making
# the world match it: the Deployment controller keeps a **ReplicaSet** for each version of the
# pod template, the ReplicaSet controller keeps the right number of pods, the scheduler binds
# them, the kubelets run them. You will create a Deployment, scale it, delete one of its pods
# and see it come back, and roll out a new image.

# %%
from labserver.lab import Lab

lab = Lab()
lab.shell_setup()

# %% [markdown]
# ### Catch-up cell
#
# **Opened this notebook on its own?** This one cell starts what notebooks 01 to 08 would
# have started and this one needs: etcd, the API server, the kubelet, the scheduler and
# node-2. Re-running it is always harmless.

# %%
lab.catch_up(upto=8, pods=False)

# %% [markdown]
# ## Step 1: start the controller-manager
#
# One process, many controllers (Deployment, ReplicaSet, the garbage collector, node
# lifecycle, namespaces, service accounts). Like the scheduler, it only talks to the API
# server. **What to look for:** its command line, and `/healthz` answering.

# %%
lab.remove_leftover("/apis/apps/v1/namespaces/default/deployments/web")  # only when re-running this notebook
lab.start_controller_manager()

# %% [markdown]
# ## Step 2: a Deployment of three
#
# `kubectl create deployment` writes one object: a Deployment with a pod template and
# `replicas: 3`. Everything else you will see was created by controllers.

# %%
# !kubectl create deployment web --image=nginx --replicas=3

# %%
deployment = lab.wait_for_deployment("web")

# %% [markdown]
# **What to look for:** the Deployment `3/3`; one ReplicaSet named `web-` plus a hash of
# the pod template; three pods named after the ReplicaSet plus five random characters.

# %%
# !kubectl get deployments

# %%
# !kubectl get replicasets

# %%
# !kubectl get pods --selector=app=web

# %% [markdown]
# Each object points at the one that made it: the pods' `ownerReferences` name the ReplicaSet,
# the ReplicaSet's names the Deployment. The garbage collector follows these links when an
# owner is deleted.

# %%
# !kubectl get pods --selector=app=web --output=jsonpath='{range .items[*]}{.metadata.name}{" is owned by "}{.metadata.ownerReferences[0].kind}{"/"}{.metadata.ownerReferences[0].name}{"\n"}{end}'

# %% [markdown]
# ### Checkpoint: one Deployment, one ReplicaSet, three pods

# %%
import requests

def replicasets():
    return requests.get(f"{lab.api_url}/apis/apps/v1/namespaces/default/replicasets", timeout=5).json()["items"]

(rs,) = replicasets()
pods = lab.pods("app=web")
assert rs["metadata"]["ownerReferences"][0]["name"] == "web" and rs["status"]["readyReplicas"] == 3
assert len(pods) == 3 and all(p["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"] for p in pods)
print("checkpoint passed: the controllers made one ReplicaSet and three pods for the Deployment")

# %% [markdown]
# ## Step 3: scale
#
# `kubectl scale` changes one number, the Deployment's `replicas`, through its `scale`
# subresource. The Deployment controller passes it on to the ReplicaSet, whose controller
# creates two more pods. **What to look for:** `5/5`.

# %%
# !kubectl scale deployment web --replicas=5

# %%
deployment = lab.wait_for_deployment("web")

# %%
# !kubectl get deployment web

# %% [markdown]
# ## Step 4: delete a pod, and see it replaced
#
# Nobody asked for *these* pods, only for five of them. Delete one: the ReplicaSet
# controller sees four where five are wanted and creates another (under a new name).
# **What to look for:** the deleted name, then five pods again.

# %%
victim = lab.pods("app=web")[0]["metadata"]["name"]
print("the pod to delete:", victim)

# %%
# !kubectl delete pod {victim}

# %%
pods = lab.wait_for_pods(5, "app=web")

# %%
# !kubectl get pods --selector=app=web

# %% [markdown]
# ### Checkpoint: five pods, the deleted one replaced

# %%
names = {p["metadata"]["name"] for p in pods}
assert len(names) == 5 and victim not in names
print("checkpoint passed: the ReplicaSet controller replaced the deleted pod")

# %% [markdown]
# ## Step 5: roll out a new image
#
# Change the pod template and the Deployment controller makes a second ReplicaSet for the
# new template, then moves pods over a few at a time (a *rolling update*): new ones up,
# old ones down, never too many missing. The lab's machine has one nginx image, so the new
# "image" is the same nginx under its full name, `nginx:latest`; any change to the
# template starts a rollout.

# %%
# !kubectl set image deployment/web nginx=nginx:latest

# %%
deployment = lab.wait_for_deployment("web")

# %% [markdown]
# **What to look for:** rolled out; two ReplicaSets, the new one with all five pods and the
# old one scaled to zero (kept, so you can roll back); two revisions.

# %%
# !kubectl rollout status deployment/web

# %%
# !kubectl get replicasets

# %%
# !kubectl rollout history deployment/web

# %% [markdown]
# ### Checkpoint: every pod runs the new template

# %%
pods = lab.wait_for_pods(5, "app=web")
assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:latest"}
assert sorted(r["status"]["replicas"] for r in replicasets()) == [0, 5]
print("checkpoint passed: the rollout replaced all five pods; the old ReplicaSet is kept at zero")

# %% [markdown]
# ## Step 6: clean up
#
# Delete the Deployment only. The garbage collector deletes what it owned, the ReplicaSets,
# and then their pods.

# %%
# !kubectl delete deployment web

# %%
pods = lab.wait_for_pods(0, "app=web")
assert replicasets() == []
print("checkpoint passed: deleting the Deployment removed its ReplicaSets and pods")

# %% [markdown]
# ## Exercises
#
# - Roll back: `!kubectl rollout undo deployment/web` (after creating it again and rolling
#   out once), then `!kubectl rollout history deployment/web`: revision 1 comes back as 3.
# - Lose a node: with pods on both nodes, stop node-2's kubelet with `lab.stop("node-2")`
#   (its pods keep running: a kubelet that stops stops nothing). After the node monitor
#   grace period (40 s) `!kubectl get nodes` shows node-2 `NotReady`, it gets the
#   `node.kubernetes.io/unreachable` taints, and after the pods' toleration (300 s by
#   default) they are evicted and replaced on the other node. `lab.add_node("node-2")`
#   brings the node back; its kubelet then finishes the evicted pods.
#
# ## What just happened
#
# You wrote one object, and controllers did the rest: each one watches what it owns,
# compares it with what was declared, and acts on the difference, over and over. That loop,
# not any one command, is what keeps a Kubernetes cluster the way you declared it.
#
# **Back to the start:** [00 · Preflight](00-preflight.ipynb).
