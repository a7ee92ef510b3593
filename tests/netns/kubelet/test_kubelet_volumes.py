"""ConfigMaps, Secrets and the downward API consumed by real pods on a real node: as files
(configMap, secret, downwardAPI, projected volumes; an update reaching the files, not a
subPath mount), as env (valueFrom, envFrom, $(VAR)); emptyDir on a tmpfs; hostPath types;
fsGroup; a missing reference waiting (CreateContainerConfigError, FailedMount) until it
appears. Nothing is left on the node after."""

from __future__ import annotations

import base64
import signal
from pathlib import Path
from typing import Any

import pytest
from kubelet_harness import (
    NOTHING,
    Node,
    container_output,
    container_status,
    create_pod,
    get_pod,
    pod_manifest,
    wait_for,
    wait_gone,
    wait_running,
)

from knet.client import ApiClient
from knet.machines.mounts import parse_mount_points as mount_points

pytestmark = pytest.mark.root

END = "--end--"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def node_mounts(tmp_path: Path) -> list[str]:
    return [p for p in mount_points(Path("/proc/self/mountinfo").read_text()) if str(tmp_path) in p]


def log_of(node: Node, uid: str, name: str) -> Path:
    return node.root / "pods" / uid / "logs" / name / "0.log"


async def until_in_log(node: Node, uid: str, name: str, text: str, timeout: float = 30) -> str:
    async def seen() -> str | None:
        out = container_output(log_of(node, uid, name))
        return out if text in out else None

    return await wait_for(f"{text!r} in the log of {name}", seen, timeout)


async def events(client: ApiClient, reason: str) -> list[str]:
    items, _ = await client.list("Event", "default")
    return [e.get("message", "") for e in items if e.get("reason") == reason]


async def running(client: ApiClient, name: str) -> None:
    """wait_running; on a time-out, the pod's status and the events are in the output."""
    try:
        await wait_running(client, name)
    except AssertionError:
        print((await client.get("Pod", name, "default"))["status"])
        items, _ = await client.list("Event", "default")
        print([(e["reason"], e["message"]) for e in items])
        raise


SCRIPT = "; ".join(
    [
        "cat /tmp/cfg/mode; echo",
        "cat /tmp/cfg/nested/app.conf; echo",
        "cat /tmp/one.conf; echo",
        "cat /tmp/sec/user; echo",
        "stat -c '%a %g' /tmp/sec/..data/user",
        "cat /tmp/down/labels; echo",
        "cat /tmp/down/name; echo",
        "cat /tmp/proj/mode /tmp/proj/pass; echo",
        "echo env $APP_mode $PASSWORD $NS $ARG",
        "touch /tmp/cfg/x 2>/dev/null && echo cfg-writable || echo cfg-read-only",
        "grep -c ' /tmp/mem tmpfs ' /proc/mounts",
        "stat -c '%a %g' /tmp/mem",
        "id -G",
        f"echo {END}",
        "while true; do echo now=$(cat /tmp/cfg/mode) sub=$(cat /tmp/one.conf); sleep 0.5; done",
    ]
)


