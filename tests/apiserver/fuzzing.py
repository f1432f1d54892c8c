"""Property-based requests generated from the API server's own OpenAPI documents (hypothesis).

`Fuzzer(url, revision)` reads `/openapi/v3` from a running server and, for
every served resource, draws requests: creates, replaces, the four patch
types, status writes, deletes, lists (JSON and Table, with selectors and
paging) and gets. Bodies are objects drawn from the kind's schema, then
spoiled at random: a wrong type, a null, NaN, an integer past int64, deep
nesting, an unknown field with a newline or non-ASCII in its name, YAML
aliases, truncated JSON. Every answer is checked as issue #13 asks:

- no 5xx other than 503/504 (etcd outages);
- every error body is a Status whose code is the HTTP status;
- a rejected request does not move etcd's revision;

and at the end every stored object can be listed (JSON and Table) and deleted.
`counts` says how many requests were sent per kind and verb.
"""
from __future__ import annotations

import collections
import json
import time

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labserver.apiserver.resources import RESOURCES

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json",
               "application/json-patch+json", "application/apply-patch+yaml")
NAMES = ("a", "b", "fuzz-1")
NAMESPACES = ("default", "fuzz")
PROTECTED = ("default", "kube-system", "kube-public", "kube-node-lease")
# The smallest object of each kind its own validation accepts; fuzzed fields are merged into it.
BASES = {
    "Pod": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    "Event": {"involvedObject": {"kind": "Pod", "name": "a"}},
}
STRINGS = st.sampled_from(["", "a", "nginx", "Always", "TCP", "10.0.0.1", "100m", "2015-09-02T14:46:34Z",
                           "héllo", "line\nbreak", 'q"uote', "x" * 300, "Ünïcödé/ключ", "\x00"])
EVIL = st.one_of(st.none(), st.just(float("nan")), st.just(1 << 70), st.just(-(1 << 70)), st.booleans(),
                 st.just("x"), st.just([None]), st.just({"\n": 1}), st.just({"é": {"ü": []}}),
                 st.integers(-5, 5).map(lambda n: json.loads("[" * 150 + "]" * 150)))


