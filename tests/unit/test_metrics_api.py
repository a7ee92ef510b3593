"""metrics.k8s.io from kubelet summaries (knet.apiserver.metrics) and the kubelet's readings
behind them (kubelet_lite.server.stats): pure shaping and parsing."""

from __future__ import annotations

import pytest

from knet.api import registry
from knet.apiserver import discovery, metrics
from kubelet_lite.server import stats

NODE = {"metadata": {"name": "n1", "labels": {"zone": "a"}}}
POD = {"metadata": {"name": "web", "namespace": "default", "uid": "u1"}, "spec": {"nodeName": "n1"}}
SUMMARY = {
    "node": {
        "nodeName": "n1",
        "cpu": {"time": "2026-01-01T00:00:00Z", "usageNanoCores": 1_500_000_000},
        "memory": {"workingSetBytes": 2048 * 1024 * 1024},
    },
    "pods": [
        {
            "podRef": {"name": "web", "namespace": "default", "uid": "u1"},
            "containers": [
                {
                    "name": "a",
                    "cpu": {"time": "2026-01-01T00:00:00Z", "usageNanoCores": 2_000_000},
                    "memory": {"workingSetBytes": 10 * 1024 * 1024},
                },
                {"name": "b", "cpu": {"usageNanoCores": 3}, "memory": {"workingSetBytes": 4096}},
            ],
        }
    ],
}


def test_node_metrics_as_metrics_server_writes_them() -> None:
    m = metrics.node_metrics(NODE, SUMMARY)
    assert m["kind"] == "NodeMetrics" and m["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert m["metadata"]["name"] == "n1" and m["metadata"]["labels"] == {"zone": "a"}
    assert m["usage"] == {"cpu": "1500000000n", "memory": "2097152Ki"}
    assert m["timestamp"] == "2026-01-01T00:00:00Z"


def test_pod_metrics_per_container_and_missing_pods() -> None:
    m = metrics.pod_metrics(POD, SUMMARY)
    assert m is not None
    assert m["metadata"]["namespace"] == "default"
    assert m["containers"] == [
        {"name": "a", "usage": {"cpu": "2000000n", "memory": "10240Ki"}},
        {"name": "b", "usage": {"cpu": "3n", "memory": "4Ki"}},
    ]
    other = {"metadata": {"name": "x", "namespace": "default", "uid": "u2"}}
    assert metrics.pod_metrics(other, SUMMARY) is None


def test_table_sums_a_pods_containers() -> None:
    pod = metrics.pod_metrics(POD, SUMMARY)
    assert pod is not None
    t = metrics.table("PodMetrics", [pod])
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "CPU", "Memory", "Window"]
    assert t["rows"][0]["cells"] == ["web", "2000003n", "10244Ki", metrics.WINDOW]


def test_not_found_wording() -> None:
    e = metrics.not_found("PodMetrics", "default/nope")
    assert (e.code, e.message) == (404, 'podmetrics.metrics.k8s.io "default/nope" not found')


def test_discovery_lists_the_metrics_group_without_storing_it() -> None:
    groups = [g["name"] for g in discovery.api_group_list()["groups"]]
    assert "metrics.k8s.io" in groups
    doc = discovery.api_resource_list("metrics.k8s.io", "v1beta1")
    assert doc is not None
    assert {(r["name"], r["kind"], r["namespaced"]) for r in doc["resources"]} == {
        ("nodes", "NodeMetrics", False),
        ("pods", "PodMetrics", True),
    }
    assert all(r["verbs"] == ["get", "list"] for r in doc["resources"])
    assert all(i.group != "metrics.k8s.io" for i in registry.RESOURCES)  # never stored


def test_proc_parsing() -> None:
    line = "cpu  100 10 50 9999 7 3 2 5 0 0\ncpu0 1 2 3 4\n"
    assert stats.parse_proc_stat(line) == (100 + 10 + 50 + 3 + 2 + 5) * 10**9 // stats.CLK_TCK
    with pytest.raises(ValueError):
        stats.parse_proc_stat("intr 1 2\n")
    assert stats.parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 400 kB\n") == (
        600 * 1024
    )
    stat = "42 (my (odd) proc) S 1 42 42 0 -1 4194560 0 0 0 0 7 3 2 1 20 0 1 0 5 0 0"
    r = stats.parse_pid_stat(stat, "100 25 10 1 0 20 0")
    assert r == stats.Reading(13 * 10**9 // stats.CLK_TCK, 25 * stats.PAGE)


def test_rates_come_from_the_previous_reading() -> None:
    rates = stats.Rates()
    assert not rates.fresh("k", 10.0)
    assert rates.rate("k", 10.0, 1_000) == 0  # nothing to compare with yet
    assert rates.fresh("k", 11.0)
    assert rates.rate("k", 12.0, 1_000 + 2 * 500_000_000) == 500_000_000  # half a core
    assert not rates.fresh("k", 12.0 + stats.STALE)
