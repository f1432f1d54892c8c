"""The lab's memory: etcd, the API server, the kubelet and the post's pod, as a reader runs them.

One etcd, one API server (its default: one worker) and one kubelet with the
process runtime (the host's nginx and busybox) are started, the post's
two-container pod is created and waited for until both containers run. Then
the resident memory (RSS, from /proc/<pid>/status) of every process of each
component is summed: the API server (one process: with one worker it serves
without gunicorn's arbiter, serving.py), the kubelet and the pod's processes
(its descendants). Target: under 150 MB in all.
RSS counts shared pages (the Python interpreter's libraries) once per
process, so the sum is an upper bound; PSS (shared pages split between the
processes that share them) is printed beside it, and, as root, the lab's total:
the distinct physical pages its processes hold (/proc/<pid>/pagemap), each
counted once however many of them map it. The target is judged on that total
where it can be read, and on the RSS sum where it cannot. Every process is listed
with what it is (`describe`), so a figure can be traced to the process and
the reason it exists: per container of the process runtime, the wrapper
shell that records the exit code, bubblewrap's monitor and the program; per
pod, the Python log writer that timestamps the containers' output
(container_log.py).

Skipped, with the reason, when the process runtime's programs are missing.
`python tests/bench/bench_memory.py` runs it alone; tests/bench/run.py calls run().
"""
from __future__ import annotations

import array
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from labserver.lab.supervise.components import start_apiserver, start_kubelet  # noqa: E402
from labserver.lab.supervise.etcd import start_etcd  # noqa: E402
from labserver.lab.notebook.manifests import post_pod  # noqa: E402
from labserver.lab.supervise.procs import wait_for  # noqa: E402

