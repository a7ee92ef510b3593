"""ReplicaSet decisions: claiming, what to create or delete, slow start, status, expectations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from knet.api.pods import is_available
from knet.api.selectors import selector_from_set
from knet.controllers.deletionorder import deletion_order
from knet.controllers.expectations import Expectations
from knet.controllers.replicaset import (
    claim,
    plan,
    pod_from_template,
    replica_status,
    slow_start_batches,
)

Obj = dict[str, Any]
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return (NOW + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, *, node: str = "", phase: str = "Running", ready: bool | None = None,
        created: float = 0, ready_at: float = 0, labels: dict[str, str] | None = None,
        owner: str | None = None) -> Obj:  # fmt: skip
    meta: Obj = {"name": name, "namespace": "ns", "labels": labels or {"app": "x"},
                 "creationTimestamp": stamp(created), "uid": f"uid-{name}"}  # fmt: skip
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "uid": owner,
                                    "apiVersion": "apps/v1", "controller": True}]  # fmt: skip
    status: Obj = {"phase": phase}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False",
                                 "lastTransitionTime": stamp(ready_at)}]  # fmt: skip
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}, "status": status}


RS = {"metadata": {"name": "rs", "namespace": "ns", "uid": "rs", "generation": 2},
      "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "x"}},
               "template": {"metadata": {"labels": {"app": "x"}, "annotations": {"a": "b"}},
                            "spec": {"containers": [{"name": "c"}]}}}}  # fmt: skip


def test_claim_adopts_matching_orphans_and_releases_mismatches() -> None:
    sel = selector_from_set({"app": "x"})
    mine = pod("mine", owner="rs")
    orphan = pod("orphan")
    theirs = pod("theirs", owner="other")
    strayed = pod("strayed", owner="rs", labels={"app": "y"})
    unrelated = pod("unrelated", labels={"app": "z"})
    got = claim(RS, sel, [mine, orphan, theirs, strayed, unrelated])
    assert [p["metadata"]["name"] for p in got.owned] == ["mine", "orphan"]
    assert [p["metadata"]["name"] for p in got.adopt] == ["orphan"]
    assert [p["metadata"]["name"] for p in got.release] == ["strayed"]
    deleting = {**RS, "metadata": {**RS["metadata"], "deletionTimestamp": stamp(0)}}
    got = claim(deleting, sel, [mine, orphan, strayed])
    assert got.adopt == [] and got.release == []


def test_plan_creates_or_deletes_the_difference() -> None:
    pods = [pod(f"p{i}", node="n", ready=True) for i in range(5)]
    assert plan(pods[:1], 3).create == 2
    assert plan(pods, 5).create == 0 and plan(pods, 5).delete == []
    assert len(plan(pods, 2).delete) == 3
    assert plan([], 1000).create == 500  # burst limit


def test_deletion_prefers_unscheduled_then_not_ready_then_newer() -> None:
    pods = [
        pod("ready-old", node="n1", ready=True, created=0, ready_at=1),
        pod("ready-new", node="n2", ready=True, created=50, ready_at=51),
        pod("unready", node="n3", ready=False, created=0),
        pod("pending", phase="Pending", created=0),
        pod("doubled-a", node="n4", ready=True, created=0, ready_at=1),
        pod("doubled-b", node="n4", ready=True, created=0, ready_at=1),
    ]
    order = [p["metadata"]["name"] for p in deletion_order(pods)]
    assert order[0] == "pending"
    assert order[1] == "unready"
    # Among ready ones: those sharing a node go first, then the newer.
    assert order[2:4] == ["doubled-a", "doubled-b"]
    assert order[4:] == ["ready-new", "ready-old"]


def test_slow_start_batches() -> None:
    assert slow_start_batches(0) == []
    assert slow_start_batches(1) == [1]
    assert slow_start_batches(10) == [1, 2, 4, 3]
    assert sum(slow_start_batches(500)) == 500


def test_pod_from_template() -> None:
    p = pod_from_template(RS, "apps/v1", "ReplicaSet")
    assert p["metadata"]["generateName"] == "rs-"
    assert p["metadata"]["labels"] == {"app": "x"}
    assert p["metadata"]["annotations"] == {"a": "b"}
    (ref,) = p["metadata"]["ownerReferences"]
    assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs",
                   "controller": True, "blockOwnerDeletion": True}  # fmt: skip
    p["spec"]["containers"].append({})
    assert len(RS["spec"]["template"]["spec"]["containers"]) == 1  # a copy, not the template


def test_replica_status_counts_ready_and_available() -> None:
    rs = {**RS, "spec": {**RS["spec"], "minReadySeconds": 10}}
    pods = [
        pod("a", ready=True, ready_at=-60),
        pod("b", ready=True, ready_at=-5),  # ready, but not for 10 s yet
        pod("c", ready=False),
        pod("d", ready=True, ready_at=-60, labels={"app": "x", "extra": "1"}),
    ]
    st = replica_status(rs, pods, NOW)
    assert st == {"replicas": 4, "fullyLabeledReplicas": 4, "readyReplicas": 3,
                  "availableReplicas": 2, "observedGeneration": 2}  # fmt: skip
    assert not is_available(pods[1], 10, NOW) and is_available(pods[1], 0, NOW)


def test_expectations_block_until_observed_or_expired() -> None:
    now = [0.0]
    exp = Expectations(clock=lambda: now[0], ttl=300)
    assert exp.satisfied("ns/rs")
    exp.expect_creations("ns/rs", 2)
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert exp.satisfied("ns/rs")
    exp.expect_deletions("ns/rs", ["ns/a", "ns/b"])
    exp.deletion_observed("ns/rs", "ns/a")
    exp.deletion_observed("ns/rs", "ns/a")  # twice is once
    assert exp.pending("ns/rs") == (0, 1)
    now[0] = 301.0
    assert exp.satisfied("ns/rs")  # a lost event cannot wedge the controller
    exp.expect_creations("ns/other", 3)
    exp.creations_failed("ns/other", 3)
    assert exp.satisfied("ns/other")
