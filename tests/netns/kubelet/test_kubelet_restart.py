"""Restart safety: kill -9 of kubelet-lite at each step of creating (and deleting) a pod, then a
restart; and a clean restart that adopts running pods and removes the ones deleted meanwhile."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest
from kubelet_harness import (
    NOTHING,
    Node,
    container_status,
    create_pod,
    http_get,
    netexec,
    pod_manifest,
    wait_for,
    wait_gone,
    wait_running,
)

from knet.client import ApiClient
from kubelet_lite.failpoints import ENV as FAILPOINTS
from kubelet_lite.runtime import procfs
from kubelet_lite.status.checkpoint import StateStore

pytestmark = pytest.mark.root


# A one-container pod runs: its pause and the container's process (PID 1 of its own PID
# namespace); the zygote's log server writes every container's output (pause has none).
PROCESSES_PER_POD = 2


def attempts(node: Node, uid: str) -> dict[str, list[int]]:
    pd = StateStore(node.root / "pods").pod(uid)
    return {name: [a.number for a in runs] for name, runs in pd.attempts().items()}


async def died(proc: subprocess.Popen[bytes]) -> int:
    async def exited() -> tuple[int] | None:
        code = proc.poll()
        return None if code is None else (code,)

    return (await wait_for("kubelet-lite to die at the failpoint", exited, timeout=30))[0]


@pytest.mark.parametrize(
    "failpoint",
    ["before-sandbox-add", "after-sandbox-add", "after-sandbox-ready", "spawn-sent", "after-spawn"],
)
async def test_crash_mid_create_then_restart(node: Node, client: ApiClient, failpoint: str) -> None:
    first = node.start_kubelet(env={FAILPOINTS: failpoint})
    pod = await create_pod(client, node, pod_manifest("crashy", node.name, [netexec()]))
    uid = pod["metadata"]["uid"]
    assert await died(first) == -signal.SIGKILL

    node.start_kubelet()
    pod = await wait_running(client, "crashy")
    cs = container_status(pod, "web")
    # Exactly once: one run of the container, one namespace, one veth, one IP, one process.
    assert cs["restartCount"] == 0
    assert attempts(node, uid) == {"POD": [0], "web": [0]}
    left = await node.aleftovers()
    assert left["namespaces"] == [node.pod_netns(uid)]
    assert len(left["links"]) == 1 and left["ip_files"] == [pod["status"]["podIP"]]
    assert len(left["processes"]) == PROCESSES_PER_POD
    assert http_get(node.pod_netns(uid), f"http://{pod['status']['podIP']}:8080/hostname") == (
        "crashy"
    )

    await client.delete("Pod", "crashy", "default")
    await wait_gone(client, "crashy")
    assert await node.aleftovers() == NOTHING


async def test_crash_mid_delete_then_restart(node: Node, client: ApiClient) -> None:
    first = node.start_kubelet(env={FAILPOINTS: "before-delete-pod"})
    await create_pod(client, node, pod_manifest("doomed", node.name, [netexec()]))
    await wait_running(client, "doomed")
    await client.delete("Pod", "doomed", "default")
    assert await died(first) == -signal.SIGKILL
    node.start_kubelet()
    await wait_gone(client, "doomed")
    assert await node.aleftovers() == NOTHING


async def test_restart_adopts_running_pods_and_removes_deleted_ones(
    node: Node, client: ApiClient
) -> None:
    first = node.start_kubelet()
    keep = await create_pod(client, node, pod_manifest("keep", node.name, [netexec()]))
    await create_pod(client, node, pod_manifest("gone", node.name, [netexec()]))
    await wait_running(client, "keep")
    await wait_running(client, "gone")
    before = attempts(node, keep["metadata"]["uid"])
    assert node.stop_kubelet(first) == 0
    # The pods keep running while the kubelet is away...
    assert len((await node.aleftovers())["processes"]) == 2 * PROCESSES_PER_POD
    # ...and one of them is deleted for good meanwhile (grace 0: no kubelet to finish it).
    await client.delete("Pod", "gone", "default", grace_period_seconds=0)

    node.start_kubelet()

    async def cleaned() -> bool:
        left = await node.aleftovers()
        return (
            left["namespaces"] == [node.pod_netns(keep["metadata"]["uid"])]
            and len(left["processes"]) == PROCESSES_PER_POD
        )

    await wait_for("the deleted pod's sandbox and process to go", cleaned)
    pod = await wait_running(client, "keep")
    assert container_status(pod, "web")["restartCount"] == 0
    assert attempts(node, keep["metadata"]["uid"]) == before  # adopted, not restarted
    left = await node.aleftovers()
    assert left["ip_files"] == [pod["status"]["podIP"]]

    await client.delete("Pod", "keep", "default")
    await wait_gone(client, "keep")
    await asyncio.sleep(0)
    assert await node.aleftovers() == NOTHING


async def test_runtime_restarts_after_its_zygote_dies(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    await create_pod(client, node, pod_manifest("before", node.name, [netexec()]))
    await wait_running(client, "before")
    [zygote] = node.live_zygotes()
    os.kill(zygote, signal.SIGKILL)

    async def new_zygote() -> list[int] | None:
        live = node.live_zygotes()
        return live if live and zygote not in live else None

    await wait_for("a new zygote", new_zygote)
    await create_pod(client, node, pod_manifest("after", node.name, [netexec()]))
    await wait_running(client, "after")
    pod = await wait_running(client, "before")  # its container outlived the zygote
    assert container_status(pod, "web")["restartCount"] == 0
    for name in ("before", "after"):
        await client.delete("Pod", name, "default")
        await wait_gone(client, name)
    assert await node.aleftovers() == NOTHING


async def test_a_dead_sandbox_worker_is_replaced(node: Node, client: ApiClient) -> None:
    kubelet = node.start_kubelet()
    await create_pod(client, node, pod_manifest("first", node.name, [netexec()]))
    await wait_running(client, "first")
    workers = [
        st.pid
        for pid in os.listdir("/proc")
        if pid.isdigit()
        and (st := procfs.read_stat(int(pid))) is not None
        and st.ppid == kubelet.pid
        and b"kubelet_lite.network.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert workers, "kubelet-lite has no sandbox worker processes"
    os.kill(workers[0], signal.SIGKILL)
    await create_pod(client, node, pod_manifest("second", node.name, [netexec()]))
    await wait_running(client, "second")
    assert kubelet.poll() is None
