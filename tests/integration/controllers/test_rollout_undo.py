"""`kubectl rollout undo deployment/...` scales the old revision's ReplicaSet back up (it used to
make a new ReplicaSet with a new hash: kubectl's template has zero values the stored one lacks)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
from _fakecluster import Cluster, eventually
from test_workloads import deployment, three_nodes


@pytest.mark.kubectl
async def test_rollout_undo_reuses_the_old_replica_set(cluster: Cluster, tmp_path: Path) -> None:
    await three_nodes(cluster)
    client = cluster.client
    await client.create(deployment("web", 2, image="nginx:1.25"))

    async def rolled(image: str) -> bool:
        d = await client.get("Deployment", "web", "default")
        st = d.get("status") or {}
        rss, _ = await client.list("ReplicaSet", "default")
        live = [rs for rs in rss if rs["spec"].get("replicas")]
        return (
            st.get("observedGeneration") == d["metadata"]["generation"]
            and st.get("updatedReplicas") == 2
            and st.get("availableReplicas") == 2
            and len(live) == 1
            and live[0]["spec"]["template"]["spec"]["containers"][0]["image"] == image
        )

    await eventually(lambda: rolled("nginx:1.25"), timeout=30)
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}
    }
    await client.patch("Deployment", "web", patch, namespace="default", patch_type="strategic")
    await eventually(lambda: rolled("nginx:1.26"), timeout=30)
    before = {rs["metadata"]["name"] for rs in (await client.list("ReplicaSet", "default"))[0]}

    home = tmp_path / "home"
    home.mkdir()
    proc = await asyncio.create_subprocess_exec(
        "kubectl",
        "--kubeconfig",
        str(cluster.server.kubeconfig),
        "--cache-dir",
        str(tmp_path / "cache"),
        "rollout",
        "undo",
        "deployment/web",
        env={**os.environ, "HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, (out.decode(), err.decode())
    await eventually(lambda: rolled("nginx:1.25"), timeout=30)
    rss, _ = await client.list("ReplicaSet", "default")
    assert {rs["metadata"]["name"] for rs in rss} == before  # no third ReplicaSet
    back = next(rs for rs in rss if rs["spec"]["replicas"] == 2)
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
