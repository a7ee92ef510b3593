"""Deletion on a real node: graceful and forced, twice, with the namespace gone, while still
being created, after completion; and churn through the API leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
from kubelet_harness import (
    NOTHING,
    Node,
    container_status,
    create_pod,
    get_pod,
    netexec,
    pod_manifest,
    wait_for,
    wait_gone,
    wait_running,
)

from knet.client import ApiClient
from knet.netlink import netns

pytestmark = pytest.mark.root

STUBBORN = {
    "name": "stubborn",
    "image": "busybox",
    "command": ["sh", "-c", "trap '' TERM; while true; do sleep 0.2; done"],
}


async def test_graceful_delete_kills_after_the_grace_period(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    pod = await create_pod(
        client,
        node,
        pod_manifest("stubborn", node.name, [STUBBORN], terminationGracePeriodSeconds=1),
    )
    await wait_running(client, "stubborn")
    marked = await client.delete("Pod", "stubborn", "default")
    # Bound to a node: the API server only marks it; the kubelet finishes the job.
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 1
    await wait_gone(client, "stubborn")
    assert await node.aleftovers() == NOTHING

    async def killing_event() -> bool:
        items, _ = await client.list(
            "Event", "default", field_selector=f"involvedObject.uid={pod['metadata']['uid']}"
        )
        return any(e["reason"] == "Killing" for e in items)

    # Events wait their turn behind pod work and status writes (up to 2 s: agent.EVENT_MAX_DEFER),
    # so the pod can be gone a moment before its Killing event is written.
    await wait_for("a Killing event", killing_event, timeout=10)


async def test_force_delete_and_delete_twice(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    await create_pod(client, node, pod_manifest("forced", node.name, [netexec()]))
    await create_pod(client, node, pod_manifest("twice", node.name, [netexec()]))
    await wait_running(client, "forced")
    await wait_running(client, "twice")
    await client.delete("Pod", "forced", "default", grace_period_seconds=0)
    await client.delete("Pod", "twice", "default")
    await client.delete("Pod", "twice", "default")
    await wait_gone(client, "forced")
    await wait_gone(client, "twice")
    await wait_for("no leftovers", lambda: _clean(node))


async def _clean(node: Node) -> bool:
    return await node.aleftovers() == NOTHING


async def test_delete_after_the_pod_namespace_vanished(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    pod = await create_pod(client, node, pod_manifest("vanish", node.name, [netexec()]))
    await wait_running(client, "vanish")
    netns.remove(node.pod_netns(pod["metadata"]["uid"]))
    await client.delete("Pod", "vanish", "default")
    await wait_gone(client, "vanish")
    await wait_for("no leftovers", lambda: _clean(node))


async def test_delete_while_being_created(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    for i in range(5):
        await create_pod(client, node, pod_manifest(f"early-{i}", node.name, [netexec()]))
        await client.delete("Pod", f"early-{i}", "default")
    for i in range(5):
        await wait_gone(client, f"early-{i}")
    await wait_for("no leftovers", lambda: _clean(node))


async def test_completed_pod_releases_its_network_then_deletes_at_once(
    node: Node, client: ApiClient
) -> None:
    node.start_kubelet()
    job = {"name": "job", "image": "busybox", "command": ["sh", "-c", "echo done"]}
    await create_pod(client, node, pod_manifest("job", node.name, [job], restartPolicy="Never"))

    async def succeeded() -> dict[str, Any] | None:
        p = await get_pod(client, "job")
        return p if p is not None and p["status"].get("phase") == "Succeeded" else None

    pod = await wait_for("the pod to succeed", succeeded)
    cs = container_status(pod, "job")
    assert cs["state"]["terminated"]["exitCode"] == 0
    assert cs["state"]["terminated"]["reason"] == "Completed"
    assert {c["type"]: c.get("reason") for c in pod["status"]["conditions"]}["Ready"] == (
        "PodCompleted"
    )
    assert pod["status"]["podIP"]  # kept in the status, as Kubernetes does
    await wait_for("the network to be released", lambda: _clean(node))
    # A finished pod has nothing left to stop: the API server deletes it outright.
    await client.delete("Pod", "job", "default")
    assert await get_pod(client, "job") is None


@pytest.mark.slow
async def test_churn_leaves_nothing_behind(node: Node, client: ApiClient) -> None:
    """200 create/delete cycles through the API, 10 pods at a time."""
    node.start_kubelet()
    cycles, batch = 200, 10
    started = time.monotonic()

    async def cycle(i: int) -> None:
        name = f"churn-{i}"
        await create_pod(client, node, pod_manifest(name, node.name, [netexec()]))
        await wait_running(client, name, timeout=60)
        await client.delete("Pod", name, "default")
        await wait_gone(client, name, timeout=60)

    for first in range(0, cycles, batch):
        await asyncio.gather(*(cycle(i) for i in range(first, first + batch)))
    elapsed = time.monotonic() - started
    print(f"\nchurn: {cycles} create/delete cycles in {elapsed:.1f}s")
    await wait_for("no leftovers", lambda: _clean(node))
    assert len(node.uids) == cycles
    assert not list((node.root / "pods").iterdir())
    # The live zygote's record and its log server's: none left by earlier ones.
    [zygote] = node.live_zygotes()
    records = sorted(os.listdir(node.root / "runtime" / "zygotes"))
    assert records == [str(zygote), f"{zygote}.logs"]
