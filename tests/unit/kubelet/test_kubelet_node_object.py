"""The Node object kubelet-lite registers: complete nodeInfo (the official client's check),
addresses, capacity, conditions with stable transition times, and the Lease."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from kubelet_lite.config import ConfigError, KubeletConfig
from kubelet_lite.node import (
    HostFacts,
    Readiness,
    lease_spec,
    node_conditions,
    node_info,
    node_object,
    pod_cidr_of,
)

CONFIG = KubeletConfig(
    kubeconfig=Path("/k"),
    node_name="node-a",
    node_ip=IPv4Address("10.0.0.1"),
    root_dir=Path("/r"),
    pod_cidr=IPv4Network("10.244.1.0/24"),
)
FACTS = HostFacts(
    machine_id="m" * 32,
    system_uuid="00000000-0000-0000-0000-000000000001",
    boot_id="b",
    kernel_version="6.1.0",
    os_image="Debian GNU/Linux 12 (bookworm)",
    architecture="amd64",
    cpus=2,
    memory_kib=4096,
)


class _Response:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.data = json.dumps(doc)


def test_official_client_accepts_the_node() -> None:
    doc = node_object(CONFIG, FACTS, Readiness(True), 1000, "2024-01-01T00:00:00Z")
    node = k8s.ApiClient().deserialize(_Response(doc), "V1Node")
    info = node.status.node_info
    assert info.kubelet_version.startswith("v1.32") and info.operating_system == "linux"
    assert node.spec.pod_cidr == "10.244.1.0/24" and node.spec.pod_cid_rs == ["10.244.1.0/24"]
    assert [(a.type, a.address) for a in node.status.addresses] == [
        ("InternalIP", "10.0.0.1"),
        ("Hostname", "node-a"),
    ]
    assert node.status.capacity == {
        "cpu": "2",
        "memory": "4096Ki",
        "pods": "110",
        "ephemeral-storage": "1000Ki",
    }
    assert node.metadata.labels["kubernetes.io/hostname"] == "node-a"


def test_node_info_has_all_ten_fields() -> None:
    info = node_info(FACTS)
    assert len(info) == 10 and all(isinstance(v, str) and v for v in info.values())


def test_incomplete_node_info_is_what_the_client_rejects() -> None:
    doc = node_object(CONFIG, FACTS, Readiness(True), 1000, "2024-01-01T00:00:00Z")
    del doc["status"]["nodeInfo"]["bootID"]
    with pytest.raises(ValueError, match="boot_id"):
        k8s.ApiClient().deserialize(_Response(doc), "V1Node")


def test_conditions_keep_transition_times_and_report_not_ready() -> None:
    first = node_conditions(None, Readiness(True), "t0")
    assert {c["type"]: c["status"] for c in first} == {
        "MemoryPressure": "False",
        "DiskPressure": "False",
        "PIDPressure": "False",
        "Ready": "True",
    }
    second = node_conditions(first, Readiness(True), "t1")
    ready = next(c for c in second if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == "t0" and ready["lastHeartbeatTime"] == "t1"
    down = node_conditions(second, Readiness(False, "container runtime is down"), "t2")
    ready = next(c for c in down if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "KubeletNotReady",
        "container runtime is down",
    )
    assert ready["lastTransitionTime"] == "t2"


def test_simulated_nodes_get_distinct_ids() -> None:
    a, b = FACTS.for_simulated_node("a"), FACTS.for_simulated_node("b")
    assert a.machine_id != b.machine_id and a.system_uuid != b.system_uuid
    assert len(a.system_uuid) == 36 and a.kernel_version == FACTS.kernel_version


def test_pod_cidr_and_lease() -> None:
    assert pod_cidr_of({"spec": {"podCIDR": "10.244.2.0/24"}}) == IPv4Network("10.244.2.0/24")
    assert pod_cidr_of({"spec": {}}) is None
    with pytest.raises(ConfigError):
        pod_cidr_of({"spec": {"podCIDR": "nonsense"}})
    assert lease_spec(CONFIG, "t") == {
        "holderIdentity": "node-a",
        "leaseDurationSeconds": 40,
        "renewTime": "t",
    }
