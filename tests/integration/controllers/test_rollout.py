"""Rolling updates and Recreate, watched pod by pod; `kubectl rollout status` against them."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _fakecluster import Cluster, eventually
from test_workloads import deployment, three_nodes

from knet.client import Informer

Obj = dict[str, Any]


class PodCensus:
    """Counts, after every pod event, the pods that are up (not terminating) and available
    (also Ready): the state of the cluster at each revision the watch shows."""

    def __init__(self, cluster: Cluster, app: str) -> None:
        self.informer = Informer(cluster.client, "Pod", "default", label_selector={"app": app})
        self.samples: list[tuple[int, int, frozenset[str]]] = []  # (up, available, images)
        self.informer.add_handler(self._sample, lambda _o, _n: self._sample(_n), self._sample)

    def _sample(self, _pod: Obj) -> None:
        up = [p for p in self.informer.cache.list() if not p["metadata"].get("deletionTimestamp")]
        ready = [
            p
            for p in up
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
        ]
        images = frozenset(p["spec"]["containers"][0]["image"] for p in up)
        self.samples.append((len(up), len(ready), images))


async def test_rolling_update_respects_max_unavailable_and_surge(cluster: Cluster) -> None:
    await three_nodes(cluster)
    for node in cluster.nodes.values():
        node.ready_delay = 0.2  # a pod takes a moment to become Ready, as real ones do
    client = cluster.client
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    await client.create(deployment("web", 4, image="nginx:1.25", **strategy))

    async def rolled(image: str) -> bool:
        d = await client.get("Deployment", "web", "default")
        st = d.get("status") or {}
        if st.get("observedGeneration") != d["metadata"]["generation"]:
            return False
        pods = [
            p for p in census.informer.cache.list() if not p["metadata"].get("deletionTimestamp")
        ]
        return (
            st.get("updatedReplicas") == 4
            and st.get("replicas") == 4
            and st.get("availableReplicas") == 4
            and len(pods) == 4
            and all(p["spec"]["containers"][0]["image"] == image for p in pods)
        )

    census = PodCensus(cluster, "web")
    census.informer.start()
    await eventually(lambda: rolled("nginx:1.25"))
    start = len(census.samples)
    await client.patch(
        "Deployment",
        "web",
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}},
        namespace="default",
        patch_type="strategic",
    )
    await eventually(lambda: rolled("nginx:1.26"), timeout=30)
    await census.informer.stop()
    during = census.samples[start:]
    assert len(during) >= 8  # the rollout was seen step by step, not in one jump
    assert any(len(images) == 2 for _, _, images in during)  # old and new ran side by side
    # maxUnavailable=1: never fewer than 3 of 4 available; maxSurge=1: never more than 5 up.
    assert min(avail for _, avail, _ in during) >= 3, during
    assert max(up for up, _, _ in during) <= 5, during

    rss, _ = await client.list("ReplicaSet", "default")
    by_rev = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in rss}
    assert sorted(by_rev) == ["1", "2"]
    assert by_rev["1"]["spec"]["replicas"] == 0
    assert by_rev["2"]["spec"]["replicas"] == 4
    d = await client.get("Deployment", "web", "default")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


async def test_recreate_stops_every_old_pod_before_starting_new_ones(cluster: Cluster) -> None:
    await three_nodes(cluster)
    client = cluster.client
    await client.create(deployment("web", 3, image="nginx:1.25", type="Recreate"))
    census = PodCensus(cluster, "web")
    census.informer.start()

    async def all_on(image: str) -> bool:
        d = await client.get("Deployment", "web", "default")
        st = d.get("status") or {}
        pods = census.informer.cache.list()
        return (
            st.get("availableReplicas") == 3
            and st.get("updatedReplicas") == 3
            and len(pods) == 3
            and all(p["spec"]["containers"][0]["image"] == image for p in pods)
        )

    await eventually(lambda: all_on("nginx:1.25"))
    start = len(census.samples)
    await client.patch(
        "Deployment",
        "web",
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}},
        namespace="default",
        patch_type="strategic",
    )
    await eventually(lambda: all_on("nginx:1.26"))
    await census.informer.stop()
    during = census.samples[start:]
    assert all(len(images) <= 1 for _, _, images in during), during  # never both at once
    assert any(up == 0 for up, _, _ in during)  # everything old was gone first


@pytest.mark.kubectl
async def test_kubectl_rollout_status(cluster: Cluster, tmp_path: Path) -> None:
    await three_nodes(cluster)
    for node in cluster.nodes.values():
        node.ready_delay = 0.3
    await cluster.client.create(deployment("web", 3))
    home = tmp_path / "home"
    home.mkdir()
    argv = [
        "kubectl",
        "--kubeconfig",
        str(cluster.server.kubeconfig),
        "--cache-dir",
        str(tmp_path / "kube-cache"),
        "rollout",
        "status",
        "deployment/web",
        "--timeout=60s",
    ]
    env = {**os.environ, "HOME": str(home)}
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, (out.decode(), err.decode())
    assert 'deployment "web" successfully rolled out' in out.decode()

    # Again, across a new rollout: it waits for the update and then says so.
    await cluster.client.patch(
        "Deployment",
        "web",
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}},
        namespace="default",
        patch_type="strategic",
    )
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, (out.decode(), err.decode())
    assert 'deployment "web" successfully rolled out' in out.decode()
    rss, _ = await cluster.client.list("ReplicaSet", "default")
    assert sorted(rs["spec"]["replicas"] for rs in rss) == [0, 3]
