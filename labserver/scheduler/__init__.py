"""The scheduler: puts each pod that has no node on one, through the API only (kube-scheduler).

Read it in this order:

- `server.py`: `python -m labserver scheduler --master=URL | --kubeconfig=FILE`;
- `schedule_one.py`: one scheduling cycle, top to bottom, in the phases of
  upstream's framework: PreFilter, Filter, PostFilter, Score, NormalizeScore,
  Reserve (assume), Bind;
- `plugins.py`: the plugins those phases run, each a few lines;
- `scheduler.py`: the informers' events sorted into the cache and the queue,
  and what a cycle's outcome writes back (events, the PodScheduled condition);
- `cache.py`, `queue.py`: what the scheduler knows (nodes and the pods bound to
  them) and which pods wait to be scheduled, with their back-off;
- `resources.py`: quantities ("250m", "1Gi") and what a pod requests;
- `informer.py`, `client.py`, `events.py`: list + watch, JSON over HTTP to the
  API server, and the events it records.

Like every component here it never imports another component: it only talks
to the API server, as kube-scheduler does.
"""
