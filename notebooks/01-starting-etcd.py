# %% [markdown]
# # 1 · Starting etcd
#
# Everything a Kubernetes cluster knows (its nodes, the pods that should run, where they run)
# is stored in **etcd**, a small, strongly consistent key-value store. Only the API server talks
# to etcd; every other component goes through the API server. So etcd comes first.
# In this notebook you will start it, check that it is healthy, and write and read one
# key yourself, to see that underneath it all it is a plain key-value store.
#
# *About 15 minutes.*

# %%
from labserver.lab import Lab

lab = Lab()
lab.shell_setup()

# %%
lab.architecture(highlight="etcd", caption="01 · etcd: where every object of the cluster lives")

# %% [markdown]
# The first line names the container runtime this lab uses and why (see
# [notebook 00](00-preflight.ipynb)). Everything the lab starts is recorded in the lab
# state directory `.lab/` at the top of the checkout, so later notebooks, each in a
# fresh kernel, can find it again.
#
# `lab.shell_setup()` wrote `.lab/env.sh` and set the same variables in this notebook's
# kernel. From now on, a cell line that starts with `!` is an ordinary shell command:
# `curl`, `jq`, `etcdctl`, later `kubectl`, find the lab as they would in a terminal.
# Open one (JupyterLab: *File → New → Terminal*), run `source ../.lab/env.sh` in it,
# and you can type every command of this workbook there too.

# %% [markdown]
# ## Step 1: start etcd
#
# **With Docker** the lab runs the post's own command: the `quay.io/coreos/etcd` image,
# with its data directory `etcd-data/` mounted from the host, in the background
# (`--detach`), and sharing the host's network (`--net=host`) so that the API server
# will find it at `127.0.0.1:2379`. As in the post, the container id goes into a
# file, `etcd-container-id`, so that we can stop the container later. Two things
# differ from 2015: the image has a tag, `v3.5.21`, and the data directory is mounted
# at `/var/lib/etcd/default.etcd` (see *Today vs. 2015* below).
#
# **Without Docker** the lab runs the same etcd 3.5 binary as a process on the same
# ports, and saves its PID instead.
#
# Either way etcd starts on an empty `etcd-data/`, and the lab waits (with a deadline)
# until etcd answers. **What to look for:** `etcd answers on http://127.0.0.1:2379`.

# %%
lab.start_etcd()

# %% [markdown]
# ## Step 2: is it healthy?
#
# etcd answers plain HTTP on its client port. `curl -s` (silent: no progress meter)
# fetches its `/health` page, and `jq .` prints the JSON answer indented.
# **What to look for:** `"health": "true"`.

# %%
!curl -s http://127.0.0.1:2379/health | jq .

# %% [markdown]
# ## Step 3: a key, a value, and a revision
#
# The API server talks to etcd through etcd's v3 API (gRPC). `etcdctl`, etcd's own
# command line client, speaks the same API; it finds etcd through `ETCDCTL_ENDPOINTS`,
# which `.lab/env.sh` set. We write a key, read it back, overwrite it and read it again.
#
# **What to look for:** every write moves etcd's single, store-wide **revision**
# forward. etcd remembers, for each key, the revision that created it
# (`create_revision`), the revision of its latest write (`mod_revision`), and how many
# times it was written (`version`). Remember `mod_revision`: in the next notebook it
# becomes Kubernetes' `resourceVersion`.
#
# `etcdctl get --write-out=json` answers with keys and values in base64; the `jq` filter
# decodes them (`@base64d`) and keeps the revisions.

# %%
!etcdctl put /hello world
!etcdctl get /hello --write-out=json | jq '.kvs[] | {key: .key | @base64d, value: .value | @base64d, create_revision, mod_revision, version}'

# %%
!etcdctl put /hello again
!etcdctl get /hello --write-out=json | jq '.kvs[] | {key: .key | @base64d, value: .value | @base64d, create_revision, mod_revision, version}'

# %% [markdown]
# The same key kept its `create_revision` while its `mod_revision` moved on, and its
# `version` counted the writes.
#
# ### Exercise: predict the next revision
#
# What revision will etcd give the next write? etcd tells you its current revision in the
# header of every answer: `etcdctl endpoint status --write-out=json | jq .` shows it as
# `.[0].Status.header.revision`. Set `predicted` to your answer, then write `/hello` a third
# time (any value) with `etcdctl put`, and run the check below.

# %% tags=["exercise"]
predicted = None  # your prediction
# your command here: !etcdctl put /hello ...

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution: the current revision, plus one.
revision = !etcdctl endpoint status --write-out=json | jq '.[0].Status.header.revision'
predicted = int(revision[0]) + 1
!etcdctl put /hello third

# %% tags=["check"]
lab.check("revision", predicted=predicted)

# %% [markdown]
# Now delete the key and ask for it again: `etcdctl get` prints nothing for a key that
# does not exist.

# %%
!etcdctl del /hello
!etcdctl get /hello

# %% [markdown]
# `del` printed how many keys it deleted (`1`), and the key is gone: etcd is empty
# again, ready for the API server.

# %% [markdown]
# ## Checkpoint

# %%
import requests

assert lab.etcd_running(), "etcd should be running"
assert requests.get(lab.etcd_url + "/health", timeout=5).json()["health"] == "true"   # newer etcds add fields
assert "/hello" not in [key for key, _ in lab.etcd_keys("/")]
if not lab.running("apiserver"):  # until notebook 02 starts the API server, nothing else writes
    assert lab.etcd_keys("/") == [], "etcd should hold no keys yet"
print("checkpoint passed: etcd is running, healthy and empty")

# %% [markdown]
# ## Today vs. 2015
#
# * The post ran `quay.io/coreos/etcd` without a tag, which in 2015 meant etcd 2, whose
#   API was plain HTTP under `/v2/keys`. Kubernetes has used etcd's **v3** API (gRPC,
#   one flat key space, store-wide revisions) since 1.6, and etcd 3.5 is what runs
#   here. Its `/health` endpoint is still plain HTTP.
# * Today the image needs a tag: that repository's `latest` stopped moving in 2018 at
#   etcd 3.3.8, built for amd64 only. The lab pins `v3.5.21`, an etcd 3.5 like the
#   binary it ships, built for both amd64 and arm64 (so it also runs on Apple
#   silicon). Today's image also works in `/var/lib/etcd`, not in `/`, so etcd keeps
#   its data in `/var/lib/etcd/default.etcd`, and that is where `etcd-data/` is mounted.
# * Where no registry answers (as on our CI machines), `make images` builds an image
#   under the same name from the etcd 3.5.1 binary the lab already has, laid out as
#   the real one. The checks above use only what both versions answer.

# %% [markdown]
# ## What just happened
#
# You started etcd (as the post's container, or as a process), saw it answer on
# `127.0.0.1:2379`, and used it as a key-value store whose writes are numbered by one
# growing revision. Its container id or PID is in `.lab/`.
#
# ## Questions
#
# 1. You wrote `/hello` three times. What is its `version`, and why did its `create_revision` not change?
# 2. Who else will write into this etcd from the next notebook on, and through what?
# 3. Why does `etcdctl get` of a deleted key print nothing, rather than an error?

# %% [markdown] jupyter={"source_hidden": true}
# **Answers.** 1. `version` 3: it counts the writes of the key since it was created; `create_revision`
# is the revision of the write that created it, which stays. 2. Only the API server, through etcd's
# v3 API (gRPC); every other component goes through the API server. 3. A range read that matches no
# key is a successful answer with zero keys: etcd has nothing to print.

# %% [markdown]
# **Next:** [02 · The API server](02-the-api-server.ipynb).
