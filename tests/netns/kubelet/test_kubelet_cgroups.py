"""cgroups on a real node: a container over its memory limit is OOMKilled (137), its CPU limit
throttles it, and its groups are gone with the pod."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from kubelet_harness import (
    NOTHING,
    Node,
    container_output,
    create_pod,
    get_pod,
    pod_manifest,
    wait_for,
    wait_gone,
)

from knet.client import ApiClient
from kubelet_lite.runtime import cgroups

pytestmark = pytest.mark.root


@pytest.fixture
def driver() -> cgroups.Cgroups:
    d = cgroups.detect()
    if d is None:
        pytest.skip("no cgroup controllers on this machine")
    return d


async def terminated(client: ApiClient, name: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        pod = await get_pod(client, name)
        for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
            if "terminated" in cs.get("state", {}):
                return dict(cs["state"]["terminated"])
        return None

    return await wait_for(f"{name} to end", done)


async def test_over_its_memory_limit_is_oom_killed(
    node: Node, client: ApiClient, driver: cgroups.Cgroups
) -> None:
    node.start_kubelet()
    hog = {
        "name": "hog",
        "image": "python",
        "command": ["python3", "-c", "b = bytearray(256 * 2**20); import time; time.sleep(30)"],
        "resources": {"limits": {"memory": "48Mi"}},
    }
    pod = await create_pod(
        client, node, pod_manifest("oom", node.name, [hog], restartPolicy="Never")
    )
    uid = pod["metadata"]["uid"]
    node.uids.add(uid)
    state = await terminated(client, "oom")
    assert state["reason"] == "OOMKilled" and state["exitCode"] == 137, state
    pod = await client.get("Pod", "oom", "default")
    assert pod["status"]["qosClass"] == "Burstable"
    await client.delete("Pod", "oom", "default")
    await wait_gone(client, "oom")
    assert await node.aleftovers() == NOTHING
    assert not driver.pod_exists(uid)


async def test_cpu_limit_throttles(node: Node, client: ApiClient, driver: cgroups.Cgroups) -> None:
    node.start_kubelet()
    spin = {
        "name": "spin",
        "image": "busybox",
        "command": ["sh", "-c", "while :; do :; done"],
        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
    }
    pod = await create_pod(
        client,
        node,
        pod_manifest("cpu", node.name, [spin], terminationGracePeriodSeconds=1),
    )
    uid = pod["metadata"]["uid"]
    node.uids.add(uid)

    async def running() -> bool:
        p = await get_pod(client, "cpu")
        return bool(p and (p.get("status") or {}).get("phase") == "Running")

    await wait_for("the spinner to run", running)
    if driver.version == 1:
        cpu_dir = driver.container_dirs(uid, "spin")[0]
        assert (cpu_dir / "cpu.cfs_quota_us").read_text().strip() == "10000"
    else:
        [d] = driver.container_dirs(uid, "spin")
        assert (d / "cpu.max").read_text().split() == ["10000", "100000"]
    used0, _ = driver.usage(uid, "spin")
    t0 = time.monotonic()
    await asyncio.sleep(2.0)
    used1, mem = driver.usage(uid, "spin")
    wall = time.monotonic() - t0
    assert used0 is not None and used1 is not None and mem is not None and mem > 0
    # A tenth of a CPU (with slack for the period boundaries), where it would take a whole one.
    assert float(used1 - used0) <= 0.2 * wall, (used1 - used0, wall)
    assert float(used1 - used0) > 0.02 * wall
    await client.delete("Pod", "cpu", "default")
    await wait_gone(client, "cpu")
    assert await node.aleftovers() == NOTHING
    assert not driver.pod_exists(uid)


async def test_pids_limit(node: Node, client: ApiClient, driver: cgroups.Cgroups) -> None:
    node.start_kubelet("--pod-max-pids", "10")
    script = (
        "import os, time\n"
        "refused = 0\n"
        "for _ in range(30):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
        "    except BlockingIOError:\n"
        "        refused += 1\n"
        "print('refused', refused, flush=True)\n"
        "time.sleep(60)\n"
    )
    forker = {"name": "forker", "image": "python", "command": ["python3", "-c", script]}
    pod = await create_pod(
        client,
        node,
        pod_manifest("pids", node.name, [forker], terminationGracePeriodSeconds=1),
    )
    uid = pod["metadata"]["uid"]
    log = node.root / "pods" / uid / "logs" / "forker" / "0.log"

    async def forked() -> str | None:
        text = container_output(log)
        return text if "refused" in text else None

    text = await wait_for("the forks", forked)
    # 30 forks asked, at most 10 processes (relay and python among them) allowed.
    assert int(text.split()[1]) >= 20
    pids_dir = driver.pod_dirs(uid)[-1]  # the limit is the pod's, as the kubelet's
    assert pids_dir.parent.name == "besteffort"  # the pod's QoS tier, as the kubelet's
    assert (pids_dir / "pids.max").read_text().strip() == "10"
    assert int((pids_dir / "pids.current").read_text()) <= 10
    await client.delete("Pod", "pids", "default")
    await wait_gone(client, "pids")
    assert await node.aleftovers() == NOTHING
