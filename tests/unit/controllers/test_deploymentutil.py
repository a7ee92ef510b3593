"""The Deployment controller's arithmetic, table-driven against upstream's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from knet.controllers import deploymentutil as du

Obj = dict[str, Any]
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def dep(replicas: int, surge: Any = "25%", unavailable: Any = "25%", kind: str = "RollingUpdate",
        **extra: Any) -> Obj:  # fmt: skip
    strategy: Obj = {"type": kind}
    if kind == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    spec = {"replicas": replicas, "strategy": strategy, "template": {"spec": {"c": 1}}, **extra}
    return {
        "metadata": {"name": "d", "namespace": "ns", "uid": "u1", "generation": 1},
        "spec": spec,
    }


def rs(name: str, replicas: int, available: int | None = None, created: int = 0,
       **annotations: str) -> Obj:  # fmt: skip
    stamp = (NOW + timedelta(seconds=created)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {"name": name, "creationTimestamp": stamp, "annotations": annotations},
        "spec": {"replicas": replicas},
        "status": {
            "replicas": replicas,
            "availableReplicas": replicas if available is None else available,
            "readyReplicas": replicas if available is None else available,
        },
    }


@pytest.mark.parametrize(
    ("value", "total", "up", "want"),
    [
        (3, 10, True, 3),
        ("25%", 10, True, 3),  # 2.5 up
        ("25%", 10, False, 2),  # 2.5 down
        ("25%", 4, True, 1),
        ("25%", 4, False, 1),
        ("30%", 3, True, 1),  # 0.9 up
        ("30%", 3, False, 0),  # 0.9 down
        ("100%", 7, False, 7),
        ("0%", 7, True, 0),
        (None, 7, True, 0),
    ],
)
def test_scaled_value_rounds_as_upstream(value: Any, total: int, up: bool, want: int) -> None:
    assert du.scaled_value(value, total, round_up=up) == want


def test_scaled_value_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="percentage"):
        du.scaled_value("ten%", 10, True)


@pytest.mark.parametrize(
    ("surge", "unavailable", "total", "want"),
    [
        ("25%", "25%", 10, (3, 2)),
        ("25%", "25%", 1, (1, 0)),
        (0, 0, 5, (0, 1)),  # both zero would never progress
        ("0%", "10%", 5, (0, 1)),  # 0.5 down is 0, so 1
        (2, "50%", 3, (2, 1)),
    ],
)
def test_resolve_fenceposts(
    surge: Any, unavailable: Any, total: int, want: tuple[int, int]
) -> None:
    assert du.resolve_fenceposts(surge, unavailable, total) == want


def test_max_unavailable_is_capped_and_zero_for_recreate() -> None:
    assert du.max_unavailable(dep(2, 0, 5)) == 2
    assert du.max_unavailable(dep(4, kind="Recreate")) == 0
    assert du.max_surge(dep(4, kind="Recreate")) == 0
    assert du.max_unavailable(dep(0, 1, 1)) == 0


def test_new_rs_replicas_respects_surge() -> None:
    d = dep(10, 3, 2)  # at most 13 pods
    old = rs("old", 10)
    assert du.new_rs_replicas(d, [old], None) == 3
    new = rs("new", 3, 0)
    assert du.new_rs_replicas(d, [old, new], new) == 3  # at 13 already
    old8 = rs("old", 8)
    assert du.new_rs_replicas(d, [old8, new], new) == 5
    done = rs("new", 12)
    assert du.new_rs_replicas(d, [done], done) == 10  # over: scale down to desired
    assert du.new_rs_replicas(dep(4, kind="Recreate"), [rs("old", 4)], None) == 4


def test_old_scale_down_keeps_min_available() -> None:
    d = dep(4, 1, 1)  # min available 3
    # New set surged to 1 but not available yet: old may lose only one.
    assert du.old_scale_down(d, [rs("old", 4)], rs("new", 1, 0)) == {"old": 3}
    # New set's pod unavailable and old already down one: nothing more.
    assert du.old_scale_down(d, [rs("old", 3)], rs("new", 2, 0)) == {}
    # Two new available: old can drop to 1 (3 available remain... 1 old + 2 new = 3).
    assert du.old_scale_down(d, [rs("old", 3)], rs("new", 2, 2)) == {"old": 1}


def test_old_scale_down_removes_unhealthy_old_pods_first() -> None:
    d = dep(4, 0, 1)
    old = rs("old", 4, available=2)  # two old pods are not available
    got = du.old_scale_down(d, [old], rs("new", 0, 0))
    # 4 - 3 - 0 = 1 may go, and it is taken from the unhealthy ones: that costs no availability.
    assert got == {"old": 3}


def test_old_scale_down_takes_oldest_first() -> None:
    d = dep(4, 0, 2)
    older, newer = rs("a", 2, created=0), rs("b", 2, created=10)
    assert du.old_scale_down(d, [newer, older], rs("new", 0)) == {"a": 0}


def test_template_hash_is_stable_and_ignores_its_own_label() -> None:
    t = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c"}]}}
    h = du.template_hash(t)
    assert h == du.template_hash({"spec": t["spec"], "metadata": t["metadata"]})  # key order
    assert h != du.template_hash(t, 1)  # a collision bumps it
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    labelled = {"metadata": {"labels": {"app": "x", "pod-template-hash": h}}, "spec": t["spec"]}
    assert du.equal_ignore_hash(t, labelled)
    assert not du.equal_ignore_hash(t, {**t, "spec": {"containers": [{"name": "d"}]}})


def test_find_new_and_old_and_new_replica_set() -> None:
    d = dep(3)
    d["spec"]["selector"] = {"matchLabels": {"app": "x"}}
    d["spec"]["template"] = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}
    old = rs("d-old", 3, REVISION="1") | {"spec": {"replicas": 3, "template": {"spec": {"x": 1}}}}
    old["metadata"]["annotations"] = {du.REVISION: "4"}
    new, olds = du.find_new_and_old(d, [old])
    assert new is None and olds == [old]
    body = du.new_replica_set(d, olds, 0)
    pth = body["spec"]["template"]["metadata"]["labels"]["pod-template-hash"]
    assert body["metadata"]["name"] == f"d-{pth}"
    assert body["metadata"]["annotations"][du.REVISION] == "5"
    assert body["spec"]["selector"]["matchLabels"] == {"app": "x", "pod-template-hash": pth}
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u1"
    found, rest = du.find_new_and_old(d, [old, body])
    assert found is body and rest == [old]


def test_proportional_scaling_spreads_the_change() -> None:
    d = dep(15, 3, 2)  # was 10 (max 13), now 15 (max 18)
    notes = {du.DESIRED_REPLICAS: "10", du.MAX_REPLICAS: "13"}
    old = rs("old", 8, created=0, **notes)
    new = rs("new", 5, 0, created=10, **notes)
    assert du.is_scaling_event(d, [old, new])
    targets = du.proportional_scale(d, new, [old])
    assert sum(targets.values()) == 18  # the new allowed total
    assert targets["old"] > 8 and targets["new"] > 5
    # Only one active set: it simply takes the new size.
    assert du.proportional_scale(d, rs("new", 10, **notes), [rs("old", 0)]) == {"new": 15}


def test_status_and_conditions() -> None:
    d = dep(3, 1, 1, progressDeadlineSeconds=600)
    new = rs("d-new", 3, 3)
    st = du.rollout_status(d, [new], new, NOW)
    assert (st["replicas"], st["updatedReplicas"], st["availableReplicas"]) == (3, 3, 3)
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["Available"]["status"] == "True"
    assert conds["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert conds["Progressing"]["message"] == 'ReplicaSet "d-new" has successfully progressed.'
    # Only one of three available with maxUnavailable 1: not available.
    st = du.rollout_status(d, [rs("d-new", 3, 1)], rs("d-new", 3, 1), NOW)
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["Available"]["status"] == "False"
    assert st["unavailableReplicas"] == 2


def test_progress_deadline() -> None:
    d = dep(3, 1, 1, progressDeadlineSeconds=10)
    stale = (NOW - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    d["status"] = {
        "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2, "readyReplicas": 2,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                        "lastUpdateTime": stale, "lastTransitionTime": stale}],
    }  # fmt: skip
    old, new = rs("old", 2, 2), rs("new", 1, 0)
    st = du.rollout_status(d, [old, new], new, NOW)
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["Progressing"]["status"] == "False"
    assert conds["Progressing"]["reason"] == "ProgressDeadlineExceeded"


def test_history_cleanup_keeps_the_limit() -> None:
    d = dep(1, revisionHistoryLimit=1)
    olds = [rs(f"r{i}", 0, REVISION="x") for i in range(3)]
    for i, r in enumerate(olds):
        r["metadata"]["annotations"] = {du.REVISION: str(i + 1)}
        r["status"]["observedGeneration"] = 1
    assert [r["metadata"]["name"] for r in du.to_clean_up(d, olds)] == ["r0", "r1"]
    olds[0]["spec"]["replicas"] = 1  # still running: never cleaned
    assert [r["metadata"]["name"] for r in du.to_clean_up(d, olds)] == ["r1"]


def test_template_kubectl_rollout_undo_sends_matches_the_old_replica_set() -> None:
    # kubectl writes Go's zero values (creationTimestamp: null, resources: {}) that the stored
    # template lacks; upstream compares structs, where they are the same.
    stored = {
        "metadata": {"labels": {"app": "x", "pod-template-hash": "abc"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
    }
    from_undo = {
        "metadata": {"creationTimestamp": None, "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.25", "resources": {}}]},
    }
    assert du.equal_ignore_hash(stored, from_undo)
    new, old = du.find_new_and_old(
        {"spec": {"template": from_undo}}, [{"spec": {"template": stored}}]
    )
    assert new is not None and old == []
    changed = {**from_undo, "spec": {"containers": [{"name": "c", "image": "nginx:1.26"}]}}
    assert not du.equal_ignore_hash(stored, changed)
