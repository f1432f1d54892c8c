"""What the kubelet says about this machine (pure, read from /proc and /etc)."""
from __future__ import annotations

import os

from labserver.kubelet.node_status import NodeConfig, capacity, desired_status, node_info


def test_node_info_has_all_ten_fields_from_the_machine():
    """nodeInfo carries the ten NodeSystemInfo fields, read from the machine itself."""
    info = node_info("fake://1.0")
    assert set(info) == {"machineID", "systemUUID", "bootID", "kernelVersion", "osImage",
                         "containerRuntimeVersion", "kubeletVersion", "kubeProxyVersion",
                         "operatingSystem", "architecture"}
    assert info["bootID"] == open("/proc/sys/kernel/random/boot_id").read().strip()
    assert info["kernelVersion"] == os.uname().release
    assert info["containerRuntimeVersion"] == "fake://1.0" and info["kubeletVersion"] == "v1.37.0-labserver"
    assert info["operatingSystem"] == "linux" and info["architecture"] in ("amd64", "arm64")
    if os.path.exists("/etc/os-release"):
        assert info["osImage"] in open("/etc/os-release").read()


def test_capacity_is_real():
    """cpu and memory capacity are this machine's."""
    cap = capacity("/")
    assert cap["cpu"] == str(os.cpu_count()) and cap["pods"] == "110"
    mem_kib = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
    assert cap["memory"] == f"{mem_kib}Ki"


def test_status_addresses_endpoint_and_conditions():
    """InternalIP + Hostname, the kubelet port, and Ready plus three pressure conditions."""
    status = desired_status(NodeConfig(name="n1", node_ip="10.1.2.3", port=12345), "fake://1")
    assert status["addresses"] == [{"type": "InternalIP", "address": "10.1.2.3"},
                                   {"type": "Hostname", "address": "n1"}]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 12345}}
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Ready"]["status"] == "True" and conds["Ready"]["reason"] == "KubeletReady"
    assert conds["Ready"]["message"] == "kubelet is posting ready status"
    assert all(conds[t]["status"] == "False" for t in ("MemoryPressure", "DiskPressure", "PIDPressure"))
