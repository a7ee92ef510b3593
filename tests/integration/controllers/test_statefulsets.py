"""StatefulSets against a real API server with fake nodes: stable names, order, partitions."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _fakecluster import Cluster, eventually

from knet.client import Informer

Obj = dict[str, Any]


def statefulset(name: str, replicas: int, image: str = "nginx:1.25", **spec: Any) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "db", "image": image}]},
            },
            **spec,
        },
    }


async def start(cluster: Cluster, ready_delay: float = 0.0) -> None:
    for i in range(2):
        node = await cluster.add_node(f"kt-node-{i}")
        node.ready_delay = ready_delay
    cluster.start_controllers()
    cluster.start_scheduler()


async def live(cluster: Cluster, app: str) -> dict[str, Obj]:
    pods, _ = await cluster.client.list("Pod", "default", label_selector={"app": app})
    return {p["metadata"]["name"]: p for p in pods if not p["metadata"].get("deletionTimestamp")}


def ready(pod: Obj) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


async def all_ready(cluster: Cluster, name: str, count: int, image: str | None = None) -> bool:
    sts = await cluster.client.get("StatefulSet", name, "default")
    st = sts.get("status") or {}
    pods = await live(cluster, name)
    return (
        st.get("observedGeneration") == sts["metadata"]["generation"]
        and st.get("readyReplicas") == count
        and len(pods) == count
        and all(ready(p) for p in pods.values())
        and (
            image is None
            or all(p["spec"]["containers"][0]["image"] == image for p in pods.values())
        )
    )


async def test_ordered_pods_with_stable_names_and_dns_identity(cluster: Cluster) -> None:
    await start(cluster, ready_delay=0.2)
    client = cluster.client
    created: list[tuple[str, int]] = []  # (pod created, how many were ready then)
    informer = Informer(client, "Pod", "default", label_selector={"app": "db"})

    def on_add(pod: Obj) -> None:
        others = [
            p for p in informer.cache.list() if p["metadata"]["name"] != pod["metadata"]["name"]
        ]
        created.append((pod["metadata"]["name"], sum(1 for p in others if ready(p))))

    informer.add_handler(on_add)
    informer.start()
    await client.create(statefulset("db", 3))
    await eventually(lambda: all_ready(cluster, "db", 3), timeout=30)
    await informer.stop()
    # OrderedReady: each pod was created once all lower ones were Ready.
    assert created == [("db-0", 0), ("db-1", 1), ("db-2", 2)]
    pods = await live(cluster, "db")
    for name, pod in pods.items():
        assert pod["spec"]["hostname"] == name
        assert pod["spec"]["subdomain"] == "db"
        assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == name
    sts = await client.get("StatefulSet", "db", "default")
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]

    # Scale down: the highest ordinals go; a deleted pod comes back under its own name.
    await client.patch("StatefulSet", "db", {"spec": {"replicas": 1}}, namespace="default")
    await eventually(lambda: all_ready(cluster, "db", 1), timeout=30)
    assert list(await live(cluster, "db")) == ["db-0"]
    await client.delete("Pod", "db-0", "default")

    async def back() -> bool:
        pods = await live(cluster, "db")
        return list(pods) == ["db-0"] and ready(pods["db-0"])

    await eventually(back, timeout=30)


async def test_parallel_creates_all_at_once(cluster: Cluster) -> None:
    await start(cluster, ready_delay=5.0)
    client = cluster.client
    await client.create(statefulset("web", 3, podManagementPolicy="Parallel"))

    async def all_exist() -> bool:
        return sorted(await live(cluster, "web")) == ["web-0", "web-1", "web-2"]

    await eventually(all_exist, timeout=10)
    # They exist before the first is Ready (each takes 5 s to become Ready).
    assert not any(ready(p) for p in (await live(cluster, "web")).values())


async def test_rolling_update_honours_the_partition(cluster: Cluster) -> None:
    await start(cluster)
    client = cluster.client
    await client.create(
        statefulset(
            "db", 3, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
        )
    )
    await eventually(lambda: all_ready(cluster, "db", 3), timeout=30)
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "db", "image": "nginx:1.26"}]}}}
    }
    await client.patch("StatefulSet", "db", patch, namespace="default", patch_type="strategic")

    async def partitioned() -> bool:
        sts = await client.get("StatefulSet", "db", "default")
        return sts["status"].get("updatedReplicas") == 1 and await all_ready(cluster, "db", 3)

    await eventually(partitioned, timeout=30)
    images = {
        n: p["spec"]["containers"][0]["image"] for n, p in (await live(cluster, "db")).items()
    }
    assert images == {"db-0": "nginx:1.25", "db-1": "nginx:1.25", "db-2": "nginx:1.26"}
    await client.patch(
        "StatefulSet",
        "db",
        {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}},
        namespace="default",
    )
    await eventually(lambda: all_ready(cluster, "db", 3, "nginx:1.26"), timeout=40)

    async def promoted() -> bool:
        st = (await client.get("StatefulSet", "db", "default"))["status"]
        return st["currentRevision"] == st["updateRevision"] and st["currentReplicas"] == 3

    await eventually(promoted, timeout=20)
    revisions, _ = await client.list("ControllerRevision", "default")
    assert sorted(r["revision"] for r in revisions) == [1, 2]


@pytest.mark.kubectl
async def test_kubectl_rollout_status_history_undo_sts(cluster: Cluster, tmp_path: Path) -> None:
    await start(cluster, ready_delay=0.2)
    client = cluster.client
    await client.create(statefulset("db", 2))
    home = tmp_path / "home"
    home.mkdir()

    async def kubectl(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "kubectl",
            "--kubeconfig",
            str(cluster.server.kubeconfig),
            "--cache-dir",
            str(tmp_path / "cache"),
            *args,
            env={**os.environ, "HOME": str(home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, (args, out.decode(), err.decode())
        return out.decode()

    out = await kubectl("rollout", "status", "sts/db", "--timeout=60s")
    # Defaulting sets partition 0, so kubectl reports a partitioned roll out, as upstream.
    assert "partitioned roll out complete: 2 new pods have been updated" in out
    await kubectl("set", "image", "sts/db", "db=nginx:1.26")
    await eventually(lambda: all_ready(cluster, "db", 2, "nginx:1.26"), timeout=40)
    out = await kubectl("rollout", "history", "sts/db")
    assert [line.split()[0] for line in out.splitlines()[2:] if line.strip()] == ["1", "2"]
    assert "rolled back" in await kubectl("rollout", "undo", "sts/db")
    await eventually(lambda: all_ready(cluster, "db", 2, "nginx:1.25"), timeout=40)
    revisions, _ = await client.list("ControllerRevision", "default")
    assert sorted(r["revision"] for r in revisions) == [2, 3]