def app_pod(node: Node, host_dir: Path) -> dict[str, Any]:
    c = {
        "name": "c",
        "image": "busybox",
        "command": ["sh", "-c", SCRIPT, "$(MODE_ARG)"],
        "envFrom": [{"configMapRef": {"name": "app"}, "prefix": "APP_"}],
        "env": [
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "pass"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "MODE_ARG", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "mode"}}},
            {"name": "ARG", "value": "x-$(MODE_ARG)"},
        ],
        "volumeMounts": [
            {"name": "cfg", "mountPath": "/tmp/cfg"},
            {"name": "cfg", "mountPath": "/tmp/one.conf", "subPath": "mode"},
            {"name": "sec", "mountPath": "/tmp/sec"},
            {"name": "down", "mountPath": "/tmp/down"},
            {"name": "proj", "mountPath": "/tmp/proj"},
            {"name": "mem", "mountPath": "/tmp/mem"},
            {"name": "hp", "mountPath": "/tmp/hp"},
        ],
    }
    return pod_manifest(
        "vols",
        node.name,
        [c],
        terminationGracePeriodSeconds=1,
        securityContext={"fsGroup": 4321},
        volumes=[
            {
                "name": "cfg",
                "configMap": {
                    "name": "app",
                    "items": [
                        {"key": "mode", "path": "mode"},
                        {"key": "conf", "path": "nested/app.conf"},
                    ],
                },
            },
            {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o400}},
            {
                "name": "down",
                "downwardAPI": {
                    "items": [
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                    ]
                },
            },
            {
                "name": "proj",
                "projected": {
                    "sources": [
                        {"configMap": {"name": "app", "items": [{"key": "mode", "path": "mode"}]}},
                        {"secret": {"name": "creds", "items": [{"key": "pass", "path": "pass"}]}},
                    ]
                },
            },
            {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "4Mi"}},
            {"name": "hp", "hostPath": {"path": str(host_dir), "type": "DirectoryOrCreate"}},
        ],
    )


async def test_configmap_secret_downward_volumes_and_env(
    node: Node, client: ApiClient, tmp_path: Path
) -> None:
    node.start_kubelet()
    await client.create(
        {"kind": "ConfigMap", "metadata": {"name": "app"}, "data": {"mode": "fast", "conf": "a=1"}},
        "default",
    )
    await client.create(
        {
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "data": {"user": b64("admin"), "pass": b64("pw")},
        },
        "default",
    )
    manifest = app_pod(node, tmp_path / "made-by-kubelet")
    manifest["metadata"]["labels"] = {"app": "vols"}
    pod = await create_pod(client, node, manifest)
    uid = pod["metadata"]["uid"]
    await running(client, "vols")
    out = await until_in_log(node, uid, "c", END)
    lines = out.split(END)[0].splitlines()
    # defaultMode 0400, and fsGroup adds group read (as the kubelet does)
    assert lines[:6] == ["fast", "a=1", "fast", "admin", "440 4321", 'app="vols"']
    assert lines[6:9] == ["vols", "fastpw", "env fast pw default x-fast"]
    assert lines[9] == "cfg-read-only"
    assert lines[10] == "1"  # /tmp/mem is a tmpfs
    assert lines[11] == "2777 4321"  # fsGroup: the group's, setgid
    assert "4321" in lines[12].split()
    assert (tmp_path / "made-by-kubelet").is_dir()
    assert node_mounts(tmp_path), "the secret and Memory volumes are tmpfs on the node"

    cm = await client.get("ConfigMap", "app", "default")
    cm["data"]["mode"] = "slow"
    await client.replace(cm)
    # The files follow within the refresh period (10 s); the subPath mount does not.
    updated = await until_in_log(node, uid, "c", "now=slow", timeout=25)
    assert "now=slow sub=fast" in updated

    await client.delete("Pod", "vols", "default")
    await wait_gone(client, "vols")
    assert await node.aleftovers() == NOTHING
    assert node_mounts(tmp_path) == []


