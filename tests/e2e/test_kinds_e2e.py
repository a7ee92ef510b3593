"""The API's newer kinds on the local cluster, with real kubelets: `kubectl get
componentstatuses` shows the control plane healthy, and `kubectl drain` waits for a
PodDisruptionBudget kept by the disruption controller. One 2-node cluster for the module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cluster_harness import Cluster, deployment_manifest, running_cluster, wait_for

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.kubectl]

VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("kinds"), 2) as c:
        yield c


def test_componentstatuses_are_healthy(cluster: Cluster) -> None:
    done = cluster.kubectl("get", "componentstatuses")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:] if line.strip()]
    assert {r[0]: r[1:3] for r in rows} == {
        "scheduler": ["Healthy", "ok"],
        "controller-manager": ["Healthy", "ok"],
        "etcd-0": ["Healthy", "ok"],
    }


def _budget(cluster: Cluster) -> dict[str, Any]:
    status: dict[str, Any] = cluster.kubectl_json("get", "pdb", "web")["status"]
    return status


def _ready_web_pods(cluster: Cluster) -> list[dict[str, Any]] | None:
    pods = cluster.kubectl_json("get", "pods", "-l", "app=web")["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    ready = [
        p
        for p in live
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions", [])
        )
    ]
    return ready if len(ready) == 2 and len(live) == 2 else None


def test_drain_is_held_by_a_disruption_budget(cluster: Cluster) -> None:
    applied = cluster.kubectl("apply", "-f", "-", stdin=json.dumps(deployment_manifest("web", 2)))
    assert applied.returncode == 0, applied.stderr
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
    }
    assert cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pdb)).returncode == 0
    pods = wait_for("2 ready web pods", lambda: _ready_web_pods(cluster), timeout=90)
    wait_for("the budget counted", lambda: _budget(cluster).get("currentHealthy") == 2 or None)
    assert _budget(cluster)["disruptionsAllowed"] == 0
    node = pods[0]["spec"]["nodeName"]

    held = cluster.kubectl("drain", node, "--ignore-daemonsets", "--timeout=6s", timeout=90)
    assert held.returncode == 1 and VIOLATION in held.stderr, held.stdout + held.stderr
    assert _ready_web_pods(cluster) is not None  # nothing was evicted

    patch = json.dumps({"spec": {"minAvailable": 1}})
    assert cluster.kubectl("patch", "pdb", "web", "--type=merge", "-p", patch).returncode == 0
    wait_for(
        "one disruption allowed", lambda: _budget(cluster).get("disruptionsAllowed") == 1 or None
    )
    done = cluster.kubectl("drain", node, "--ignore-daemonsets", "--timeout=90s", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"node/{node} drained" in done.stdout
    moved = wait_for("2 ready web pods again", lambda: _ready_web_pods(cluster), timeout=90)
    assert all(p["spec"]["nodeName"] != node for p in moved)
    assert cluster.kubectl("uncordon", node).returncode == 0
