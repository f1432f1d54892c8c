# %% [markdown]
# # 1 · Starting etcd
#
# Everything a Kubernetes cluster knows (its nodes, the pods that should run, where they run)
# is stored in **etcd**, a small, strongly consistent key-value store. Only the API server talks
# to etcd; every other component goes through the API server. So etcd comes first.
# In this notebook you will start it, check that it is healthy, and write and read one
# key yourself, to see that underneath it all it is a plain key-value store.

# %%
from labserver.lab import Lab

lab = Lab()

# %%
lab.architecture(highlight="etcd", caption="01 · etcd: where every object of the cluster lives")

# %% [markdown]
# The first line names the container runtime this lab uses and why (see
# [notebook 00](00-preflight.ipynb)). Everything the lab starts is recorded in the lab
# state directory `.lab/` at the top of the checkout, so later notebooks, each in a
# fresh kernel, can find it again.

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
# etcd answers plain HTTP on its client port. `lab.etcd_http` sends the request and
# prints the `curl` command you could type in a terminal instead.
# **What to look for:** `"health": "true"`.

# %%
health = lab.etcd_http("GET", "/health")

# %% [markdown]
# ## Step 3: a key, a value, and a revision
#
# The API server talks to etcd through etcd's v3 API (gRPC). Here we use the same
# Python client library it uses. We write a key, read it back, overwrite it and read
# it again.
#
# **What to look for:** every write moves etcd's single, store-wide **revision**
# forward. etcd remembers, for each key, the revision that created it
# (`create_revision`), the revision of its latest write (`mod_revision`), and how many
# times it was written (`version`). Remember `mod_revision`: in the next notebook it
# becomes Kubernetes' `resourceVersion`.

# %%
etcd = lab.etcd_client()

etcd.put("/hello", "world")
value, meta = etcd.get("/hello")
print(f"/hello = {value.decode()!r}  create_revision {meta.create_revision}, "
      f"mod_revision {meta.mod_revision}, version {meta.version}")

etcd.put("/hello", "again")
value, meta = etcd.get("/hello")
print(f"/hello = {value.decode()!r}  create_revision {meta.create_revision}, "
      f"mod_revision {meta.mod_revision}, version {meta.version}")

etcd.delete("/hello")
print("deleted /hello:", etcd.get("/hello"))

# %% [markdown]
# The same key kept its `create_revision` while its `mod_revision` moved on, and its
# `version` counted the writes. After the delete, the key is gone (`(None, None)`), and
# etcd is empty again, ready for the API server.

# %% [markdown]
# ## Checkpoint

# %%
assert lab.etcd_running(), "etcd should be running"
assert health.json["health"] == "true"   # newer etcds add fields; this one has been there since etcd 2
assert etcd.get("/hello") == (None, None)
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
# **Next:** [02 · The API server](02-the-api-server.ipynb).
