"""The disruption controller and `kubectl drain` against a real API server with fake nodes:
the budget's status follows the pods, and drain's evictions wait for the budget to allow them."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _fakecluster import Cluster, eventually
from test_workloads import deployment, live_pods

from knet.client import ApiClient

Obj = dict[str, Any]
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


def budget(min_available: int | str) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web"},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": "web"}}},
    }


async def status_of(client: ApiClient) -> Obj:
    pdb = await client.get("PodDisruptionBudget", "web", "default")
    status: Obj = pdb.get("status") or {}
    return status


async def kubectl(kubeconfig: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    argv = ["kubectl", "--kubeconfig", str(kubeconfig), *args]
    run = lambda: subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)  # noqa: E731
    return await asyncio.to_thread(run)


@pytest.mark.kubectl
async def test_drain_waits_for_the_budget(cluster: Cluster, tmp_path: Path) -> None:
    client = cluster.client
    for i in range(2):
        await cluster.add_node(f"kt-node-{i}")
    cluster.start_controllers()
    cluster.start_scheduler()
    await client.create(deployment("web", 2))
    await client.create(budget(2))

    async def counted() -> bool:
        s = await status_of(client)
        return (s.get("expectedPods"), s.get("currentHealthy")) == (2, 2)

    await eventually(counted)
    status = await status_of(client)
    assert (status["desiredHealthy"], status["disruptionsAllowed"]) == (2, 0)
    assert status["conditions"][0]["reason"] == "InsufficientPods"
    node = next(iter({p["spec"]["nodeName"] for p in await live_pods(client, "web")}))

    done = await kubectl(
        cluster.server.kubeconfig, tmp_path, "drain", node, "--force", "--timeout=4s"
    )
    assert done.returncode == 1 and VIOLATION in done.stderr, done.stderr
    assert len(await live_pods(client, "web")) == 2  # nothing was evicted

    await client.patch(
        "PodDisruptionBudget", "web", {"spec": {"minAvailable": 1}}, namespace="default"
    )

    async def allowed() -> bool:
        return (await status_of(client)).get("disruptionsAllowed") == 1

    await eventually(allowed)
    done = await kubectl(
        cluster.server.kubeconfig, tmp_path, "drain", node, "--force", "--timeout=60s"
    )
    assert done.returncode == 0, done.stderr
    assert "evicted" in done.stdout and f"node/{node} drained" in done.stdout

    async def moved() -> bool:
        pods = await live_pods(client, "web")
        return len(pods) == 2 and all(p["spec"].get("nodeName") != node for p in pods)

    await eventually(moved, timeout=40)
