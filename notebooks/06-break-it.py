# %% [markdown]
# # 6 · Break it on purpose
#
# *About 15 minutes.* The cluster from notebooks 01 to 05 works. Now you will find out
# *why* it works by breaking one piece at a time and watching what the others do.
# Four experiments, each one a lesson from the post:
#
# 1. a pod with no `nodeName`: nobody runs it, because there is no scheduler yet;
# 2. kill nginx's container: the kubelet starts it again;
# 3. stop etcd: the API server can only apologise, and nothing is lost;
# 4. stop the kubelet: the node's heartbeat stops, but its pods keep running.
#
# Each experiment ends with a checkpoint that checks what happened.

# %%
from labserver.lab import Lab

lab = Lab()
lab.shell_setup()

# %%
lab.architecture(highlight=["etcd", "kubelet", "runtime"], caption="06 · break it: the pieces you will stop")

# %% [markdown]
# ### Catch-up cell
#
# **Opened this notebook on its own?** This one cell starts whatever notebooks 01 to 05
# (etcd, the API server, the kubelet, both pods) would have started. If you ran those
# notebooks just before, it only checks that everything is still up and says so.
# Re-running it is always harmless.

# %%
lab.catch_up(upto=5)

# %% [markdown]
# ## Experiment 1: a pod without a node
#
# In notebook 04 you wrote `nodeName` into the manifest yourself. What if you leave it
# out? `kubectl run` creates a pod from an image name alone, with no `nodeName`.
# **Predict** before you run the cells: will it run?

# %%
lab.remove_leftover("/api/v1/namespaces/default/pods/lonely")  # only does something when you re-run this notebook
# !kubectl run lonely --image=nginx --restart=Never

# %% [markdown]
# Now watch the pod for three seconds. A watch with `timeoutSeconds=3` prints one line
# per change and then ends by itself. The `jq` filter keeps the event type, the phase
# and `spec.nodeName`. **What to look for:** one `ADDED` line (the pod as it is now),
# `Pending`, `null`, and then nothing: in three seconds nobody touched the pod.

# %%
# !curl -s "localhost:8080/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name=lonely&timeoutSeconds=3" | jq -c '[.type, .object.status.phase, .object.spec.nodeName]'

# %%
# !kubectl get pod lonely -o wide

# %% [markdown]
# The kubelet only watches pods whose `spec.nodeName` is its own node
# (`fieldSelector=spec.nodeName=<node>`), so it never even sees `lonely`: there are no
# events about it either. In a full cluster the **scheduler** watches for pods with no
# `nodeName`, picks a node, and writes it through the pod's `binding` subresource. That is
# the post series' next step.

# %%
# !kubectl get events --field-selector involvedObject.name=lonely

# %% [markdown]
# ## Checkpoint: Pending, with no node

# %%
lonely = lab.get_pod("lonely")
assert lonely["status"]["phase"] == "Pending", lonely["status"]
assert "nodeName" not in lonely["spec"], lonely["spec"]
assert not lonely["status"].get("conditions"), "nobody should have looked at this pod"
print("checkpoint passed: lonely is Pending and no node has it")

# %% [markdown]
# A pod nobody runs is deleted at once: there is no kubelet to wait for.

# %%
# !kubectl delete pod lonely

# %% [markdown]
# ## Experiment 2: kill nginx's container
#
# The post's pod has `restartPolicy: Always` (a default the API server filled in, as you
# saw in notebook 04). So when a container dies, the kubelet starts it again. First, find
# the container: the kubelet reports it in the pod's status as `runtime://id`.

# %%
# !kubectl get pod nginx -o json | jq -r '.status.containerStatuses[] | select(.name == "nginx") | .containerID'
# !kubectl get pod nginx

# %% [markdown]
# Now kill it the hard way, with `SIGKILL`, behind the kubelet's back. With Docker, that is
# `docker kill`. With the process runtime, the container is a process whose PID the
# runtime wrote down in `state.json` in the kubelet's directory for the pod.

# %%
import os

import requests

nginx = lab.get_pod("nginx")
uid = nginx["metadata"]["uid"]
status = next(c for c in nginx["status"]["containerStatuses"] if c["name"] == "nginx")
runtime, container = status["containerID"].split("://")
restarts = status["restartCount"] + 1                # what RESTARTS should say after the kill
if runtime == "docker":
    kill = f"docker kill {container}"                  # prints the container's id
