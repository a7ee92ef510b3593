"""The DaemonSet controller's pure decisions and the ControllerRevision helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from knet.controllers import daemonsetutil as du
from knet.controllers import history

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
Obj = dict[str, Any]


def ds(**pod_spec: Any) -> Obj:
    return {
        "metadata": {"name": "agent", "namespace": "default", "uid": "ds-1", "generation": 2},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}], **pod_spec},
            },
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
        },
    }


def node(name: str, labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


def pod(name: str, node_name: str, h: str, ready: bool = True, age: float = 600) -> Obj:
    stamp = (NOW - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {
            "name": name,
            "labels": {"app": "agent", history.REVISION_HASH_LABEL: h},
            "creationTimestamp": stamp,
        },
        "spec": {"nodeName": node_name},
        "status": {
            "phase": "Running",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": stamp,
                }
            ],
        },
    }


def test_node_selection() -> None:
    assert du.should_run(ds(), node("a"))
    assert not du.should_run(ds(nodeSelector={"disk": "ssd"}), node("a"))
    assert du.should_run(ds(nodeSelector={"disk": "ssd"}), node("a", {"disk": "ssd"}))
    tainted = node("b", taints=[{"key": "gpu", "effect": "NoSchedule"}])
    assert not du.should_run(ds(), tainted)
    assert du.should_run(ds(tolerations=[{"key": "gpu", "operator": "Exists"}]), tainted)
    # The default tolerations: cordoned and not-ready nodes still run daemon pods.
    cordoned = node(
        "c", taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
    )
    assert du.should_run(ds(), cordoned)
    not_ready = node("d", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}])
    assert du.should_run(ds(), not_ready)
    no_net = node(
        "e", taints=[{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]
    )
    assert not du.should_run(ds(), no_net)
    assert du.should_run(ds(hostNetwork=True), no_net)


def test_required_node_affinity() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]},
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["x"]}]},
                ]
            }
        }
    }
    assert du.should_run(ds(affinity=affinity), node("n", {"zone": "b"}))
    assert du.should_run(ds(affinity=affinity), node("x", {"zone": "c"}))
    assert not du.should_run(ds(affinity=affinity), node("n", {"zone": "c"}))


def test_daemon_pod_is_pinned_to_its_node() -> None:
    p = du.daemon_pod(ds(), "node-1", "abc")
    terms = p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert terms == [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}
    ]
    assert du.pod_node(p) == "node-1"
    assert p["metadata"]["labels"][history.REVISION_HASH_LABEL] == "abc"
    assert p["metadata"]["labels"][du.TEMPLATE_GENERATION_LABEL] == "2"
    assert p["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"


def test_plan_nodes() -> None:
    by_node = {
        "a": [pod("a1", "a", "h")],
        "b": [pod("b1", "b", "h", age=100), pod("b2", "b", "h", age=50)],
        "gone": [pod("g1", "gone", "h")],
    }
    plan = du.plan_nodes(["a", "b", "c"], by_node)
    assert plan.create == ["c"]
    assert sorted(p["metadata"]["name"] for p in plan.delete) == ["b2", "g1"]


def test_rolling_update_respects_max_unavailable() -> None:
    by_node = {n: [pod(f"{n}1", n, "old")] for n in "abc"}
    step = du.rolling_update(ds(), ["a", "b", "c"], by_node, "new", NOW)
    assert [p["metadata"]["name"] for p in step.delete] == ["a1"]
    # One node already without an available pod: nothing more goes.
    by_node["a"] = [pod("a2", "a", "new", ready=False)]
    assert du.rolling_update(ds(), ["a", "b", "c"], by_node, "new", NOW).delete == []
    # Old pods that are not available are replaced at once.
    by_node["b"] = [pod("b1", "b", "old", ready=False)]
    step = du.rolling_update(ds(), ["a", "b", "c"], by_node, "new", NOW)
    assert [p["metadata"]["name"] for p in step.delete] == ["b1"]


def test_rolling_update_with_surge_starts_new_pods_first() -> None:
    d = ds()
    d["spec"]["updateStrategy"]["rollingUpdate"] = {"maxUnavailable": 0, "maxSurge": 1}
    by_node = {n: [pod(f"{n}1", n, "old")] for n in "ab"}
    step = du.rolling_update(d, ["a", "b"], by_node, "new", NOW)
    assert (step.create, step.delete) == (["a"], [])
    by_node["a"].append(pod("a2", "a", "new"))
    step = du.rolling_update(d, ["a", "b"], by_node, "new", NOW)
    assert [p["metadata"]["name"] for p in step.delete] == ["a1"]
    assert step.create == ["b"]


def test_status_counts() -> None:
    by_node = {
        "a": [pod("a1", "a", "new")],
        "b": [pod("b1", "b", "old", ready=False)],
        "x": [pod("x1", "x", "new")],
    }
    st = du.daemon_status(ds(), ["a", "b", "c"], by_node, "new", NOW)
    assert st == {
        "currentNumberScheduled": 2,
        "numberMisscheduled": 1,
        "desiredNumberScheduled": 3,
        "numberReady": 1,
        "observedGeneration": 2,
        "updatedNumberScheduled": 1,
        "numberAvailable": 1,
        "numberUnavailable": 2,
    }


def test_revisions() -> None:
    d = ds()
    rev = history.new_revision(d, "apps/v1", "DaemonSet", 1)
    h = history.revision_hash(d)
    assert rev["metadata"]["name"] == f"agent-{h}"
    assert rev["metadata"]["labels"] == {"app": "agent", history.REVISION_HASH_LABEL: h}
    assert rev["data"]["spec"]["template"]["$patch"] == "replace"
    assert history.find_equal(d, [rev]) is rev
    changed = ds(nodeSelector={"a": "b"})
    assert history.find_equal(changed, [rev]) is None
    assert history.revision_hash(changed) != h
    assert history.revision_hash(d, 1) != h  # a collision count changes the name


def test_prune_keeps_live_and_the_newest() -> None:
    revs = [{"metadata": {"name": f"r{i}"}, "revision": i} for i in range(1, 6)]
    pruned = history.to_prune(revs, {"r5", "r1"}, limit=2)
    assert [r["metadata"]["name"] for r in pruned] == ["r2"]
    assert history.to_prune(revs, set(), limit=10) == []
