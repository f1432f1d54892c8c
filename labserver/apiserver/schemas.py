"""The Kubernetes API types, read at run time from lightkube-models (pinned in requirements-lab.txt).

lightkube-models is generated from Kubernetes' own OpenAPI document, one
Python module per group-version (`core_v1`, `meta_v1`, `coordination_v1`,
`policy_v1`, ...): a dataclass per type whose annotations give each field's
type and whose docstring carries each field's description. We never import
those modules (they need the lightkube client); we parse their source with
`ast`, so the package is only a data source. Nothing here is written by hand
per kind: a (group, version, kind) names a module and a class, and every
type it reaches is found the same way. New kinds need no code.

What the generated code does not say, and so is given here as data:
- the OpenAPI component prefix of each module (`io.k8s.api.core.v1`, ...);
- the apimachinery types with their own wire format: Time / MicroTime
  (RFC 3339 strings), Quantity, IntOrString, and free-form objects;
- the value type of map fields (lightkube types every map as `dict`): in the
  served groups they are map[string]string, except the resource maps below,
  map[string]Quantity, which also take numbers;
- int32 versus int64: the models say `int`; integers are bounded to int64.
"""
from __future__ import annotations

import ast
import functools
import importlib.util
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

CORE_PREFIX = "io.k8s.api"
MODULE_PREFIXES = {
    "meta_v1": "io.k8s.apimachinery.pkg.apis.meta.v1",
    "resource": "io.k8s.apimachinery.pkg.api.resource",
    "util_intstr": "io.k8s.apimachinery.pkg.util.intstr",
    "runtime": "io.k8s.apimachinery.pkg.runtime",
    "version": "io.k8s.apimachinery.pkg.version",
    "apiextensions_v1": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1",
    "apiregistration_v1": "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1",
}
# apimachinery types with a wire format of their own: (module, name) -> what they are, their
# OpenAPI schema as upstream publishes it, and its description (the models only alias them).
LEAVES = {
    ("meta_v1", "Time"): "time", ("meta_v1", "MicroTime"): "time",
    ("resource", "Quantity"): "quantity", ("util_intstr", "IntOrString"): "int-or-string",
}
LEAF_SCHEMAS = {
    "time": {"type": "string", "format": "date-time",
             "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and "
                            "JSON. Wrappers are provided for many of the factory methods that the time package "
                            "offers."},
    "quantity": {"type": "string",
                 "description": "Quantity is a fixed-point representation of a number. It provides convenient "
                                "marshaling/unmarshaling in JSON and YAML, in addition to String() and "
                                "AsInt64() accessors. The serialization format is: <quantity> ::= "
                                "<signedNumber><suffix> (e.g. 100m, 1.5Gi, 2)."},
    "int-or-string": {"type": "string", "format": "int-or-string",
                      "description": "IntOrString is a type that can hold an int32 or a string."},
}
# map[string]Quantity fields (lightkube types maps as plain dict)
QUANTITY_MAPS = frozenset({"limits", "requests", "capacity", "allocatable", "overhead", "hard", "used",
                           "allocatedResources", "default", "defaultRequest", "max", "min",
                           "maxLimitRequestRatio"})
SCALARS = {"str": "string", "int": "integer", "bool": "boolean", "float": "number"}


@dataclass(frozen=True)
class TypeRef:
    """A field's type: scalar (string/integer/boolean/number), leaf (time, quantity, int-or-string),
    ref (another definition), list, map (of strings or quantities) or any (free-form)."""

    kind: str
    name: str = ""                   # scalar name, leaf name, or component name of a ref
    item: "TypeRef | None" = None    # list items; for a leaf, a ref to its component


@dataclass(frozen=True)
class Field:
    json_name: str
    type: TypeRef
    description: str
    required: bool


@dataclass(frozen=True)
class Definition:
    component: str                    # io.k8s.api.core.v1.Pod
    description: str
    fields: dict                      # json name -> Field


def module_for(group: str, version: str) -> str:
    """lightkube's module name of a group-version: ("", "v1") -> core_v1, ("policy", "v1") -> policy_v1."""
    return f"{(group.split('.')[0] or 'core').replace('-', '')}_{version}"


def component_prefix(module: str) -> str:
    if module in MODULE_PREFIXES:
        return MODULE_PREFIXES[module]
    group, _, version = module.rpartition("_")
    return f"{CORE_PREFIX}.{group}.{version}"


