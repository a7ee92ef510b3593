"""Pod CIDR allocation, node health and taints, eviction timing, GC decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from knet.controllers.cidrset import CidrExhaustedError, CidrSet
from knet.controllers.garbagecollector import Verdict, decide
from knet.controllers.namespace import content_kinds, finalized_spec
from knet.controllers.nodelifecycle import eviction_due, unknown_conditions, wanted_taints

Obj = dict[str, Any]
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def t(seconds: float) -> str:
    return (NOW + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------- CIDRs


def test_cidrs_are_distinct_and_cycle_past_released_ones() -> None:
    cs = CidrSet("10.244.0.0/22", 24)
    got = [cs.allocate_next() for _ in range(4)]
    assert got == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]
    with pytest.raises(CidrExhaustedError, match="no free /24"):
        cs.allocate_next()
    cs.release("10.244.1.0/24")
    assert cs.allocate_next() == "10.244.1.0/24"
    cs.release("10.244.0.0/24")
    cs.release("10.244.2.0/24")
    assert cs.allocate_next() == "10.244.2.0/24"  # the search goes on from the last one


def test_cidrs_rebuilt_from_existing_nodes() -> None:
    cs = CidrSet("10.244.0.0/16", 24)
    cs.occupy("10.244.0.0/24")
    cs.occupy("10.244.2.0/24")
    cs.occupy("10.244.2.0/24")  # idempotent
    assert cs.in_use() == 2
    assert cs.allocate_next() == "10.244.1.0/24"
    assert cs.allocate_next() == "10.244.3.0/24"


@pytest.mark.parametrize(
    ("cidr", "mask", "message"),
    [
        ("10.244.0.0/16", 8, "between"),
        ("10.0.0.0/8", 28, "2\\^16"),
        ("10.244.0.1/16", 24, "invalid"),
    ],
)
def test_bad_cidr_settings(cidr: str, mask: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CidrSet(cidr, mask)


def test_foreign_cidrs_are_refused() -> None:
    cs = CidrSet("10.244.0.0/16", 24)
    with pytest.raises(ValueError, match="outside"):
        cs.occupy("10.99.0.0/24")
    with pytest.raises(ValueError, match="/24"):
        cs.occupy("10.244.0.0/25")


def test_ipv6_cluster_cidr() -> None:
    cs = CidrSet("fd00:10:244::/56", 64)
    assert cs.allocate_next() == "fd00:10:244::/64"
    assert cs.allocate_next() == "fd00:10:244:1::/64"


# ---------------------------------------------------------------------------- node health


def node(ready: str | None = "True", taints: list[Obj] | None = None) -> Obj:
    conditions = []
    if ready is not None:
        conditions = [
            {"type": "Ready", "status": ready, "lastHeartbeatTime": t(-100)},
            {"type": "MemoryPressure", "status": "False"},
        ]
    return {"metadata": {"name": "n", "creationTimestamp": t(-500)},
            "spec": {"taints": taints or []}, "status": {"conditions": conditions}}  # fmt: skip


def test_unknown_conditions() -> None:
    conds = unknown_conditions(node(), NOW)
    assert conds is not None
    ready = next(c for c in conds if c["type"] == "Ready")
    assert ready["status"] == "Unknown" and ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."
    assert ready["lastHeartbeatTime"] == t(-100)  # the last real heartbeat stays
    assert next(c for c in conds if c["type"] == "MemoryPressure")["status"] == "Unknown"
    assert unknown_conditions(node("Unknown") | {"status": {"conditions": conds}}, NOW) is None
    never = unknown_conditions(node(None), NOW)
    assert never is not None and never[0]["reason"] == "NodeStatusNeverUpdated"


def test_taints_follow_ready() -> None:
    user = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    assert wanted_taints(node("True", [user]), NOW) == [user]
    unreachable = wanted_taints(node("Unknown", [user]), NOW)
    assert {(x["key"], x["effect"]) for x in unreachable} == {
        ("dedicated", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    not_ready = wanted_taints(node("False", unreachable), NOW)
    assert {x["key"] for x in not_ready} == {"dedicated", "node.kubernetes.io/not-ready"}
    # Already there: kept as is (timeAdded does not move).
    again = wanted_taints(node("Unknown", unreachable), NOW + timedelta(seconds=30))
    assert again == unreachable


NO_EXEC = [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": t(0)}]


@pytest.mark.parametrize(
    ("tolerations", "at", "want"),
    [
        ([], 1, 4.0),  # untolerated: the eviction timeout (5 s) from the taint
        ([], 6, -1.0),  # past due
        (
            [
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 2,
                }
            ],
            1,
            1.0,
        ),
        ([{"operator": "Exists"}], 100, None),  # tolerates everything for ever
        (
            [
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "tolerationSeconds": 60,
                }
            ],
            1,
            59.0,
        ),
    ],
)
def test_eviction_due(tolerations: list[Obj], at: float, want: float | None) -> None:
    pod = {"spec": {"tolerations": tolerations}}
    got = eviction_due(pod, NO_EXEC, 5.0, NOW + timedelta(seconds=at))
    assert got == want


# ---------------------------------------------------------------------------- misc


REF = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1",
       "controller": True, "blockOwnerDeletion": True}  # fmt: skip
REF2 = {**REF, "name": "rs2", "uid": "u2"}


def test_gc_decisions() -> None:
    obj = {"metadata": {"ownerReferences": [REF, REF2]}}
    assert decide(obj, Verdict(solid=[REF, REF2]), False).kind == "none"
    # One owner gone, one alive: only the dangling reference goes.
    act = decide(obj, Verdict(solid=[REF2], dangling=[REF]), False)
    assert act.kind == "patch-refs" and act.refs == [REF2]
    # Every owner gone: delete, in the background unless the object asks otherwise.
    assert decide(obj, Verdict(dangling=[REF, REF2]), False).policy == "Background"
    orphaning = {"metadata": {"ownerReferences": [REF], "finalizers": ["orphan"]}}
    assert decide(orphaning, Verdict(dangling=[REF]), False).policy == "Orphan"
    # Owner deleted in the foreground: delete, in the foreground if it has dependents itself.
    assert decide(obj, Verdict(waiting=[REF, REF2]), True).policy == "Foreground"
    assert decide(obj, Verdict(waiting=[REF, REF2]), False).policy == "Background"
    # A living owner and a waiting one: stay, but stop blocking the waiting one.
    act = decide(obj, Verdict(solid=[REF2], waiting=[REF]), False)
    assert act.kind == "patch-refs"
    assert act.refs == [{**REF, "blockOwnerDeletion": False}, REF2]


def test_namespace_content_order_and_finalize() -> None:
    kinds = content_kinds()
    assert kinds[:2] == ["Deployment", "ReplicaSet"]
    assert {"Pod", "Service", "EndpointSlice", "Endpoints", "Event", "Lease"} <= set(kinds)
    assert "Node" not in kinds and "Namespace" not in kinds
    assert finalized_spec({"spec": {"finalizers": ["kubernetes", "other"]}}) == ["other"]
