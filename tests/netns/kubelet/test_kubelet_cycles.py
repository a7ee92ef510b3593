"""Many create/delete cycles leak nothing: no process, namespace, link, address, cgroup, and no
mount on the node (KNET_CYCLES, default 200, in rounds of 10 pods at once)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from kubelet_harness import (
    NOTHING,
    Node,
    create_pod,
    netexec,
    pod_manifest,
    wait_gone,
    wait_running,
)

from knet.client import ApiClient

pytestmark = pytest.mark.root
ROUND = 10


def node_mounts() -> int:
    return sum(
        1
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4] in ("/tmp", "/run", "/proc", "/dev", "/etc/hosts", "/etc/resolv.conf")
    )


async def test_create_delete_cycles_leak_nothing(node: Node, client: ApiClient) -> None:
    cycles = int(os.environ.get("KNET_CYCLES", "200"))
    node.start_kubelet()
    before = node_mounts()
    for r in range(max(cycles // ROUND, 1)):
        names = [f"cycle-{r}-{i}" for i in range(ROUND)]
        vol = [{"name": "scratch", "emptyDir": {}}]
        web = netexec(volumeMounts=[{"name": "scratch", "mountPath": "/tmp/scratch"}])
        for name in names:
            await create_pod(client, node, pod_manifest(name, node.name, [web], volumes=vol))
        await asyncio.gather(*(wait_running(client, n, timeout=60) for n in names))
        for name in names:
            await client.delete("Pod", name, "default")
        await asyncio.gather(*(wait_gone(client, n, timeout=60) for n in names))
    assert await node.aleftovers() == NOTHING
    assert node_mounts() == before
    assert not any((node.root / "pods").iterdir())
