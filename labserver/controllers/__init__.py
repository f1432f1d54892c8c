"""The controller-manager's controllers (upstream: pkg/controller/, run by kube-controller-manager).

A controller is a reconcile loop: it lists and watches the objects it cares
about through the API server, like any other client, and drives the
cluster toward what they say. Controllers never import the API server,
the kubelet or the lab: they talk to the API over HTTP (labserver.client).

    base.py               informers + a work queue + one worker calling sync(key)
    namespace.py          the namespace controller: empties a Terminating namespace, then finalizes it
    namespace_deleter.py  what "empty it" means: every namespaced resource discovery lists
    replicaset.py         N pods of a template: create, delete, adopt, release, status
    deployment.py         rollouts through ReplicaSets: RollingUpdate, Recreate, revisions, conditions
    garbagecollector.py   dependents of owners that are gone; Orphan and Foreground deletion
    nodelifecycle.py      silent nodes: Unknown, tainted, their pods evicted
    serviceaccount.py     a `default` ServiceAccount in every namespace
    manager.py            `python -m labserver controller-manager`
"""
