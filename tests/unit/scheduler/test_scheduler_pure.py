# ruff: noqa: E501  (wide rows of table-driven cases read best unwrapped)
"""Scheduler filters and scores, table-driven, and the choice of a node."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from knet.client import ApiClient
from knet.scheduler.filters import (
    AFFINITY_REASON,
    PORTS_REASON,
    UNSCHEDULABLE_REASON,
    fit_error,
    run_filters,
)
from knet.scheduler.nodeinfo import NodeInfo, PodInfo
from knet.scheduler.resources import memory_bytes, milli_cpu, pod_requests
from knet.scheduler.scheduler import Scheduler, nodes_to_find
from knet.scheduler.scores import balanced_allocation, least_allocated, pick, spread

Obj = dict[str, Any]


def node(name: str = "n1", cpu: str = "4", memory: str = "8Gi", pods: str = "110",
         ready: str = "True", labels: dict[str, str] | None = None,
         taints: list[Obj] | None = None, unschedulable: bool = False) -> Obj:  # fmt: skip
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }


def pod(name: str = "p", cpu: str | None = None, memory: str | None = None,
        owner: str = "", **spec: Any) -> Obj:  # fmt: skip
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Obj = {"name": "c", "resources": {"requests": requests}}
    if "ports" in spec:
        container["ports"] = spec.pop("ports")
    meta: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}"}
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "uid": owner,
                                    "controller": True}]  # fmt: skip
    return {"metadata": meta, "spec": {"containers": [container], **spec}}


def info(n: Obj, *pods: Obj) -> NodeInfo:
    return NodeInfo.of(n, [PodInfo.of(p) for p in pods])


# ---------------------------------------------------------------------------- quantities


@pytest.mark.parametrize(("q", "milli"), [("500m", 500), ("1", 1000), ("1.5", 1500), (2, 2000),
                                          (0.25, 250), ("100u", 1)])  # fmt: skip
def test_cpu(q: Any, milli: int) -> None:
    assert milli_cpu(q) == milli


@pytest.mark.parametrize(("q", "n"), [("128Mi", 128 * 2**20), ("1Gi", 2**30), ("1k", 1000),
                                      ("1e3", 1000), ("1M", 10**6), (512, 512)])  # fmt: skip
def test_memory(q: Any, n: int) -> None:
    assert memory_bytes(q) == n


def test_pod_requests_take_the_larger_of_init_and_sum() -> None:
    p = pod(cpu="200m", memory="100Mi")
    p["spec"]["containers"].append({"name": "d", "resources": {"requests": {"cpu": "300m"}}})
    p["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "1"}}}]
    assert pod_requests(p) == (1000, 100 * 2**20)
    assert pod_requests(pod(), non_zero=True) == (100, 200 * 2**20)


# ---------------------------------------------------------------------------- filters

UNREACHABLE_NOSCHED = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}
GPU = {"key": "gpu", "value": "yes", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("the_pod", "the_node", "others", "reasons"),
    [
        (pod(), node(), [], []),
        (pod(), node(ready="False"), [], ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]),
        (pod(), node(ready="Unknown"), [], ["node(s) had untolerated taint {node.kubernetes.io/unreachable: }"]),
        (pod(tolerations=[{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}]),
         node(ready="Unknown"), [], []),
        (pod(), node(unschedulable=True), [], [UNSCHEDULABLE_REASON]),
        (pod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                           "effect": "NoSchedule"}]), node(unschedulable=True), [], []),
        (pod(), node(taints=[GPU]), [], ["node(s) had untolerated taint {gpu: yes}"]),
        (pod(tolerations=[{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]),
         node(taints=[GPU]), [], []),
        (pod(tolerations=[{"key": "gpu", "value": "no"}]), node(taints=[GPU]), [],
         ["node(s) had untolerated taint {gpu: yes}"]),
        (pod(), node(taints=[{"key": "soft", "effect": "PreferNoSchedule"}]), [], []),
        (pod(nodeSelector={"disk": "ssd"}), node(labels={"disk": "ssd"}), [], []),
        (pod(nodeSelector={"disk": "ssd"}), node(labels={"disk": "hdd"}), [], [AFFINITY_REASON]),
        (pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n9"]}]},
            ]}}}), node(labels={"zone": "c"}), [], [AFFINITY_REASON]),
        (pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n9"]}]},
            ]}}}), node("n9", labels={"zone": "c"}), [], []),
        (pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "cores", "operator": "Gt", "values": ["8"]},
                {"key": "old", "operator": "DoesNotExist"}]}]}}}),
         node(labels={"cores": "16"}), [], []),
        (pod(cpu="3"), node(cpu="4"), [pod("o", cpu="2")], ["Insufficient cpu"]),
        (pod(cpu="2"), node(cpu="4"), [pod("o", cpu="2")], []),
        (pod(memory="5Gi", cpu="3"), node(cpu="4", memory="8Gi"), [pod("o", cpu="2", memory="4Gi")],
         ["Insufficient cpu", "Insufficient memory"]),
        (pod(), node(pods="1"), [pod("o")], ["Too many pods"]),
        (pod(ports=[{"containerPort": 80, "hostPort": 8080}]), node(),
         [pod("o", ports=[{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}])], [PORTS_REASON]),
        (pod(ports=[{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}]), node(),
         [pod("o", ports=[{"containerPort": 80, "hostPort": 8080}])], []),
        (pod(ports=[{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]), node(),
         [pod("o", ports=[{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.2"}])], []),
    ],
)  # fmt: skip
def test_filters(the_pod: Obj, the_node: Obj, others: list[Obj], reasons: list[str]) -> None:
    assert run_filters(PodInfo.of(the_pod), info(the_node, *others)) == reasons


def test_fit_error_message_as_upstream() -> None:
    reasons = Counter({"Insufficient cpu": 2, "node(s) had untolerated taint {gpu: yes}": 1})
    assert fit_error(3, reasons) == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {gpu: yes}, 2 Insufficient cpu."
    )
    assert fit_error(0, Counter()) == "no nodes available to schedule pods"


# ---------------------------------------------------------------------------- scores


def test_least_allocated_prefers_emptier_nodes() -> None:
    p = PodInfo.of(pod(cpu="1", memory="1Gi"))
    empty = info(node(cpu="4", memory="8Gi"))
    busy = info(node(cpu="4", memory="8Gi"), pod("o", cpu="2", memory="4Gi"))
    assert least_allocated(p, empty) == (75 + 87) // 2
    assert least_allocated(p, busy) == (25 + 37) // 2
    over = info(node(cpu="1", memory="1Gi"), pod("o", cpu="1", memory="1Gi"))
    assert least_allocated(p, over) == 0


def test_balanced_allocation_prefers_even_use() -> None:
    p = PodInfo.of(pod(cpu="1", memory="2Gi"))
    even = info(node(cpu="4", memory="8Gi"))  # 25% and 25% after placing
    skewed = info(node(cpu="4", memory="8Gi"), pod("o", cpu="2"))  # 75% cpu, 25% memory
    assert balanced_allocation(p, even) == 100
    assert balanced_allocation(p, skewed) == 75


def test_spread_prefers_nodes_with_fewer_siblings() -> None:
    p = PodInfo.of(pod(owner="rs1"))
    a = info(node("a"), pod("x", owner="rs1"), pod("y", owner="rs1"))
    b = info(node("b"), pod("z", owner="rs1"))
    c = info(node("c"), pod("w", owner="other"))
    assert spread(p, [a, b, c]) == [0, 50, 100]
    assert spread(PodInfo.of(pod()), [a, b]) == [0, 0]  # no owner: no opinion


def test_ties_go_round_robin() -> None:
    scored = [("b", 10), ("a", 10), ("c", 5)]
    assert [pick(scored, turn) for turn in range(4)] == ["a", "b", "a", "b"]
    with pytest.raises(ValueError):
        pick([], 0)


def test_nodes_to_find() -> None:
    assert nodes_to_find(50) == 50
    assert nodes_to_find(500) == 230  # 46% of 500
    assert nodes_to_find(5000) == 500  # 10%
    assert nodes_to_find(150) == 100


def test_scheduler_places_a_replicaset_evenly_and_explains_failure() -> None:
    s = Scheduler(ApiClient.from_url("http://127.0.0.1:1"))
    for name in ("n1", "n2", "n3"):
        s.node_infos[name] = NodeInfo.of(node(name, cpu="2"))
    placed = Counter()
    for i in range(6):
        p = PodInfo.of(pod(f"p{i}", cpu="500m", owner="rs1"))
        chosen, _ = s.find_node(p)
        assert chosen is not None
        s.node_infos[chosen].add_pod(p)
        placed[chosen] += 1
    assert placed == {"n1": 2, "n2": 2, "n3": 2}
    chosen, reasons = s.find_node(PodInfo.of(pod("big", cpu="3")))
    assert chosen is None
    assert fit_error(3, reasons) == "0/3 nodes are available: 3 Insufficient cpu."
