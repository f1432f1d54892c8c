"""`/metrics`: what kube-apiserver tells Prometheus, under upstream's names and labels.

    apiserver_request_total{verb,dry_run,group,version,resource,subresource,scope,component,code}
    apiserver_request_duration_seconds{verb,dry_run,group,version,resource,subresource,scope,component}
    apiserver_longrunning_requests{verb,group,version,resource,subresource,scope,component}   (open watches)
    etcd_request_duration_seconds{operation,group,resource}, etcd_requests_total{operation,group,resource}

(staging/src/k8s.io/apiserver/pkg/endpoints/metrics and pkg/storage/etcd3/metrics.)
Verbs are upstream's: LIST and WATCH for collection GETs, APPLY for server-side
apply, DELETECOLLECTION; scope is `namespace`, `cluster` or `resource`.

The numbers belong to ONE process. With --workers=N every worker process has
its own counters, and `/metrics` answers with those of whichever worker took
the connection, exactly as each kube-apiserver replica behind a load balancer
reports only its own requests (Prometheus scrapes each replica and sums).
For whole-server figures, run with --workers=1.
"""
from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics, generate_latest)

from .resources import lookup

# upstream's buckets (endpoints/metrics: requestLatencies; etcd3/metrics: etcdRequestLatency)
REQUEST_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2, 2.5,
                   3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60)
ETCD_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30,
                45, 60)
REQUEST_LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component")
LONGRUNNING_LABELS = ("verb", "group", "version", "resource", "subresource", "scope", "component")
ETCD_LABELS = ("operation", "group", "resource")
LONGRUNNING_INDEX = tuple(REQUEST_LABELS.index(name) for name in LONGRUNNING_LABELS)


class Metrics:
    """The metric families of one app, in their own registry (tests build many apps in one process)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("apiserver_request_total", "Counter of apiserver requests broken out for each "
                                "verb, dry run value, group, version, resource, scope, component, and HTTP "
                                "response code.", REQUEST_LABELS + ("code",), registry=self.registry)
        self.latency = Histogram("apiserver_request_duration_seconds", "Response latency distribution in seconds "
                                 "for each verb, dry run value, group, version, resource, subresource, scope and "
                                 "component.", REQUEST_LABELS, buckets=REQUEST_BUCKETS, registry=self.registry)
        self.longrunning = Gauge("apiserver_longrunning_requests", "Gauge of all active long-running apiserver "
                                 "requests broken out by verb, group, version, resource, scope and component. Not "
                                 "all requests are tracked this way.", LONGRUNNING_LABELS, registry=self.registry)
        self.etcd_latency = Histogram("etcd_request_duration_seconds", "Etcd request latency in seconds for each "
                                      "operation and object type.", ETCD_LABELS, buckets=ETCD_BUCKETS,
                                      registry=self.registry)
        self.etcd_requests = Counter("etcd_requests", "Etcd request counts for each operation and object type.",
                                     ETCD_LABELS, registry=self.registry)

        # label values -> children: prometheus_client's labels() lookup costs more than the update
        self._children: dict[tuple, tuple] = {}

    def request(self, labels: tuple, code: str, seconds: float) -> None:
        """One finished request (labels in REQUEST_LABELS order)."""
        key = labels + (code,)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(*key), self.latency.labels(*labels))
        children[0].inc()
        children[1].observe(seconds)

    def etcd_request(self, operation: str, resource, seconds: float) -> None:
        """Storage.on_request: one etcd call of a verb on a resource."""
        key = ("etcd", operation, resource.group, resource.name)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.etcd_latency.labels(*key[1:]), self.etcd_requests.labels(*key[1:]))
        children[0].observe(seconds)
        children[1].inc()


def request_labels() -> tuple:
    """Upstream's labels of the current request (RequestInfo), in REQUEST_LABELS order, without the code.

    A cheap reading of the path (this runs on every request): group, version,
    resource, namespace, name and subresource by position, as requestinfo.go does.
    """
    method, path = request.method, request.path
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:   # a non-resource URL (/healthz, /api, /metrics): the path is the subresource, as upstream
        return (method, "", "", "", "", path, "", "apiserver")
    watching = rest[0] == "watch"
    if watching:
        rest = rest[1:]
    namespaced = len(rest) >= 3 and rest[0] == "namespaces"
    if namespaced:
        rest = rest[2:]
    resource = lookup(group, version, rest[0]) if rest else None
    if resource is None:
        return (method, "", group, version, "", "unknown", "", "apiserver")
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    scope = "namespace" if namespaced else ("resource" if name else "cluster")
    verb = method
    if method == "GET" and not name:
        watching = watching or (request.args.get("watch") or "").lower() not in ("", "0", "false")
        verb = "WATCH" if watching else "LIST"
    elif method == "DELETE" and not name:
        verb = "DELETECOLLECTION"
    elif method == "PATCH" and (request.content_type or "").startswith("application/apply-patch"):
        verb = "APPLY"
    dry_run = ",".join(sorted(set(request.args.getlist("dryRun")))) if "dryRun" in request.args else ""
    return (verb, dry_run, group, version, resource.name, subresource, scope, "apiserver")


def init_app(app: Flask) -> Metrics:
    """Count and time every request, track open watches, and serve GET /metrics."""
    disable_created_metrics()   # no `*_created` series: kube-apiserver has none
    metrics = Metrics()
    app.extensions["labserver.metrics"] = metrics
    app.extensions["labserver.storage"].on_request = metrics.etcd_request

    @app.before_request
    def start():
        g.metrics_start = time.perf_counter()
        g.metrics_labels = labels = request_labels()
        if labels[0] == "WATCH":
            watch = metrics.longrunning.labels(*(labels[i] for i in LONGRUNNING_INDEX))
            watch.inc()
            g.metrics_watch = watch

    @app.after_request
    def record(response: Response) -> Response:
        labels, started = g.get("metrics_labels"), g.get("metrics_start")
        watch = g.pop("metrics_watch", None)
        if labels is None:
            return response
        code = str(response.status_code)

        def done():   # when the body has been sent: a watch ends here, not when its headers go
            metrics.request(labels, code, time.perf_counter() - started)
            if watch is not None:
                watch.dec()
        response.call_on_close(done)
        return response

    @app.get("/metrics")
    def serve_metrics():
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    return metrics