else:                                                  # the same, by hand: kill, then print the id
    state = os.path.relpath(lab.dir / "kubelet" / "pods" / uid / "containers" / "nginx" / "state.json")
    kill = f"kill -KILL $(jq .pid {state}) && echo {container}"
print(f"[{runtime}] $ {kill}")
# !{kill}

# %% [markdown]
# The kubelet looks at its containers every second. It sees nginx exited, and as the
# policy says `Always`, it creates a new one. `kubectl wait` waits (up to 30 seconds)
# until the pod's status says so. **What to look for:** `condition met` twice, then
# `RESTARTS 1` and `2/2` ready.

# %%
# !kubectl wait pod/nginx --for=jsonpath='.status.containerStatuses[?(@.name=="nginx")].restartCount'=$restarts --timeout=30s
# !kubectl wait pod/nginx --for=condition=Ready --timeout=30s
# !kubectl get pod nginx

# %% [markdown]
# ## Checkpoint: a new container, restarted once

# %%
nginx = lab.get_pod("nginx")
now = next(c for c in nginx["status"]["containerStatuses"] if c["name"] == "nginx")
assert now["restartCount"] == restarts, now
assert now["containerID"] != status["containerID"], "the kubelet should have made a new container"
assert now["lastState"]["terminated"]["exitCode"] == 137, now["lastState"]   # 128 + SIGKILL (9)
assert "<title>Welcome to nginx!</title>" in requests.get(f"http://{nginx['status']['podIP']}/", timeout=5).text
print("checkpoint passed: nginx was killed (exit code 137) and restarted; it serves again")

# %% [markdown]
# (If a container keeps dying, the kubelet waits longer and longer between restarts:
# that is the `CrashLoopBackOff` you may have met on real clusters.)
#
# ## Experiment 3: stop etcd
#
# The API server keeps nothing itself: every object is in etcd. Stop etcd (its data
# directory, `.lab/etcd-data/`, stays) and ask the API server for the pods.

# %%
before = sorted(p["metadata"]["name"] for p in requests.get(f"{lab.api_url}/api/v1/pods", timeout=5).json()["items"])
lab.stop("etcd")

# %% [markdown]
# **What to look for:** no pod list, but a `Status` object, the API's own error format:
# `code` 503, `reason` `ServiceUnavailable`, and a `message` saying why. kubectl gets the
# same answer, prints its message, and exits with a non-zero code, as scripts expect.

# %%
# !curl -s localhost:8080/api/v1/pods | jq .
# !kubectl get pods; echo "kubectl exited with code $?"

# %% [markdown]
# Notice what did *not* stop: nginx. The pods run on the node, not in etcd.

# %%
pod_ip = nginx["status"]["podIP"]
# !curl -s http://$pod_ip/ | head -4

# %% [markdown]
# ## Checkpoint: the API server answers, with a Status

# %%
answer = requests.get(f"{lab.api_url}/api/v1/pods", timeout=10)
assert answer.status_code == 503, answer.text
assert answer.json()["kind"] == "Status" and answer.json()["reason"] == "ServiceUnavailable", answer.json()
print("checkpoint passed: without etcd the API server answers 503 ServiceUnavailable, as a Status")

# %% [markdown]
# Start etcd again on the same data directory. Nothing was lost: the API server reconnects
# by itself, and every pod is still there, in the state it was in.

# %%
lab.start("etcd")
# !curl -s localhost:8080/api/v1/pods | jq -r '.items[].metadata.name'
# !kubectl get pods

# %% [markdown]
# ## Checkpoint: everything came back

# %%
from labserver.lab.notebook.lab import progress
from labserver.lab.supervise.procs import wait_for

pods = wait_for(lambda: requests.get(f"{lab.api_url}/api/v1/pods", timeout=5).json()["items"], 30,
                "the API server to list pods again", progress=progress)
assert sorted(p["metadata"]["name"] for p in pods) == before and "nginx" in before
assert all(p["status"]["phase"] == "Running" for p in pods)
print("checkpoint passed: etcd is back with every pod, Running")