TARGET_MB = 150
NODE = "bench-memory-node"


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_of(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    tree, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def process_kb(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) of one process in kB; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rss = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        pss = int(next(line.split()[1] for line in rollup.splitlines() if line.startswith("Pss:")))
    except (OSError, StopIteration):
        return None
    return rss, pss


def memory_kb(pids: list[int]) -> tuple[int, int]:
    """(RSS, PSS) in kB summed over `pids`."""
    sizes = [kb for kb in map(process_kb, pids) if kb]
    return sum(rss for rss, _ in sizes), sum(pss for _, pss in sizes)


PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
PFN_MASK = (1 << 55) - 1   # pagemap entry: bit 63 present, bits 0-54 the page frame number (0 unless privileged)


def resident_frames(pid: int) -> set[int]:
    """The physical page frames `pid` has resident, from /proc/<pid>/pagemap; empty once it is gone."""
    frames: set[int] = set()
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            for line in maps:
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                if start >= 1 << 47:   # [vsyscall]: not in the pagemap
                    continue
                pagemap.seek(start // PAGE * 8)
                entries = array.array("Q")
                entries.frombytes(pagemap.read((end - start) // PAGE * 8))
                frames.update(e & PFN_MASK for e in entries if e >> 63)
    except OSError:
        return set()
    return frames


def distinct_kb(pids: list[int]) -> int | None:
    """kB of the distinct physical pages `pids` hold together; None without the privilege to see frames."""
    frames = set().union(*map(resident_frames, pids))
    if not frames or frames == {0}:
        return None
    return len(frames) * PAGE // 1024


def describe(pid: int) -> str:
    """What the process is, from its command line, in a few words."""
    try:
        argv = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return "(gone)"
    text = " ".join(argv)
    if "labserver.kubelet.container_log" in text:
        return "container log writer (python)"
    if argv[:2] == ["/bin/sh", "-c"] and len(argv) > 2 and "kill -KILL 0" in argv[2]:
        return "container wrapper (sh: records the exit code)"
    if argv and argv[0].endswith("bwrap"):
        return "bubblewrap (the container's view)"
    if argv[1:3] == ["-m", "labserver"] and len(argv) > 3:
        return f"labserver {argv[3]}"
    if not argv:
        return "(no command line)"
    program = argv[0] if " " in argv[0] else Path(argv[0]).name   # nginx rewrites its title: keep it
    return " ".join([program, *argv[1:]])[:60]


def _running(url: str) -> bool:
    pod = requests.get(f"{url}/api/v1/namespaces/default/pods/nginx", timeout=5).json()
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return len(statuses) == 2 and all(s.get("ready") for s in statuses)


def _delete_pod(url: str) -> None:
    """Delete the post's pod and wait until the kubelet has stopped its containers and confirmed it gone."""
    pod = f"{url}/api/v1/namespaces/default/pods/nginx"
    try:
        requests.delete(pod, params={"gracePeriodSeconds": 1}, timeout=10)
        wait_for(lambda: requests.get(pod, timeout=5).status_code == 404, 40,
                 "the post's pod stopped by the kubelet and deleted")
    except (requests.RequestException, TimeoutError) as e:
        print(f"the post's pod may be left running: {e}", flush=True)


def run() -> dict:
    from labserver.lab.machine import sysdeps
    missing = sysdeps.missing("process")
    if [p for p in missing if p != "bubblewrap"]:
        print(f"skipped: {sysdeps.install_hint('process')}")
        return {"skipped": "process runtime programs missing"}
    load = os.getloadavg()
    print(f"machine load before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        tmp = Path(tmp)
        etcd = start_etcd(tmp / "etcd")
        started = []
        try:
            api = start_apiserver(etcd.client_url, tmp / "apiserver.log")
            started.append(api)
            kubelet = start_kubelet(api.url, tmp / "kubelet", tmp / "kubelet.log", hostname=NODE, runtime="process")
            started.append(kubelet)
            requests.post(f"{api.url}/api/v1/namespaces/default/pods", json=post_pod("nginx", NODE),
                          timeout=10).raise_for_status()
            wait_for(lambda: _running(api.url), 60, "the post's pod 2/2 running")
            time.sleep(2)   # let the kubelet's status writes and heartbeats settle
            parts = {"etcd": [etcd.process.popen.pid],
                     "apiserver": tree_of(api.process.popen.pid),
                     "kubelet + pod": tree_of(kubelet.process.popen.pid)}
            result, total_rss, total_pss = {}, 0, 0
            for name, pids in parts.items():
                for pid in pids:
                    kb = process_kb(pid)
                    if kb:
                        print(f"    {pid:>8}  RSS {kb[0] / 1024:6.1f} MB   PSS {kb[1] / 1024:6.1f} MB   {describe(pid)}",
                              flush=True)
                rss, pss = memory_kb(pids)
                total_rss, total_pss = total_rss + rss, total_pss + pss
                result[name] = {"processes": len(pids), "rss_mb": round(rss / 1024, 1), "pss_mb": round(pss / 1024, 1)}
                print(f"{name:<14} {len(pids):2d} process(es)   RSS {rss / 1024:6.1f} MB   PSS {pss / 1024:6.1f} MB",
                      flush=True)
            distinct = distinct_kb([pid for pids in parts.values() for pid in pids])
            judged, total = ("distinct", distinct) if distinct is not None else ("RSS sum", total_rss)
            met = total / 1024 < TARGET_MB
            print(f"{'total':<14}                 RSS {total_rss / 1024:6.1f} MB   PSS {total_pss / 1024:6.1f} MB",
                  flush=True)
            print(f"{'total':<14}                 distinct pages "
                  + (f"{distinct / 1024:6.1f} MB" if distinct is not None else "n/a (reading page frames needs root)"),
                  flush=True)
            print(f"target: the lab's total < {TARGET_MB} MB, judged on the {judged}: {'met' if met else 'MISSED'}",
                  flush=True)
            result["total"] = {"rss_mb": round(total_rss / 1024, 1), "pss_mb": round(total_pss / 1024, 1),
                               "distinct_mb": None if distinct is None else round(distinct / 1024, 1)}
            load = os.getloadavg()
            print(f"machine load after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
            return result
        finally:
            if len(started) == 2:   # the pod's containers outlive a stopped kubelet, as upstream's: stop them first
                _delete_pod(started[0].url)
            for server in reversed(started):
                server.stop()
            etcd.stop()


if __name__ == "__main__":
    run()
