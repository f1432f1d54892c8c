# %% [markdown]
# # 5 · The Kubernetes command line client: kubectl
#
# `curl` and `jq` show what the API really is, but nobody runs a cluster that way. **kubectl**
# is the client everyone uses: it speaks the same API, and prints tables instead of
# JSON. In this notebook you will point the real kubectl 1.37 at the lab, list nodes
# and pods, create a second nginx pod from a file, watch it start, describe it, and
# check that it serves too.
#
# *About 15 minutes.*

# %%
from labserver.lab import Lab

lab = Lab()
lab.shell_setup()

# %%
lab.architecture(highlight="kubectl", caption="05 · kubectl: the same API, from the real client")

# %% [markdown]
# ### Catch-up cell
#
# **Opened this notebook on its own?** This one cell starts whatever notebooks 01 to 04 (etcd, the API server, the kubelet, the nginx pod) would have
# started, so the steps below have something to talk to. If you ran those notebooks
# just before, it only checks that everything is still up and says so.
# Re-running it is always harmless.

# %%
lab.catch_up(upto=4)

# %% [markdown]
# ## Step 1: tell kubectl where the cluster is
#
# The post used a kubectl that found the API server at `localhost:8080` by default. Today's
# kubectl reads a **kubeconfig** file. The lab wrote one in `.lab/kubeconfig`
# (no credentials: the lab's API server does not ask for any), and `.lab/env.sh` points
# `KUBECONFIG` at it and puts the venv's kubectl 1.37 first on `PATH`.
# `kubectl config view` shows it.

# %%
!kubectl config view

# %% [markdown]
# ## Step 2: nodes and pods
#
# **What to look for:** your node `Ready`, and the `nginx` pod from notebook 04
# `2/2 Running`: two containers out of two are ready.

# %%
!kubectl get nodes
!kubectl get pods

# %% [markdown]
# > **Today:** the post's `kubectl get nodes` printed `NAME LABELS STATUS`. Today it prints
# > `NAME STATUS ROLES AGE VERSION`. kubectl no longer decides the columns: it asks the API
# > server for a *Table*, and the server chooses them. Our API server returns the same
# > columns a real one does.

# %% [markdown]
# What did kubectl actually send? At `-v=6` it logs every request. The first time
# kubectl meets a server it asks what the server offers (**discovery**: `/api`,
# `/apis`, then each API group version), caches the answers in its home directory, and
# only then lists the pods. Only that last request reaches etcd. This picture is drawn
# from kubectl's own log:

# %%
picture = lab.kubectl_sequence("get", "pods")

# %% [markdown]
# ## Step 3: a second pod, from a file
#
# The post made `nginx2.yaml` by renaming the pod with `sed`. Here Python does the
# renaming, and writes `nginx-the-second.yaml` next to this notebook, where the `!` commands run.
# `nodeName` is still set: there is still no scheduler.

# %%
import yaml

second = yaml.safe_load(open("nginx.yaml"))
second["metadata"]["name"] = "nginx-the-second"
second["spec"] = {"nodeName": lab.node_name(), **second["spec"]}
path = lab.write_file("nginx-the-second.yaml", yaml.safe_dump(second, sort_keys=False))


# %% [markdown]
# Now `kubectl create --filename`. **What to look for:** `pod/nginx-the-second created`.

# %%
lab.remove_leftover("/api/v1/namespaces/default/pods/nginx-the-second")  # only when re-running this notebook
!kubectl create --filename nginx-the-second.yaml

# %% [markdown]
# The post ran `get pods` twice, a little while apart, to see the new pod go from `0/2`
# to `2/2`. `kubectl wait` waits exactly as long as needed: it watches the pod until its
# `Ready` condition is true (or the timeout passes, and then it fails).
# **What to look for:** `condition met`, then both pods `2/2 Running`.

# %%
!kubectl wait --for=condition=Ready pod/nginx-the-second --timeout=60s
!kubectl get pods

# %% [markdown]
# `-o wide` adds each pod's IP and node. **What to look for:** two pods on the same node,
# each with its own IP.