# %% [markdown]
# ## Experiment 4: stop the kubelet
#
# Every 10 seconds the kubelet renews its node's **Lease** (`kube-node-lease/<node>`,
# notebook 03): `spec.renewTime` is its heartbeat. Stop the kubelet and look at that time.

# %%
lab.stop("kubelet")

# %%
node = lab.node_name()
# !kubectl get lease $node -n kube-node-lease -o json | jq .spec

# %% [markdown]
# Now watch the Lease until one second after the kubelet's next renewal was due (at most
# 11 seconds). The watch starts from the Lease's current `resourceVersion`, so it prints
# only changes; `jq -s length` counts them. **What to look for:** `0`.

# %%
from datetime import datetime, timezone

lease = requests.get(f"{lab.api_url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}",
                     timeout=5).json()
renewed = datetime.fromisoformat(lease["spec"]["renewTime"].replace("Z", "+00:00"))
age = (datetime.now(timezone.utc) - renewed).total_seconds()
window = max(2, round(10 + 1 - age))
rv = lease["metadata"]["resourceVersion"]
print(f"last renewed {age:.1f}s ago: watching for {window}s")
# !curl -s "localhost:8080/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases?watch=1&resourceVersion=$rv&fieldSelector=metadata.name=$node&timeoutSeconds=$window" | jq -s length

# %% [markdown]
# Meanwhile the pods keep running: the kubelet starts and watches containers, it does not
# carry them. And `kubectl get nodes` still says `Ready`. Nobody is there to notice the
# silence: that is the job of the node lifecycle controller (in the controller-manager,
# which this lab does not run), which would mark the node `Unknown` after 40 seconds
# without a renewal.

# %%
# !curl -s http://$pod_ip/ | head -4
# !kubectl get nodes

# %% [markdown]
# ## Checkpoint: the heartbeat stopped, the pods did not

# %%
after = requests.get(f"{lab.api_url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}",
                     timeout=5).json()
assert after["spec"]["renewTime"] == lease["spec"]["renewTime"], "the Lease was renewed: is a kubelet running?"
assert (datetime.now(timezone.utc) - renewed).total_seconds() > 10, "watch longer than the renew interval"
assert "<title>Welcome to nginx!</title>" in requests.get(f"http://{pod_ip}/", timeout=5).text
print("checkpoint passed: no Lease renewal for over 10 s, and nginx still serves")

# %% [markdown]
# Start the kubelet again. It registers (the node exists: nothing to do), renews the Lease
# at once, and finds its pods' containers still running: it adopts them instead of
# starting new ones, so `RESTARTS` does not move.

# %%
lab.start("kubelet")
# !kubectl get lease $node -n kube-node-lease -o json | jq .spec
# !kubectl get pods

# %% [markdown]
# ## Checkpoint: the heartbeat is back, the containers are the same

# %%
renewed_again = wait_for(lambda: requests.get(f"{lab.api_url}/apis/coordination.k8s.io/v1/namespaces/"
                                              f"kube-node-lease/leases/{node}", timeout=5).json()["spec"]["renewTime"]
                         != lease["spec"]["renewTime"], 15, "the kubelet to renew its Lease", progress=progress)
same = next(c for c in lab.get_pod("nginx")["status"]["containerStatuses"] if c["name"] == "nginx")
assert same["containerID"] == now["containerID"] and same["restartCount"] == restarts, same
print("checkpoint passed: the Lease is renewed again and nginx kept its container")

# %% [markdown]
# ## What just happened
#
# | you stopped | what kept working | what stopped | why |
# |---|---|---|---|
# | (no `nodeName`) | everything | the pod never ran | no scheduler picks a node; the kubelet only watches its own |
# | nginx's container | the pod, the API | nginx, for a second | the kubelet restarts containers (`restartPolicy: Always`) |
# | etcd | the pods on the node | every API call (503) | the API server stores nothing itself |
# | the kubelet | the pods, the API | the Lease renewals | the kubelet is the node's heartbeat, not its pods' engine |
#
# **Try it yourself:** stop the API server with `lab.stop("apiserver")`. What does
# `kubectl get pods` say now, and does nginx still answer? Start it again with
# `lab.start("apiserver")`.
#
# **Next:** [07 · Tearing down](07-tearing-down.ipynb).
