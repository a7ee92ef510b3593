"""Probes on a real node: liveness restarts, readiness flips Ready, startup gates the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubelet_harness import (
    Node,
    condition,
    container_status,
    create_pod,
    get_pod,
    netexec,
    pod_manifest,
    wait_for,
    wait_running,
)

from knet.client import ApiClient

pytestmark = pytest.mark.root

FAST = {"periodSeconds": 1, "failureThreshold": 2, "timeoutSeconds": 1}
FLAGS_MOUNT = [{"name": "flags", "mountPath": "/tmp/flags"}]


def flags_volume(path: Path) -> list[dict[str, Any]]:
    return [{"name": "flags", "hostPath": {"path": str(path)}}]


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param({"httpGet": {"path": "/no-such-page", "port": 8080}}, id="httpGet-404"),
        pytest.param({"tcpSocket": {"port": 9999}}, id="tcpSocket-closed-port"),
        pytest.param({"exec": {"command": ["sh", "-c", "exit 3"]}}, id="exec-exit-3"),
    ],
)
async def test_failing_liveness_restarts_the_container(
    node: Node, client: ApiClient, handler: dict[str, Any]
) -> None:
    node.start_kubelet()
    web = netexec(livenessProbe={**handler, **FAST})
    pod = await create_pod(client, node, pod_manifest("live", node.name, [web]))
    uid = pod["metadata"]["uid"]

    async def restarted() -> dict[str, Any] | None:
        p = await get_pod(client, "live")
        if p is None or not p.get("status", {}).get("containerStatuses"):
            return None
        cs = container_status(p, "web")
        return cs if cs["restartCount"] >= 1 and cs["lastState"].get("terminated") else None

    cs = await wait_for("a liveness restart", restarted, timeout=30)
    last = cs["lastState"]["terminated"]
    assert last["exitCode"] != 0 and last["reason"] == "Error"
    assert cs["containerID"] != last["containerID"]

    items, _ = await client.list("Event", "default", field_selector=f"involvedObject.uid={uid}")
    reasons = {e["reason"]: e["message"] for e in items}
    assert reasons["Unhealthy"].startswith("Liveness probe failed")
    assert "failed liveness probe, will be restarted" in reasons["Killing"]


async def test_failing_readiness_turns_ready_false(
    node: Node, client: ApiClient, tmp_path: Path
) -> None:
    node.start_kubelet()
    flag = tmp_path / "ready"
    flag.write_text("yes")
    # Exec probes run in the container's own mount namespace: the flag reaches it in a volume.
    probe = {
        "exec": {"command": ["cat", "/tmp/flags/ready"]},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    web = netexec(readinessProbe=probe, volumeMounts=FLAGS_MOUNT)
    await create_pod(
        client, node, pod_manifest("ready", node.name, [web], volumes=flags_volume(tmp_path))
    )
    await wait_running(client, "ready")
    flag.unlink()

    async def unready() -> dict[str, Any] | None:
        p = await get_pod(client, "ready")
        return p if p is not None and condition(p, "Ready") == "False" else None

    pod = await unready_pod(unready)
    conds = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conds["ContainersReady"]["status"] == "False"
    assert conds["Ready"]["reason"] == "ContainersNotReady"
    assert conds["Ready"]["message"] == "containers with unready status: [web]"
    cs = container_status(pod, "web")
    assert cs["ready"] is False and "running" in cs["state"] and cs["restartCount"] == 0
    assert pod["status"]["phase"] == "Running"

    flag.write_text("again")
    await wait_running(client, "ready")


async def unready_pod(fn: Any) -> dict[str, Any]:
    got: dict[str, Any] = await wait_for("Ready to turn False", fn, timeout=20)
    return got


async def test_startup_probe_holds_back_readiness(
    node: Node, client: ApiClient, tmp_path: Path
) -> None:
    node.start_kubelet()
    flag = tmp_path / "started"
    startup = {
        "exec": {"command": ["cat", "/tmp/flags/started"]},
        "periodSeconds": 1,
        "failureThreshold": 60,
    }
    web = netexec(startupProbe=startup, volumeMounts=FLAGS_MOUNT)
    await create_pod(
        client, node, pod_manifest("slow", node.name, [web], volumes=flags_volume(tmp_path))
    )

    async def running_not_started() -> dict[str, Any] | None:
        p = await get_pod(client, "slow")
        if p is None or p["status"].get("phase") != "Running":
            return None
        return p

    pod = await wait_for("the container to run", running_not_started)
    cs = container_status(pod, "web")
    assert cs["started"] is False and cs["ready"] is False
    assert condition(pod, "Ready") == "False"
    flag.write_text("ok")
    pod = await wait_running(client, "slow")
    cs = container_status(pod, "web")
    assert cs["started"] is True and cs["ready"] is True and cs["restartCount"] == 0
