"""DaemonSets against a real API server with fake nodes: one pod per eligible node, rolling
updates and OnDelete, ControllerRevisions and `kubectl rollout status|history|undo ds`."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _fakecluster import Cluster, eventually

Obj = dict[str, Any]


def daemonset(name: str, image: str = "nginx:1.25", **spec: Any) -> Obj:
    labels = {"app": name}
    pod_spec: Obj = {"containers": [{"name": "agent", "image": image}]}
    pod_spec.update(spec.pop("pod", {}))
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            **spec,
        },
    }


async def nodes(cluster: Cluster, count: int = 3) -> None:
    for i in range(count):
        await cluster.add_node(f"kt-node-{i}")
    cluster.start_controllers()
    cluster.start_scheduler()


async def live(cluster: Cluster, app: str) -> list[Obj]:
    pods, _ = await cluster.client.list("Pod", "default", label_selector={"app": app})
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def settled(cluster: Cluster, name: str, image: str, count: int) -> bool:
    ds = await cluster.client.get("DaemonSet", name, "default")
    st = ds.get("status") or {}
    pods = await live(cluster, name)
    return (
        st.get("observedGeneration") == ds["metadata"]["generation"]
        and st.get("numberAvailable") == count
        and st.get("updatedNumberScheduled") == count
        and len(pods) == count
        and all(p["spec"]["containers"][0]["image"] == image for p in pods)
    )


async def test_one_pod_per_node_following_selector_and_taints(cluster: Cluster) -> None:
    await nodes(cluster)
    client = cluster.client
    await client.patch(
        "Node",
        "kt-node-2",
        {"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}},
    )
    await client.patch("Node", "kt-node-0", {"metadata": {"labels": {"disk": "ssd"}}})
    await client.create(daemonset("agent"))
    await client.create(daemonset("ssd-only", pod={"nodeSelector": {"disk": "ssd"}}))

    async def placed() -> bool:
        agents = await live(cluster, "agent")
        ssd = await live(cluster, "ssd-only")
        return sorted(p["spec"].get("nodeName", "") for p in agents) == [
            "kt-node-0",
            "kt-node-1",
        ] and [p["spec"].get("nodeName") for p in ssd] == ["kt-node-0"]

    await eventually(placed, timeout=30)
    pod = (await live(cluster, "agent"))[0]
    tolerated = {t["key"] for t in pod["spec"]["tolerations"]}
    assert "node.kubernetes.io/unschedulable" in tolerated
    assert "node.kubernetes.io/not-ready" in tolerated
    ds = await client.get("DaemonSet", "agent", "default")
    assert ds["status"]["desiredNumberScheduled"] == 2

    # The taint goes away: the third node gets its pod; a cordon changes nothing.
    await client.patch("Node", "kt-node-2", {"spec": {"taints": None, "unschedulable": True}})

    async def everywhere() -> bool:
        return len(await live(cluster, "agent")) == 3

    await eventually(everywhere, timeout=30)
    # A label removed: the ssd-only pod leaves that node.
    await client.patch("Node", "kt-node-0", {"metadata": {"labels": {"disk": None}}})

    async def none_left() -> bool:
        return await live(cluster, "ssd-only") == []

    await eventually(none_left, timeout=30)


async def test_rolling_update_records_revisions(cluster: Cluster) -> None:
    await nodes(cluster)
    client = cluster.client
    await client.create(daemonset("agent"))
    await eventually(lambda: settled(cluster, "agent", "nginx:1.25", 3), timeout=30)
    await client.patch(
        "DaemonSet",
        "agent",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "agent", "image": "nginx:1.26"}]}}
            }
        },
        namespace="default",
        patch_type="strategic",
    )
    await eventually(lambda: settled(cluster, "agent", "nginx:1.26", 3), timeout=40)
    revisions, _ = await client.list("ControllerRevision", "default")
    assert sorted(r["revision"] for r in revisions) == [1, 2]
    newest = max(revisions, key=lambda r: r["revision"])
    pods = await live(cluster, "agent")
    hashes = {p["metadata"]["labels"]["controller-revision-hash"] for p in pods}
    assert hashes == {newest["metadata"]["labels"]["controller-revision-hash"]}
    assert newest["data"]["spec"]["template"]["$patch"] == "replace"


async def test_on_delete_waits_for_pods_to_be_deleted(cluster: Cluster) -> None:
    await nodes(cluster, 2)
    client = cluster.client
    await client.create(daemonset("agent", updateStrategy={"type": "OnDelete"}))
    await eventually(lambda: settled(cluster, "agent", "nginx:1.25", 2), timeout=30)
    await client.patch(
        "DaemonSet",
        "agent",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "agent", "image": "nginx:1.26"}]}}
            }
        },
        namespace="default",
        patch_type="strategic",
    )

    async def observed() -> bool:
        ds = await client.get("DaemonSet", "agent", "default")
        return ds["status"].get("observedGeneration") == 2

    await eventually(observed)
    await asyncio.sleep(0.5)
    pods = await live(cluster, "agent")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.25"}
    await client.delete("Pod", pods[0]["metadata"]["name"], "default")

    async def one_replaced() -> bool:
        images = sorted(p["spec"]["containers"][0]["image"] for p in await live(cluster, "agent"))
        return images == ["nginx:1.25", "nginx:1.26"]

    await eventually(one_replaced, timeout=30)


def kubectl(cluster: Cluster, tmp_path: Path, *args: str) -> list[str]:
    return [
        "kubectl",
        "--kubeconfig",
        str(cluster.server.kubeconfig),
        "--cache-dir",
        str(tmp_path / "kube-cache"),
        *args,
    ]


async def run(argv: list[str], tmp_path: Path) -> str:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, "HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, (argv, out.decode(), err.decode())
    return out.decode()


@pytest.mark.kubectl
async def test_kubectl_rollout_status_history_undo(cluster: Cluster, tmp_path: Path) -> None:
    await nodes(cluster, 2)
    client = cluster.client
    await client.create(daemonset("agent"))
    out = await run(
        kubectl(cluster, tmp_path, "rollout", "status", "ds/agent", "--timeout=60s"), tmp_path
    )
    assert 'daemon set "agent" successfully rolled out' in out
    await run(kubectl(cluster, tmp_path, "set", "image", "ds/agent", "agent=nginx:1.26"), tmp_path)
    out = await run(
        kubectl(cluster, tmp_path, "rollout", "status", "ds/agent", "--timeout=60s"), tmp_path
    )
    assert "successfully rolled out" in out
    out = await run(kubectl(cluster, tmp_path, "rollout", "history", "ds/agent"), tmp_path)
    assert [line.split()[0] for line in out.splitlines()[2:] if line.strip()] == ["1", "2"]
    out = await run(kubectl(cluster, tmp_path, "rollout", "undo", "ds/agent"), tmp_path)
    assert "rolled back" in out
    await eventually(lambda: settled(cluster, "agent", "nginx:1.25", 2), timeout=40)
    revisions, _ = await client.list("ControllerRevision", "default")
    # The undo renumbers the first template's revision as the newest; no third one appears.
    assert sorted(r["revision"] for r in revisions) == [2, 3]