def _models_dir() -> Path:
    spec = importlib.util.find_spec("lightkube.models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("lightkube-models is not installed (pip install -r requirements-lab.txt)")
    return Path(list(spec.submodule_search_locations)[0])


@functools.cache
def _module(name: str) -> tuple[dict, dict]:
    """(classes, aliases) of one generated module: class name -> ClassDef, alias name -> its source."""
    path = _models_dir() / f"{name}.py"
    if not path.exists():
        raise KeyError(f"lightkube-models has no module {name}")
    tree = ast.parse(path.read_text())
    classes, aliases = {}, {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = node
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            aliases[node.targets[0].id] = ast.unparse(node.value)
    return classes, aliases


_BULLET = re.compile(r"^\* \*\*(\w+)\*\* ``[^`]*`` - (.*)$")


def _descriptions(doc: str) -> tuple[str, dict[str, str]]:
    """The type's description and each field's (by Python name), from a generated docstring."""
    text = textwrap.dedent("\n".join(doc.splitlines()[1:]))
    head, _, params = (doc.splitlines()[0] + "\n" + text).partition("**parameters**")
    fields: dict[str, list[str]] = {}
    current = None
    for line in params.splitlines():
        match = _BULLET.match(line.strip()) if line.startswith("* ") else None
        if match:
            current = fields.setdefault(match.group(1), [match.group(2).strip()])
        elif current is not None and line.strip():
            current.append(line.strip())
    return _join(head.splitlines()), {k: _join(v) for k, v in fields.items()}


def _join(lines) -> str:
    return " ".join(line.strip() for line in lines if line.strip())


def _parse_type(text: str, module: str, name: str) -> tuple[TypeRef, bool]:
    """`Optional[List[meta_v1.Condition]]` -> (TypeRef, required)."""
    required = True
    if text.startswith("Optional[") and text.endswith("]"):
        text, required = text[len("Optional["):-1], False
    return _type(text, module, name), required


def _type(text: str, module: str, field_name: str) -> TypeRef:
    if text.startswith("List[") and text.endswith("]"):
        return TypeRef("list", item=_type(text[5:-1], module, field_name))
    if text in ("dict", "Dict"):
        return TypeRef("map", "quantity" if field_name in QUANTITY_MAPS else "string")
    if text in SCALARS:
        return TypeRef("scalar", SCALARS[text])
    target_module, _, type_name = text.rpartition(".")
    target_module = target_module or module
    if (target_module, type_name) in LEAVES:
        return TypeRef("leaf", LEAVES[(target_module, type_name)],
                       TypeRef("ref", f"{component_prefix(target_module)}.{type_name}"))
    classes, aliases = _module(target_module)
    if type_name in classes:
        return TypeRef("ref", f"{component_prefix(target_module)}.{type_name}")
    if type_name in aliases:
        return TypeRef("any")      # Dict / Any aliases: FieldsV1, RawExtension, ...
    raise KeyError(f"lightkube-models: unknown type {text!r} in {module}")


@functools.cache
def definition(component: str) -> Definition:
    """The Definition of an OpenAPI component name (`io.k8s.api.core.v1.PodSpec`)."""
    prefix, _, type_name = component.rpartition(".")
    module = next((m for m in _candidate_modules(prefix)), None)
    if module is None:
        raise KeyError(component)
    node = _module(module)[0][type_name]
    description, field_docs = _descriptions(ast.get_docstring(node, clean=False) or "")
    fields = {}
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        py_name = stmt.target.id
        json_name = _json_name(stmt) or py_name
        annotation = stmt.annotation.value if isinstance(stmt.annotation, ast.Constant) else ast.unparse(
            stmt.annotation)
        ref, required = _parse_type(annotation, module, json_name)
        fields[json_name] = Field(json_name, ref, field_docs.get(py_name, ""), required)
    return Definition(component, description, fields)


def _candidate_modules(prefix: str):
    for module, known in MODULE_PREFIXES.items():
        if known == prefix:
            yield module
    if prefix.startswith(CORE_PREFIX + "."):
        group, _, version = prefix[len(CORE_PREFIX) + 1:].rpartition(".")
        yield f"{group}_{version}"


def _json_name(stmt: ast.AnnAssign) -> str | None:
    """`continue_: ... = field(metadata={"json": "continue"})` -> "continue"."""
    value = stmt.value
    if isinstance(value, ast.Call):
        for kw in value.keywords:
            if kw.arg == "metadata" and isinstance(kw.value, ast.Dict):
                for k, v in zip(kw.value.keys, kw.value.values):
                    if isinstance(k, ast.Constant) and k.value == "json" and isinstance(v, ast.Constant):
                        return v.value
    return None


def kind_component(group: str, version: str, kind: str) -> str:
    """The component name of a served kind: ("", "v1", "Pod") -> io.k8s.api.core.v1.Pod."""
    module = module_for(group, version)
    if kind not in _module(module)[0]:
        raise KeyError(f"lightkube-models has no {kind} in {module}")
    return f"{component_prefix(module)}.{kind}"


def reachable(components) -> list[str]:
    """Every component reachable from `components` (themselves included), sorted."""
    seen, todo = set(), list(components)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for f in definition(name).fields.values():
            t = f.type
            while t.kind == "list":
                t = t.item
            if t.kind == "ref":
                todo.append(t.name)
    return sorted(seen)
