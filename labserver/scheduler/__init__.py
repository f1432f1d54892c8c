"""The scheduler: puts each pod that has no node on one, through the API only (kube-scheduler).

Read it in this order:

- `server.py`: `python -m labserver scheduler --master=URL | --kubeconfig=FILE`;
- `schedule_one.py`: one scheduling cycle, top to bottom, in the phases of
  upstream's framework: PreFilter, Filter, PostFilter, Score, NormalizeScore,
  Reserve (assume), Bind;
- `plugins.py`: the plugins those phases run, each a few lines;
- `cache.py`, `queue.py`: what the scheduler knows (nodes and the pods bound to
  them, from list + watch) and which pods wait to be scheduled;
- `client.py`: JSON over HTTP to the API server.

Like every component here it never imports another component: it only talks
to the API server, as kube-scheduler does.
"""
