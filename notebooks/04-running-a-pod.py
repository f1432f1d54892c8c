# %% [markdown]
# # 4 · Running a pod through the API server
#
# Now the cluster can run something. You will take the post's pod manifest (nginx,
# plus a small busybox container that keeps nginx's access log from growing), say
# which node should run it, and POST it to the API server. You will then watch the
# kubelet pick it up and start both containers, and fetch nginx's welcome page from
# the pod's own IP address. Nothing here talks to the kubelet directly: the API
# server, and the object in etcd, are the only meeting point.
#
# *About 15 minutes.*

# %%
from labserver.lab import Lab

lab = Lab()
lab.shell_setup()

# %%
lab.architecture(highlight="runtime", caption="04 · a pod: posted, watched, run by the runtime, reported back")

# %% [markdown]
# ### Catch-up cell
#
# **Opened this notebook on its own?** This one cell starts whatever notebooks 01 to 03 (etcd, the API server, the kubelet) would have
# started, so the steps below have something to talk to. If you ran those notebooks
# just before, it only checks that everything is still up and says so.
# Re-running it is always harmless.

# %%
lab.catch_up(upto=3)

# %% [markdown]
# ## Step 1: the manifest
#
# `nginx.yaml` (next to this notebook) is the post's pod: two containers that share
# one volume, `nginx-logs`, an `emptyDir` (an empty directory that lives as long as the pod).
# nginx writes its logs into it; `log-truncator` empties `access.log` every 10 seconds.

# %%
!cat nginx.yaml

# %% [markdown]
# ## Step 2: choose the node, and convert to JSON
#
# In a full cluster the **scheduler** picks a node for each pod. There is no scheduler
# here, so, as in the post, we pick it ourselves: we set `spec.nodeName` to the node
# from notebook 03. The post did it with `sed`, then converted YAML to JSON with Ruby,
# because the 2015 API server only spoke JSON. Python does both here, and writes
# `nginx.json` next to this notebook, where the `!` commands run.
# **What to look for:** `nodeName` at the top of `spec`.

# %%
import json
import yaml

pod = yaml.safe_load(open("nginx.yaml"))
pod["spec"] = {"nodeName": lab.node_name(), **pod["spec"]}   # the post: sed '/spec:/a\ \ nodeName: <node>'
path = lab.write_file("nginx.json", json.dumps(pod, indent=2) + "\n")

# %%
!jq .spec.nodeName nginx.json

# %% [markdown]
# ## Step 3: POST it
#
# `tee` keeps a copy of the answer in `nginx-created.json` for the checkpoint.
# **What to look for:** the answer is the pod *as stored*: the API
# server added `uid`, `resourceVersion` and `creationTimestamp`, filled in defaults the
# manifest left out (`restartPolicy: Always`, `dnsPolicy: ClusterFirst`, and more),
# and set the status to `Pending`: nothing runs yet. As in the post, `jq` drops the
# containers and volumes, which come back as we sent them (plus their own defaults).

# %%
lab.remove_leftover("/api/v1/namespaces/default/pods/nginx")  # only does something when you re-run this notebook
!curl -s -X POST localhost:8080/api/v1/namespaces/default/pods -H 'Content-Type: application/json' --data @nginx.json | tee nginx-created.json | jq 'del(.spec.containers, .spec.volumes)'

# %% [markdown]
# ## Checkpoint: the API server accepted the pod

# %%
created = json.load(open("nginx-created.json"))
assert created["kind"] == "Pod", created
assert created["status"]["phase"] == "Pending"
assert created["spec"]["restartPolicy"] == "Always" and created["spec"]["dnsPolicy"] == "ClusterFirst"
assert created["spec"]["nodeName"] == lab.node_name()
print("checkpoint passed: pod nginx created, Pending, on node", lab.node_name())

# %% [markdown]
# ## Step 4: wait for the kubelet
#
# The kubelet is watching for pods whose `spec.nodeName` is its node. It has just
# seen `nginx`: it prepares the shared volume, starts both containers, and writes
# the pod's status back through the API server. The post said "after a short wait".
# Here the lab polls the pod and prints each change it sees, up to a deadline. **What to
# look for:** `Running with 2/2 containers ready`.

# %%
running = lab.wait_for_pod("nginx")

# %% [markdown]
# ## Step 5: the pod's status
#
# The post's `jq` filter keeps the pod's name and status, without the per-container
# details. **What to look for:** `phase: Running`, a `Ready` condition that is `"True"`,
# `hostIP` (the node's address), `podIP` (the pod's own address, which both containers
# share) and `startTime`.

# %%
!curl -s localhost:8080/api/v1/namespaces/default/pods/nginx | jq '{name: .metadata.name, status: .status} | del(.status.containerStatuses)'

