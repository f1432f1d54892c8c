"""Resource quantities ("250m", "128Mi") and what a pod requests (resource.Quantity, PodRequests).

CPU is counted in millicores and memory in bytes, as integers. A pod's
request is the sum over its containers, but at least the largest request of
any init container (they run one at a time, before the others). For scoring
only, a container that requests nothing counts as 100m CPU and 200Mi memory
(upstream's non-zero defaults), so empty pods still spread.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_SUFFIX = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|[KMGTPE]i|[MGTPE]|)$")
DEFAULT_MILLI_CPU, DEFAULT_MEMORY = 100, 200 * 2**20


def parse_quantity(value, milli: bool = False) -> int:
    """A Kubernetes quantity as an integer (in thousandths when `milli`); ValueError when malformed."""
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        m = _QUANTITY.match(str(value).strip())
        if not m:
            raise ValueError(f"quantities must match the regular expression: {value!r}")
        number, unit = float(m.group(1)), m.group(2)
    scale = 1 / 1000 if unit == "m" else _SUFFIX[unit]
    result = number * scale * (1000 if milli else 1)
    return int(-(-result // 1))  # rounded up, as Quantity.MilliValue / Value do


@dataclass
class Resources:
    milli_cpu: int = 0
    memory: int = 0

    def __add__(self, other: "Resources") -> "Resources":
        return Resources(self.milli_cpu + other.milli_cpu, self.memory + other.memory)

    def __sub__(self, other: "Resources") -> "Resources":
        return Resources(self.milli_cpu - other.milli_cpu, self.memory - other.memory)


def _container_requests(container: dict, non_zero: bool) -> Resources:
    requests = (container.get("resources") or {}).get("requests") or {}
    cpu = parse_quantity(requests["cpu"], milli=True) if "cpu" in requests else None
    memory = parse_quantity(requests["memory"]) if "memory" in requests else None
    if non_zero:
        cpu = DEFAULT_MILLI_CPU if cpu is None else cpu
        memory = DEFAULT_MEMORY if memory is None else memory
    return Resources(cpu or 0, memory or 0)


def pod_requests(pod: dict, non_zero: bool = False) -> Resources:
    """What the pod asks for: containers summed, at least each init container, plus overhead."""
    spec = pod.get("spec") or {}
    total = Resources()
    for c in spec.get("containers") or []:
        total = total + _container_requests(c, non_zero)
    for c in spec.get("initContainers") or []:
        init = _container_requests(c, non_zero)
        total = Resources(max(total.milli_cpu, init.milli_cpu), max(total.memory, init.memory))
    overhead = spec.get("overhead") or {}
    if overhead:
        total = total + Resources(parse_quantity(overhead.get("cpu", 0), milli=True),
                                  parse_quantity(overhead.get("memory", 0)))
    return total


def node_allocatable(node: dict) -> tuple[Resources, int]:
    """The node's allocatable CPU and memory, and how many pods it takes (110 when unsaid)."""
    status = node.get("status") or {}
    alloc = status.get("allocatable") or status.get("capacity") or {}
    return (Resources(parse_quantity(alloc.get("cpu", 0), milli=True), parse_quantity(alloc.get("memory", 0))),
            int(parse_quantity(alloc.get("pods", 110))))
