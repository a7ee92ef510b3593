"""The pod sandbox on a real node: a pause process holds the pod's net/IPC/UTS namespaces, each
container joins them and is PID 1 of its own PID namespace, or shares pause's PID namespace."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from kubelet_harness import (
    NOTHING,
    Node,
    container_output,
    create_pod,
    pod_manifest,
    wait_for,
    wait_gone,
    wait_running,
)

from knet.client import ApiClient
from kubelet_lite.runtime import procfs
from kubelet_lite.status.checkpoint import StateStore

pytestmark = pytest.mark.root


def recorded_pid(node: Node, uid: str, container: str) -> int:
    """The live recorded process of ``container`` (pause is ``POD``)."""
    for pd, cp in StateStore(node.root / "pods").all():
        if cp is None or cp.uid != uid:
            continue
        latest = (pd.attempts().get(container) or [])[-1]
        assert latest.process is not None
        return latest.process.pid
    raise AssertionError(f"no records for pod {uid}")


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def ns_id(pid: int, kind: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def ns_pids(pid: int) -> list[int]:
    """The process's pid in each PID namespace it is in, the node's first (NSpid)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(p) for p in line.split()[1:]]
    raise AssertionError(f"no NSpid for {pid}")


async def logged(node: Node, uid: str, name: str, lines: int) -> list[str]:
    log = node.root / "pods" / uid / "logs" / name / "0.log"

    async def enough() -> list[str] | None:
        text = container_output(log)
        return text.splitlines() if text.count("\n") >= lines else None

    return await wait_for(f"{lines} lines from {name}", enough)


def shell(name: str, script: str) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script]}


async def test_containers_join_pause_and_are_pid_1(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    script = "echo pid=$$$$; hostname; exec sleep 3600"
    pod = await create_pod(
        client,
        node,
        pod_manifest(
            "pidns",
            node.name,
            [shell("a", script), shell("b", script)],
            terminationGracePeriodSeconds=1,
        ),
    )
    uid = pod["metadata"]["uid"]
    node.uids.add(uid)
    await wait_running(client, "pidns")
    for name in ("a", "b"):
        assert (await logged(node, uid, name, 2))[:2] == ["pid=1", "pidns"]
    pause = recorded_pid(node, uid, "POD")
    # The recorded process is the container itself, PID 1 of its namespace: nothing between
    # the zygote and it.
    a, b = (recorded_pid(node, uid, n) for n in ("a", "b"))
    assert ns_pids(a) == [a, 1] and ns_pids(b) == [b, 1]
    for kind in ("net", "ipc", "uts"):
        assert ns_id(a, kind) == ns_id(b, kind) == ns_id(pause, kind), kind
        assert ns_id(a, kind) != ns_id(os.getpid(), kind), kind
    # Each container has its own PID namespace, neither the node's nor pause's.
    assert len({ns_id(a, "pid"), ns_id(b, "pid"), ns_id(pause, "pid")}) == 3
    assert ns_id(pause, "pid") == ns_id(os.getpid(), "pid")

    await client.delete("Pod", "pidns", "default")
    await wait_gone(client, "pidns")
    assert await node.aleftovers() == NOTHING
    assert (st := procfs.read_stat(pause)) is None or st.state == "Z"


async def test_share_process_namespace_with_pause_as_init(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    # The subshell's sleep is orphaned at once: pause (the namespace's init) must reap it.
    orphaning = "echo pid=$$$$; (sleep 0.2 &); exec sleep 3600"
    pod = await create_pod(
        client,
        node,
        pod_manifest(
            "shared",
            node.name,
            [shell("a", orphaning), shell("b", "echo pid=$$$$; exec sleep 3600")],
            shareProcessNamespace=True,
            terminationGracePeriodSeconds=1,
        ),
    )
    uid = pod["metadata"]["uid"]
    node.uids.add(uid)
    await wait_running(client, "shared")
    pids = {(await logged(node, uid, n, 1))[0] for n in ("a", "b")}
    assert "pid=1" not in pids and len(pids) == 2, pids
    pause_init = recorded_pid(node, uid, "POD")
    assert ns_pids(pause_init) == [pause_init, 1]
    a, b = (recorded_pid(node, uid, n) for n in ("a", "b"))
    assert ns_id(a, "pid") == ns_id(b, "pid") == ns_id(pause_init, "pid")
    assert ns_id(a, "pid") != ns_id(os.getpid(), "pid")

    async def reaped() -> bool:
        kids = children(pause_init)
        states = [st.state for p in kids if (st := procfs.read_stat(p)) is not None]
        return not kids and not states

    await asyncio.sleep(0.5)
    assert await wait_for("pause to reap the orphan", reaped, timeout=5)

    await client.delete("Pod", "shared", "default")
    await wait_gone(client, "shared")
    assert await node.aleftovers() == NOTHING


async def test_host_pid_and_host_ipc(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    pod = await create_pod(
        client,
        node,
        pod_manifest(
            "hostns",
            node.name,
            [shell("a", "echo pid=$$$$; exec sleep 3600")],
            hostPID=True,
            hostIPC=True,
            terminationGracePeriodSeconds=1,
        ),
    )
    uid = pod["metadata"]["uid"]
    await wait_running(client, "hostns")
    # The recorded process is the container's, in the node's PID namespace.
    a = recorded_pid(node, uid, "a")
    assert (await logged(node, uid, "a", 1))[0] == f"pid={a}"
    pause = recorded_pid(node, uid, "POD")
    for kind in ("pid", "ipc"):
        assert ns_id(a, kind) == ns_id(pause, kind) == ns_id(os.getpid(), kind), kind
    assert ns_id(a, "net") == ns_id(pause, "net") != ns_id(os.getpid(), "net")
    await client.delete("Pod", "hostns", "default")
    await wait_gone(client, "hostns")
    assert await node.aleftovers() == NOTHING