# %%
!kubectl get pods --output=wide

# %% [markdown]
# ## Step 4: describe
#
# `kubectl describe` collects what there is to know about an object: a few requests,
# printed as one report. As in the post, we look at the top. **What to look for:** the node
# (`<node>/<its IP>`), `Status: Running` and the pod's IP.

# %%
!kubectl describe pods/nginx-the-second | head -10

# %% [markdown]
# > **Today:** the post's describe showed `Image(s): nginx,busybox` and `Replication
# > Controllers: <none>` at the top. Today's layout lists each container in its own
# > section further down, with its image, state and restarts, and ends with the pod's
# > **Events** (`Pulled`, `Created`, `Started`, ...), which the kubelet records
# > through the API server. Run `!kubectl describe pods/nginx-the-second` to see it all.

# %% [markdown]
# ## Step 5: the second nginx serves too
#
# **What to look for:** the welcome page again, from the second pod's own IP.

# %%
!curl -s http://$(kubectl get pod nginx-the-second --output=jsonpath='{.status.podIP}')/ | head -4

# %% [markdown]
# ## Checkpoint

# %%
import re
import requests

second_ip = lab.get_pod("nginx-the-second")["status"]["podIP"]
page = requests.get(f"http://{second_ip}/", timeout=5).text
description = lab.kubectl.run("describe", "pods/nginx-the-second").stdout
rows = {line.split()[0]: line.split() for line in lab.kubectl.run("get", "pods", "--no-headers").stdout.splitlines()}
assert rows["nginx"][1:3] == ["2/2", "Running"], rows
assert rows["nginx-the-second"][1:3] == ["2/2", "Running"], rows
first_ip = lab.get_pod("nginx")["status"]["podIP"]
assert second_ip and second_ip != first_ip
assert "<title>Welcome to nginx!</title>" in page
assert re.search(r"Status:\s+Running", description)
print("checkpoint passed: kubectl sees both pods 2/2 Running, each with its own IP")

# %% [markdown]
# ## What just happened
#
# You used the real kubectl 1.37 against the lab's API server. It discovered what the
# server offers, listed nodes and pods as tables the server built, created a pod
# from a YAML file, and described it. The kubelet ran the new pod alongside the first one.
#
# ### Exercise: a third pod
#
# Write a manifest for a pod named `nginx-the-third` (start from `nginx.yaml`, as above, in
# Python or in a text editor: JupyterLab opens `.yaml` files), save it as
# `nginx-the-third.yaml` next to this notebook, and create it with `kubectl create`.
# Try it once without `nodeName` first: what does `kubectl get pods` say, and why?

# %% tags=["exercise"]
# your commands here

# %% tags=["solution"] jupyter={"source_hidden": true}
third = yaml.safe_load(open("nginx.yaml"))
third["metadata"]["name"] = "nginx-the-third"
third["spec"] = {"nodeName": lab.node_name(), **third["spec"]}
lab.remove_leftover("/api/v1/namespaces/default/pods/nginx-the-third")  # only when re-running this notebook
lab.write_file("nginx-the-third.yaml", yaml.safe_dump(third, sort_keys=False))
!kubectl create --filename nginx-the-third.yaml

# %% tags=["check"]
lab.check("third-pod")

# %% [markdown]
# ## Questions
#
# 1. kubectl's first `get pods` sent several requests before the one that lists the pods. What were they for?
# 2. Who chose the columns of `kubectl get pods`: kubectl or the API server?
# 3. A pod created without `nodeName` stays `Pending` here. What component of a full cluster is missing?

# %% [markdown] jupyter={"source_hidden": true}
# **Answers.** 1. Discovery: what API groups, versions and resources the server offers (`/api`,
# `/apis`, ...); kubectl caches the answers. 2. The API server: kubectl asks for a `Table` and prints
# it. 3. The scheduler, which sets `spec.nodeName` for pods that have none.

# %% [markdown]
# **Next:** [06 · Break it on purpose](06-break-it.ipynb).