class Fuzzer:
    """Draws and sends requests against one running API server and checks every answer."""

    def __init__(self, url: str, revision):
        self.url, self.revision = url, revision
        self.session = requests.Session()
        self.counts: collections.Counter = collections.Counter()
        self.codes: collections.Counter = collections.Counter()     # (kind, status class) -> requests
        self.failures: list[str] = []
        self.documents = {}
        root = self.session.get(f"{url}/openapi/v3", timeout=30).json()
        for name, entry in root["paths"].items():
            self.documents[name] = self.session.get(url + entry["serverRelativeURL"], timeout=30).json()

    # -- bodies from the schemas ------------------------------------------------------------

    def schemas(self, resource) -> dict:
        name = "api/v1" if not resource.group else f"apis/{resource.group}/{resource.version}"
        return self.documents[name]["components"]["schemas"]

    def kind_schema(self, resource) -> str:
        for component, schema in self.schemas(resource).items():
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                if gvk == {"group": resource.group, "version": resource.version, "kind": resource.kind}:
                    return component
        raise KeyError(resource.kind)

    def value(self, schemas: dict, schema: dict, depth: int) -> st.SearchStrategy:
        """A strategy for values of one schema: mostly well-typed, small, at most `depth` levels."""
        if "allOf" in schema:
            schema = schema["allOf"][0]
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        kind, fmt = schema.get("type"), schema.get("format")
        if fmt == "date-time":
            return st.sampled_from(["2015-09-02T14:46:34Z", "2026-01-01T00:00:00.5+02:00", "2026-01-01"])
        if fmt == "int-or-string":
            return st.one_of(st.integers(0, 70000), STRINGS)
        if kind == "string":
            return STRINGS
        if kind == "integer":
            return st.integers(-(1 << 63), (1 << 63) - 1) | st.integers(0, 100)
        if kind == "number":
            return st.floats(allow_nan=False, allow_infinity=False) | st.integers()
        if kind == "boolean":
            return st.booleans()
        if kind == "array":
            if depth <= 0:
                return st.just([])
            return st.lists(self.value(schemas, schema["items"], depth - 1), max_size=2)
        if "properties" in schema:
            if depth <= 0:
                return st.just({})
            fields = sorted(schema["properties"])
            return st.lists(st.sampled_from(fields), max_size=3, unique=True).flatmap(
                lambda chosen: st.fixed_dictionaries(
                    {f: self.value(schemas, schema["properties"][f], depth - 1) for f in chosen}))
        if "additionalProperties" in schema:
            return st.dictionaries(st.sampled_from(["app", "cpu", "memory", "a/b", "bad key!"]),
                                   self.value(schemas, schema["additionalProperties"], 0), max_size=2)
        return st.dictionaries(st.sampled_from(["f:x", "k"]), st.just({}), max_size=2)   # free-form

    def body(self, resource, name: str) -> st.SearchStrategy:
        """A whole object of the kind: its base, fields drawn from its schema, maybe spoiled."""
        schemas = self.schemas(resource)
        fields = self.value(schemas, schemas[self.kind_schema(resource)], 4)
        labels = st.dictionaries(st.sampled_from(["app", "tier", "x/y"]), st.sampled_from(["web", "db", ""]),
                                 max_size=2)

        def build(drawn, labels, spoil):
            obj = json.loads(json.dumps(BASES.get(resource.kind, {})))
            for key, value in drawn.items():
                if key not in ("metadata", "apiVersion", "kind"):
                    obj[key] = value
            obj.update({"apiVersion": resource.group_version, "kind": resource.kind,
                        "metadata": {"name": name, "labels": labels}})
            if spoil is not None:
                path, value = spoil
                target = obj
                for part in path[:-1]:
                    target = target.setdefault(part, {}) if isinstance(target, dict) else {}
                if isinstance(target, dict):
                    target[path[-1]] = value
            return obj
        spoils = st.none() | st.tuples(
            st.sampled_from([("spec",), ("status",), ("metadata", "labels"), ("metadata", "annotations", "a"),
                             ("spec", "containers"), ("spec", "containers", "0"), ("metadata", "name"),
                             ("count",), ("source",), ("lastTimestamp",), ("spec", "bogus\nfield"),
                             ("spec", "ünknown"), ("metadata", "deep")]), EVIL)
        return st.builds(build, fields, labels, spoils)

    # -- requests ----------------------------------------------------------------------------

    def request(self, resource) -> st.SearchStrategy:
        """(label, method, path, body bytes, content type, accept) for one request on `resource`."""
        ns = st.sampled_from(NAMESPACES) if resource.namespaced else st.none()
        names = st.sampled_from(NAMES)

        def base(namespace):
            prefix = "/api/v1" if not resource.group else f"/apis/{resource.group}/{resource.version}"
            return f"{prefix}/namespaces/{namespace}/{resource.name}" if namespace else f"{prefix}/{resource.name}"

        query = st.fixed_dictionaries({}, optional={
            "fieldValidation": st.sampled_from(["Strict", "Warn", "Ignore", "Loud"]),
            "dryRun": st.sampled_from(["All", "None"]),
            "gracePeriodSeconds": st.sampled_from(["0", "-1", "30", str(1 << 64), "x"]),
            "limit": st.sampled_from(["1", "0", "-1", str(1 << 64), "x"]),
            "resourceVersion": st.sampled_from(["0", "1", str(1 << 64), "x"]),
            "labelSelector": st.sampled_from(["app=web", "app in (web,db)", "!tier", "a in ("]),
            "fieldSelector": st.sampled_from(["metadata.name=a", "spec.nodeName=n", "status.phase!=Pending",
                                              "source=kubelet", "bogus=1"]),
        })

        def encode(obj, raw):
            if raw == "yaml-aliases":
                return (b"a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                        b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n"), \
                    "application/yaml"
            text = json.dumps(obj, allow_nan=True)
            if raw == "truncated":
                return text[: len(text) // 2].encode(), "application/json"
            return text.encode(), "application/json"

        raws = st.sampled_from([None] * 8 + ["truncated", "yaml-aliases"])
        json_ops = st.lists(st.fixed_dictionaries({
            "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
            "path": st.sampled_from(["/metadata/labels", "/metadata/labels/app", "/spec", "", "/métadata",
                                     "/spec/containers/0/image", "/status", "/metadata/annotations"]),
        }, optional={"value": EVIL | STRINGS, "from": st.sampled_from(["/metadata", "/spec", "/"])}),
            max_size=4)

        def build(verb, namespace, name, obj, raw, q, patch_type, ops, accept):
            path = base(namespace)
            item = f"{path}/{name}"
            if verb == "create":
                return (verb, "POST", path, *encode(obj, raw), q, accept)
            if verb in ("update", "update-status"):
                target = item + ("/status" if verb == "update-status" else "")
                return (verb, "PUT", target, *encode(obj, raw), q, accept)
            if verb in ("patch", "patch-status"):
                target = item + ("/status" if verb == "patch-status" else "")
                if patch_type == "application/json-patch+json":
                    body = json.dumps(ops, allow_nan=True).encode()
                else:
                    partial = {k: v for k, v in obj.items() if k in ("metadata", "spec", "status", "count")}
                    if patch_type == "application/strategic-merge-patch+json" and raw == "truncated":
                        partial = {"$patch": "delete"} if name == "a" else {
                            "spec": {"$setElementOrder/containers": 1, "$retainKeys": "x"}}
                    body = json.dumps(partial, allow_nan=True).encode()
                return (verb, "PATCH", target, body, patch_type, q, accept)
            if verb == "delete":
                body = json.dumps({"preconditions": "x"} if raw == "truncated" else {}).encode()
                return (verb, "DELETE", item, body, "application/json", q, accept)
            if verb == "deletecollection":
                return (verb, "DELETE", path, b"", "application/json", q, accept)
            if verb == "get":
                return (verb, "GET", item, b"", "application/json", q, accept)
            return (verb, "GET", path, b"", "application/json", q, accept)

        verbs = ["create", "create", "update", "patch", "patch", "delete", "get", "list", "list"]
        if "status" in resource.subresources:
            verbs += ["update-status", "patch-status"]
        if resource.name != "namespaces":   # a deletecollection of namespaces would only be refused (405)
            verbs.append("deletecollection")
        return st.builds(build, st.sampled_from(verbs), ns, names,
                         names.flatmap(lambda n: self.body(resource, n)), raws, query,
                         st.sampled_from(PATCH_TYPES), json_ops, st.sampled_from(["application/json", TABLE]))

    def send(self, resource, drawn) -> None:
        verb, method, path, body, ctype, query, accept = drawn
        if verb == "deletecollection" and not query.get("dryRun"):
            query = {**query, "labelSelector": "app=web"}   # keep most objects for the final check
        before = self.revision()
        r = self.session.request(method, self.url + path, data=body, params=query, timeout=60,
                                 headers={"Content-Type": ctype, "Accept": accept})
        self.counts[(resource.kind, verb)] += 1
        self.codes[(resource.kind, f"{r.status_code // 100}xx")] += 1
        self.check(f"{method} {path} {query} {ctype} {body[:300]!r}", r, before)

    def check(self, what: str, r: requests.Response, before: int) -> None:
        problems = []
        if r.status_code >= 500 and r.status_code not in (503, 504):
            problems.append(f"answered {r.status_code}")
        if r.status_code >= 400:
            try:
                status = r.json()
                if status.get("kind") != "Status" or status.get("code") != r.status_code:
                    problems.append(f"error body is not a Status of code {r.status_code}")
            except ValueError:
                problems.append(f"error body is not JSON: {r.text[:200]!r}")
            if self.revision() != before:
                problems.append("a rejected request moved etcd's revision")
        if problems:
            self.failures.append(f"{what}: {'; '.join(problems)}: {r.text[:500]}")
            raise AssertionError(self.failures[-1])

    # -- the run -----------------------------------------------------------------------------

    def run(self, seconds: float, batch: int = 25) -> None:
        """Send drawn requests for about `seconds`, every resource in turn."""
        self.session.post(f"{self.url}/api/v1/namespaces", json={"metadata": {"name": "fuzz"}}, timeout=30)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for resource in RESOURCES:
                @settings(max_examples=batch, deadline=None, database=None, derandomize=False,
                          suppress_health_check=list(HealthCheck))
                @given(self.request(resource))
                def one(drawn):
                    self.send(resource, drawn)
                one()
                if time.monotonic() >= deadline:
                    break

    def everything_listed_and_deleted(self) -> list[str]:
        """List each resource as JSON and as a Table, then delete every object; problems found."""
        problems = []
        for resource in RESOURCES:
            prefix = "/api/v1" if not resource.group else f"/apis/{resource.group}/{resource.version}"
            url = f"{self.url}{prefix}/{resource.name}"
            listed = self.session.get(url, timeout=60)
            table = self.session.get(url, headers={"Accept": TABLE}, timeout=60)
            for r, form in ((listed, "JSON"), (table, "Table")):
                if r.status_code != 200:
                    problems.append(f"LIST {resource.name} as {form}: {r.status_code} {r.text[:300]}")
            if listed.status_code != 200:
                continue
            if table.status_code == 200 and len(table.json()["rows"]) != len(listed.json()["items"]):
                problems.append(f"LIST {resource.name}: the Table and the list differ in length")
            for obj in listed.json()["items"]:
                meta = obj["metadata"]
                if resource.name == "namespaces" and meta["name"] in PROTECTED:
                    continue
                ns = f"/namespaces/{meta['namespace']}" if resource.namespaced else ""
                if resource.name == "namespaces" and meta.get("deletionTimestamp"):
                    # Already Terminating: with no namespace controller here, finalizing is what removes it.
                    obj.setdefault("spec", {})["finalizers"] = []
                    r = self.session.put(f"{url}/{meta['name']}/finalize", json=obj, timeout=60)
                    self.counts[(resource.kind, "final-finalize")] += 1
                    if r.status_code != 200:
                        problems.append(f"FINALIZE namespaces {meta['name']}: {r.status_code} {r.text[:300]}")
                    continue
                r = self.session.delete(f"{self.url}{prefix}{ns}/{resource.name}/{meta['name']}",
                                        params={"gracePeriodSeconds": "0"}, timeout=60)
                self.counts[(resource.kind, "final-delete")] += 1
                if r.status_code not in (200, 202):
                    problems.append(f"DELETE {resource.name} {meta['name']}: {r.status_code} {r.text[:300]}")
        return problems

    def report(self) -> str:
        kinds = collections.Counter()
        for (kind, _), n in self.counts.items():
            kinds[kind] += n
        lines = [f"{kind}: {n} requests (" + ", ".join(f"{verb} {c}" for (k, verb), c in sorted(self.counts.items())
                                                        if k == kind) + "; answers " +
                 ", ".join(f"{cls} {c}" for (k, cls), c in sorted(self.codes.items()) if k == kind) + ")"
                 for kind, n in sorted(kinds.items())]
        return "\n".join(lines + [f"total: {sum(kinds.values())} requests"])
