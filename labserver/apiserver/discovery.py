"""Discovery: the documents every client reads before its first real request.

kubectl and the official client start by asking what the server serves:
`/api` and `/apis` (groups and versions), `/api/v1` and
`/apis/<group>/<version>` (resources, their verbs, short names and
subresources) and `/version`. A 404 on `/apis` breaks every kubectl command,
and a resource missing here is one kubectl cannot name. Everything is built
from the SERVED table (stored resources and reviews), so a new resource is served and discovered at once
(upstream: staging/src/k8s.io/apiserver/pkg/endpoints/discovery/).
"""
from __future__ import annotations

from flask import Blueprint, Response, json, jsonify, request

from labserver.apiserver.errors import APIError
from labserver.apiserver.resources import BY_GROUP_VERSION, SERVED, ResourceInfo

bp = Blueprint("discovery", __name__)

VERSION_INFO = {
    "major": "1", "minor": "37", "emulationMajor": "1", "emulationMinor": "37",
    "minCompatibilityMajor": "1", "minCompatibilityMinor": "36", "gitVersion": "v1.37.0-labserver",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.0", "compiler": "gc",
    "platform": "linux/amd64",
}

# Verbs and kinds of subresources, as upstream's discovery lists them (status is get/patch/update,
# log is get, eviction and binding are create, finalize is update, exec/attach/portforward create and get).
SUBRESOURCE_VERBS = {"status": ("get", "patch", "update"), "log": ("get",), "eviction": ("create",),
                     "finalize": ("update",), "binding": ("create",), "exec": ("create", "get"),
                     "attach": ("create", "get"), "portforward": ("create", "get"),
                     "scale": ("get", "patch", "update")}
SUBRESOURCE_KIND = {"log": "Pod", "eviction": "Eviction", "binding": "Binding", "exec": "PodExecOptions",
                    "attach": "PodAttachOptions", "portforward": "PodPortForwardOptions", "scale": "Scale"}
# Subresources whose kind lives in another group: kubectl drain looks for pods/eviction
# with group policy and a version before it evicts instead of deleting.
SUBRESOURCE_GROUP_VERSION = {"eviction": ("policy", "v1"), "scale": ("autoscaling", "v1")}
# Served by a handler alone, no table entry: the legacy POST /api/v1/namespaces/NS/bindings.
CREATE_ONLY = {("", "v1"): [{"name": "bindings", "singularName": "binding", "namespaced": True,
                             "kind": "Binding", "verbs": ["create"]}]}


def render_error(err: APIError) -> Response:
    """An APIError as its Status JSON (blueprint-level, so the blueprints also work on their own)."""
    return Response(json.dumps(err.status()), status=err.code, mimetype="application/json")


bp.register_error_handler(APIError, render_error)


def not_found() -> APIError:
    return APIError(404, "NotFound", "the server could not find the requested resource", {})


def resource_entries(resource: ResourceInfo) -> list[dict]:
    """The APIResource entries of a resource and its subresources."""
    entry = {"name": resource.name, "singularName": resource.singular, "namespaced": resource.namespaced,
             "kind": resource.kind, "verbs": list(resource.verbs)}
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    entries = [entry]
    for sub in resource.subresources:
        entry = {"name": f"{resource.name}/{sub}", "singularName": "", "namespaced": resource.namespaced,
                 "kind": SUBRESOURCE_KIND.get(sub, resource.kind), "verbs": list(SUBRESOURCE_VERBS.get(sub, ("get",)))}
        if sub in SUBRESOURCE_GROUP_VERSION:
            entry["group"], entry["version"] = SUBRESOURCE_GROUP_VERSION[sub]
        entries.append(entry)
    return entries


def resource_list(group: str, version: str) -> dict:
    resources = BY_GROUP_VERSION.get((group, version))
    if resources is None:
        raise not_found()
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [e for r in resources.values() for e in resource_entries(r)]
            + CREATE_ONLY.get((group, version), [])}


def api_groups() -> list[dict]:
    """The named API groups (everything but the core group), in SERVED order."""
    groups: dict[str, list[str]] = {}
    for r in SERVED:
        if r.group and r.version not in groups.setdefault(r.group, []):
            groups[r.group].append(r.version)
    return [{"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in versions],
             "preferredVersion": {"groupVersion": f"{g}/{versions[0]}", "version": versions[0]}}
            for g, versions in groups.items()]


def api_group(name: str) -> dict:
    group = next((g for g in api_groups() if g["name"] == name), None)
    if group is None:
        raise not_found()
    return {"kind": "APIGroup", "apiVersion": "v1", **group}


@bp.get("/api")
@bp.get("/api/")
def core_versions():
    return jsonify({"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}]})


@bp.get("/api/v1")
@bp.get("/api/v1/")
def core_resources():
    return jsonify(resource_list("", "v1"))


@bp.get("/apis")
@bp.get("/apis/")
def groups():
    return jsonify({"kind": "APIGroupList", "apiVersion": "v1", "groups": api_groups()})


@bp.get("/apis/<group>")
@bp.get("/apis/<group>/")
def group(group):
    return jsonify(api_group(group))


@bp.get("/apis/<group>/<version>")
@bp.get("/apis/<group>/<version>/")
def group_resources(group, version):
    return jsonify(resource_list(group, version))


@bp.get("/version")
@bp.get("/version/")
def version():
    return jsonify(VERSION_INFO)
