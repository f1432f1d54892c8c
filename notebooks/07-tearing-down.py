# %% [markdown]
# # 7 · Tearing down
#
# The last step of the post: delete both pods with kubectl, make sure their containers
# are really gone, and stop everything else. Here you will do it in an order that leaves
# nothing behind: pods first, while the kubelet is still there to stop their
# containers, then the kubelet, the API server and etcd. At the end, the lab checks
# that nothing it started is still running or listening.
#
# *About 5 minutes.*

# %%
from labserver.lab import Lab

lab = Lab()
lab.shell_setup()

# %%
lab.architecture(highlight=["you", "apiserver", "etcd", "kubelet", "runtime"], caption="07 · tearing down: everything stops")

# %% [markdown]
# ### Catch-up cell
#
# **Opened this notebook on its own?** This one cell starts whatever notebooks 01 to 05 (etcd, the API server, the kubelet, both pods) would have
# started, so the steps below have something to talk to. If you ran those notebooks
# just before, it only checks that everything is still up and says so.
# Re-running it is always harmless.

# %%
lab.catch_up(upto=5)

# %% [markdown]
# ## Step 1: delete both pods
#
# `kubectl delete` asks the API server to delete each pod. A pod that runs on a node is
# not removed at once: the API server marks it for deletion (it shows as
# `Terminating`), the kubelet stops its containers (SIGTERM, then SIGKILL after a grace
# period) and then removes the object for good. kubectl waits until that is done.
# `--all` deletes every pod of the namespace: both nginx pods, and the third one if you
# made it in notebook 05's exercise. **What to look for:** one `deleted` line per pod.

# %%
!kubectl delete pods --all

# %%
!kubectl get pods

# %% [markdown]
# ## Step 2: are the containers really gone?
#
# The post ran `sleep 20` and then `docker ps`. With the Docker runtime, the cell below
# runs `docker ps`, listing (`--quiet`: ids only) every container, running or not
# (`--all`), that this lab's kubelet made: its root dir is on each as a label.
# **What to look for:** no container id below the first line. With the process runtime
# there is no engine to ask, and the cell runs no command.

# %%
print(f"[{lab.runtime}] containers of this lab's pods that Docker lists:" if lab.runtime == "docker"
      else f"[{lab.runtime}] no Docker engine to ask: the pods' containers were host processes")
if lab.runtime == "docker":
    !docker ps --all --quiet --filter label=io.labserver.kubelet.root-dir={lab.dir}/kubelet

# %% [markdown]
# The lab can also ask the kubelet's runtime itself (Docker, or the process runtime's own
# records). **What to look for:** `containers of the lab's pods left in the runtime: 0`.

# %%
left = lab.pod_containers()

# %% [markdown]
# ## Checkpoint: no pods, no containers

# %%
import subprocess

pods = subprocess.run(["kubectl", "get", "pods"], capture_output=True, text=True)
assert "No resources found" in pods.stdout + pods.stderr
assert left == []
assert lab.get_pod("nginx") is None and lab.get_pod("nginx-the-second") is None
print("checkpoint passed: both pods and all their containers are gone")

# %% [markdown]
# ## Step 3: stop the kubelet, the API server and etcd
#
# Each is stopped by the PID (or, for the etcd container, the container id) that the lab
# recorded when it started it, never by looking for a program by name.
# With Docker, etcd goes the post's way: `docker stop $(cat etcd-container-id)`,
# followed by a `docker rm` so that no stopped container is left either. `etcd-data/`
# stays, as in the post. Notebook 01 starts again from an empty one.

# %%
lab.stop("kubelet")
lab.stop("apiserver")
lab.stop("etcd")

# %% [markdown]
# ## Step 4: is anything left?
#
# **What to look for:** nothing the lab started is running, and its ports are free.
# `python -m labserver teardown --check` (or `make check-clean`) runs the same check
# from a terminal. `python -m labserver teardown` (or `make clean`) stops whatever
# is left, whatever state the notebooks were left in.

# %%
leftovers = lab.leftovers()

# %% [markdown]
# ## Checkpoint: clean

# %%
assert leftovers == []
print("checkpoint passed: nothing left running or listening")

# %% [markdown]
# > **Note:** if the lab started its own private Docker engine (`make docker-up`), it is
# > still running. It is not part of the cluster. `make docker-down` stops it.

# %% [markdown]
# ## What just happened
#
# You deleted both pods through the API server. The kubelet stopped their containers
# before the objects disappeared, so no `sleep` was needed. Then you stopped the
# kubelet, the API server and etcd, and checked that nothing is left.
#
# That is the whole post: etcd, an API server in front of it, a kubelet that registers
# a node and runs what the API server tells it, and kubectl on top. What a full
# cluster adds next, the scheduler that fills in `nodeName` for you and more nodes, is the
# post series' next step.
#
# ## Questions
#
# 1. Why delete the pods before stopping the kubelet?
# 2. After `kubectl delete` returned, why was no `sleep` needed before checking the containers?
# 3. What is left on disk after this notebook, and which notebook starts from an empty one?

# %% [markdown] jupyter={"source_hidden": true}
# **Answers.** 1. The kubelet is what stops a pod's containers; without it they would keep running.
# 2. kubectl waited until the object was gone, and the kubelet removes it only after stopping the
# containers. 3. `etcd-data/` in `.lab/` (and the lab's records); notebook 01 starts etcd on an empty one.

# %% [markdown]
# **Back to the start:** [00 · Preflight](00-preflight.ipynb).