async def test_missing_references_wait_until_they_appear(
    node: Node, client: ApiClient, tmp_path: Path
) -> None:
    node.start_kubelet()
    env_pod = pod_manifest(
        "late-env",
        node.name,
        [
            {
                "name": "c",
                "image": "busybox",
                "command": ["sh", "-c", "echo got $K; exec sleep 3600"],
                "env": [
                    {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "late", "key": "k"}}}
                ],
            }
        ],
        terminationGracePeriodSeconds=1,
    )
    vol_pod = pod_manifest(
        "late-vol",
        node.name,
        [
            {
                "name": "c",
                "image": "busybox",
                "command": ["sleep", "3600"],
                "volumeMounts": [{"name": "s", "mountPath": "/tmp/s"}],
            }
        ],
        terminationGracePeriodSeconds=1,
        volumes=[{"name": "s", "secret": {"secretName": "late-secret"}}],
    )
    host_pod = pod_manifest(
        "bad-host",
        node.name,
        [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}],
        terminationGracePeriodSeconds=1,
        volumes=[{"name": "h", "hostPath": {"path": str(tmp_path / "nope"), "type": "Directory"}}],
    )
    for m in (env_pod, vol_pod, host_pod):
        await create_pod(client, node, m)

    async def config_error() -> dict[str, Any] | None:
        pod = await get_pod(client, "late-env")
        st = (
            container_status(pod, "c")
            if pod and pod.get("status", {}).get("containerStatuses")
            else {}
        )
        waiting = (st.get("state") or {}).get("waiting") or {}
        return waiting if waiting.get("reason") == "CreateContainerConfigError" else None

    waiting = await wait_for("CreateContainerConfigError", config_error)
    assert waiting["message"] == 'configmap "late" not found'

    async def failed_mounts() -> list[str] | None:
        found = await events(client, "FailedMount")
        want = [
            'MountVolume.SetUp failed for volume "s" : secret "late-secret" not found',
            f'MountVolume.SetUp failed for volume "h" : hostPath type check failed: '
            f"{tmp_path / 'nope'} is not a directory",
        ]
        return found if all(w in found for w in want) else None

    await wait_for("FailedMount events", failed_mounts)
    for name in ("late-vol", "bad-host"):
        pod = await get_pod(client, name)
        assert pod is not None and pod["status"].get("phase") == "Pending"

    await client.create(
        {"kind": "ConfigMap", "metadata": {"name": "late"}, "data": {"k": "v"}}, "default"
    )
    await client.create(
        {"kind": "Secret", "metadata": {"name": "late-secret"}, "data": {"a": b64("b")}}, "default"
    )
    (tmp_path / "nope").mkdir()
    for name in ("late-env", "late-vol", "bad-host"):
        await running(client, name)
    env_uid = (await client.get("Pod", "late-env", "default"))["metadata"]["uid"]
    await until_in_log(node, env_uid, "c", "got v")
    for name in ("late-env", "late-vol", "bad-host"):
        await client.delete("Pod", name, "default")
    for name in ("late-env", "late-vol", "bad-host"):
        await wait_gone(client, name)
    assert await node.aleftovers() == NOTHING
    assert node_mounts(tmp_path) == []


async def test_kill_9_leaves_no_volume_mounts(
    node: Node, client: ApiClient, tmp_path: Path
) -> None:
    """kubelet-lite killed while a pod has memory-backed volumes; the pod deleted meanwhile;
    the next kubelet-lite's start-up clean-up unmounts them with the pod's directory."""
    first = node.start_kubelet()
    await client.create(
        {"kind": "Secret", "metadata": {"name": "k9"}, "data": {"a": b64("b")}}, "default"
    )
    c = {
        "name": "c",
        "image": "busybox",
        "command": ["sleep", "3600"],
        "volumeMounts": [
            {"name": "s", "mountPath": "/tmp/s"},
            {"name": "m", "mountPath": "/tmp/m"},
        ],
    }
    manifest = pod_manifest(
        "k9",
        node.name,
        [c],
        terminationGracePeriodSeconds=1,
        volumes=[
            {"name": "s", "secret": {"secretName": "k9"}},
            {"name": "m", "emptyDir": {"medium": "Memory"}},
        ],
    )
    await create_pod(client, node, manifest)
    await running(client, "k9")
    assert len(node_mounts(tmp_path)) == 2
    node.stop_kubelet(first, signal.SIGKILL)
    await client.delete("Pod", "k9", "default", grace_period_seconds=0)
    node.start_kubelet()

    async def cleaned() -> bool:
        return node_mounts(tmp_path) == [] and await node.aleftovers() == NOTHING

    await wait_for("the start-up clean-up to remove the pod and its mounts", cleaned)
