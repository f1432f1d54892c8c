# %% [markdown]
# # 5 · The Kubernetes command line client: kubectl
#
# `curl` and `jq` show what the API really is, but nobody runs a cluster that way. **kubectl**
# is the client everyone uses: it speaks the same API, and prints tables instead of
# JSON. In this notebook you will point the real kubectl 1.37 at the lab, list nodes
# and pods, create a second nginx pod from a file, watch it start, describe it, and
# check that it serves too.

# %%
from labserver.lab import Lab

lab = Lab()

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
# kubectl reads a **kubeconfig** file. The lab writes one in `.lab/kubeconfig`
# (no credentials: the lab's API server does not ask for any), and runs the venv's kubectl
# with `KUBECONFIG` pointing at it. `kubectl config view` shows it.

# %%
config = lab.kubectl("config", "view")

# %% [markdown]
# ## Step 2: nodes and pods
#
# **What to look for:** your node `Ready`, and the `nginx` pod from notebook 04
# `2/2 Running`: two containers out of two are ready.

# %%
nodes = lab.kubectl("get", "nodes")
pods = lab.kubectl("get", "pods")

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
# renaming, and writes `nginx-the-second.yaml` into `.lab/`, where the kubectl commands run.
# `nodeName` is still set: there is still no scheduler.

# %%
import yaml

second = yaml.safe_load(open("nginx.yaml"))
second["metadata"]["name"] = "nginx-the-second"
second["spec"] = {"nodeName": lab.node_name(), **second["spec"]}
path = lab.write_file("nginx-the-second.yaml", yaml.safe_dump(second, sort_keys=False))


# %% [markdown]
# Now `kubectl create --filename`, with a `kubectl get pods --watch` running since just
# before it, so that we see the new pod go from `0/2` to `2/2`, as the post did by running
# `get pods` twice. **What to look for:** `pod/nginx-the-second created`, then the new
# pod's row first at `0/2 Pending`, last at `2/2 Running`. Rows in between, marked
# `…`, depend on timing.

# %%
def both_ready(row):
    return row.startswith("nginx-the-second ") and " 2/2 " in row and "Running" in row

lab.remove_leftover("/api/v1/namespaces/default/pods/nginx-the-second")  # only when re-running this notebook
with lab.kubectl.watch("get", "pods", until=both_ready):
    lab.kubectl("create", "--filename", "nginx-the-second.yaml")

# %% [markdown]
# `-o wide` adds each pod's IP and node. **What to look for:** two pods on the same node,
# each with its own IP.

# %%
wide = lab.kubectl("get", "pods", "--output=wide")

# %% [markdown]
# ## Step 4: describe
#
# `kubectl describe` collects what there is to know about an object: a few requests,
# printed as one report. As in the post, we look at the top. **What to look for:** the node
# (`<node>/<its IP>`), `Status: Running` and the pod's IP.

# %%
description = lab.kubectl("describe", "pods/nginx-the-second", head=10)

# %% [markdown]
# > **Today:** the post's describe showed `Image(s): nginx,busybox` and `Replication
# > Controllers: <none>` at the top. Today's layout lists each container in its own
# > section further down, with its image, state and restarts, and ends with the pod's
# > **Events** (`Pulled`, `Created`, `Started`, ...), which the kubelet records
# > through the API server. Run `lab.kubectl("describe", "pods/nginx-the-second")` to see it all.

# %% [markdown]
# ## Step 5: the second nginx serves too
#
# **What to look for:** the welcome page again, from the second pod's own IP.

# %%
second_ip = lab.get_pod("nginx-the-second")["status"]["podIP"]
page = lab.http_get(f"http://{second_ip}/")

# %% [markdown]
# ## Checkpoint

# %%
import re

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
# **Next:** [06 · Break it on purpose](06-break-it.ipynb).
