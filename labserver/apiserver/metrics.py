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

from .errors import APIError

# upstream's buckets (endpoints/metrics: requestLatencies; etcd3/metrics: etcdRequestLatency)
REQUEST_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2, 2.5,
                   3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60)
ETCD_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30,
                45, 60)
REQUEST_LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component")
LONGRUNNING_LABELS = ("verb", "group", "version", "resource", "subresource", "scope", "component")
ETCD_LABELS = ("operation", "group", "resource")


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

    def etcd_request(self, operation: str, resource, seconds: float) -> None:
        """Storage.on_request: one etcd call of a verb on a resource."""
        self.etcd_latency.labels(operation, resource.group, resource.name).observe(seconds)
        self.etcd_requests.labels(operation, resource.group, resource.name).inc()


def request_labels() -> dict:
    """Upstream's labels of the current request (RequestInfo), without the code."""
    from .handlers.request import resolve
    labels = dict.fromkeys(REQUEST_LABELS, "")
    labels["component"] = "apiserver"
    labels["verb"] = request.method
    parts = request.path.strip("/").split("/")
    group_version = None
    if len(parts) >= 3 and parts[0] == "api":
        group_version = ("", parts[1], "/".join(parts[2:]))
    elif len(parts) >= 4 and parts[0] == "apis":
        group_version = (parts[1], parts[2], "/".join(parts[3:]))
    scope = None
    if group_version:
        try:
            scope = resolve(*group_version)
        except APIError:
            scope = None
    if scope is None:   # a non-resource URL (/healthz, /api, /metrics) or one no resource answers
        labels["subresource"] = request.path if group_version is None else "unknown"
        return labels
    res = scope.resource
    labels.update(group=res.group, version=res.version, resource=res.name, subresource=scope.subresource or "",
                  scope="namespace" if scope.namespace else ("resource" if scope.name else "cluster"),
                  dry_run=",".join(sorted(set(request.args.getlist("dryRun")))))
    method = request.method
    if method == "GET" and scope.is_collection:
        watching = scope.watch_path or (request.args.get("watch") or "").lower() not in ("", "0", "false")
        labels["verb"] = "WATCH" if watching else "LIST"
    elif method == "DELETE" and scope.is_collection:
        labels["verb"] = "DELETECOLLECTION"
    elif method == "PATCH" and (request.content_type or "").startswith("application/apply-patch"):
        labels["verb"] = "APPLY"
    return labels


def init_app(app: Flask) -> Metrics:
    """Count and time every request, track open watches, and serve GET /metrics."""
    disable_created_metrics()   # no `*_created` series: kube-apiserver has none
    metrics = Metrics()
    app.extensions["labserver.metrics"] = metrics
    app.extensions["labserver.storage"].on_request = metrics.etcd_request

    @app.before_request
    def start():
        g.metrics_start = time.perf_counter()
        g.metrics_labels = request_labels()
        if g.metrics_labels["verb"] == "WATCH":
            labels = {k: v for k, v in g.metrics_labels.items() if k in LONGRUNNING_LABELS}
            metrics.longrunning.labels(**labels).inc()
            g.metrics_watch = labels

    @app.after_request
    def record(response: Response) -> Response:
        labels, started = g.get("metrics_labels"), g.get("metrics_start")
        watch = g.pop("metrics_watch", None)
        if labels is None:
            return response
        code = str(response.status_code)

        def done():   # when the body has been sent: a watch ends here, not when its headers go
            if watch is not None:
                metrics.longrunning.labels(**watch).dec()
            metrics.requests.labels(**labels, code=code).inc()
            metrics.latency.labels(**labels).observe(time.perf_counter() - started)
        response.call_on_close(done)
        return response

    @app.get("/metrics")
    def serve_metrics():
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    return metrics