# %% [markdown]
# ## Step 6: is nginx really serving?
#
# **What to look for:** `<title>Welcome to nginx!</title>`, fetched from the pod's IP.
# With Docker that IP is on the engine's bridge network (`172.17.x.y`), as in the post.
# With the process runtime it is a loopback address that belongs to this pod alone.
# The shell keeps the address, read from the API server with `jq -r` (a raw string,
# without quotes), in `POD_IP`, and curl fetches the page from it.

# %%
!POD_IP=$(curl -s localhost:8080/api/v1/namespaces/default/pods/nginx | jq -r .status.podIP) && curl -s http://$POD_IP/ | head -4

# %% [markdown]
# ## Checkpoint: the pod runs, and serves

# %%
import requests

status = lab.get_pod("nginx")["status"]
assert status["phase"] == "Running"
assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
assert status["podIP"] and status["hostIP"] and status["startTime"]
assert all(c["ready"] for c in status["containerStatuses"]) and len(status["containerStatuses"]) == 2
page = requests.get(f"http://{status['podIP']}/", timeout=5).text
assert "<title>Welcome to nginx!</title>" in page
print(f"checkpoint passed: nginx is Running at {status['podIP']} and serves its welcome page")

# %% [markdown]
# ## The pod's life, as etcd recorded it
#
# etcd keeps earlier revisions of every key (until it compacts them), so we can replay
# how the pod's object changed. The first row is our POST. Every later row is a
# status update that the kubelet sent to the API server, which wrote it to etcd.
# How many updates it takes to get from `Pending` to `Running` depends on timing, so
# the ones before the last are marked `…`.

# %%
history = lab.pod_history("nginx")

# %% [markdown]
# ## The same story, as a picture
#
# The post's central flow, drawn from what this run recorded: the revisions etcd holds
# for the pod's key, and the Events the kubelet posted about it (each names the revision
# of the pod it acted on, and each container it created and started). The kubelet's
# status writes before the last one are left out.

# %%
flow = lab.pod_flow("nginx")
flow

# %% [markdown]
# ## Checkpoint: the recorded flow is the post's flow

# %%
steps = repr(flow).splitlines()[1:]
assert [s.split(": ", 1)[0].split(". ", 1)[1] for s in steps] == [
    "you → API server", "API server → etcd", "etcd → API server", "API server → you", "etcd → API server",
    "API server → kubelet", "kubelet → runtime", "kubelet → runtime", "kubelet → API server", "API server → etcd"]
assert "Running, 2/2 ready" in steps[-2]
print("checkpoint passed: POST → etcd txn → watch event → kubelet → runtime → status PATCH → etcd")

# %% [markdown]
# > **Today vs. 2015**
# > * Today's API server accepts YAML as well as JSON (so does ours), so the conversion step is optional.
# > * The post's status had one condition, `Ready`. Today there are five: `PodScheduled`,
# >   `PodReadyToStartContainers`, `Initialized`, `ContainersReady` and `Ready`.
# >   `hostIPs`/`podIPs` (lists, for dual-stack networking) and `qosClass` are newer too.
# > * No `selfLink` in the metadata (removed in 1.20).
# > * Setting `spec.nodeName` yourself still works: it is how a pod skips the scheduler.

# %% [markdown]
# ## What just happened
#
# You POSTed the post's pod with `nodeName` set. The API server validated it, filled in
# defaults and stored it `Pending` in etcd. The kubelet, watching for pods on its node,
# started both containers and reported the pod `Running` with its own IP, and nginx
# answered on that IP.
#
# ### Exercise: which containers are ready?
#
# Write a command that prints the name of each of the pod's containers that is ready,
# one per line, and capture them in `ready`. Each entry of `.status.containerStatuses`
# has a `name` and a `ready` (true or false); jq's `select(.ready)` keeps the ready ones.

# %% tags=["exercise"]
ready = None  # your command here: ready = !curl -s localhost:8080/api/v1/namespaces/default/pods/nginx | jq -r ...

# %% tags=["solution"] jupyter={"source_hidden": true}
ready = !curl -s localhost:8080/api/v1/namespaces/default/pods/nginx | jq -r '.status.containerStatuses[] | select(.ready) | .name'
ready

# %% tags=["check"]
lab.check("ready-containers", answer=ready)

# %% [markdown]
# ## Questions
#
# 1. Nothing told the kubelet about the pod. How did it find out it had a pod to run?
# 2. Why was the pod `Pending` in the POST's answer, although nothing was wrong with it?
# 3. The two containers share one IP address. What else do they share in this pod?

# %% [markdown] jupyter={"source_hidden": true}
# **Answers.** 1. It watches the API server for pods whose `spec.nodeName` is its node, and saw the new
# one. 2. Nothing had run yet: the API server only stored it; the kubelet reports `Running` later, through
# the API server. 3. The `nginx-logs` volume (an `emptyDir`), mounted in both.

# %% [markdown]
# **Next:** [05 · kubectl](05-kubectl.ipynb).
