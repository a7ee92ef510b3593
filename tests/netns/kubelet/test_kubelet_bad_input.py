"""Bad input gets a clear reason in the pod's status, and kubelet-lite carries on."""

from __future__ import annotations

from typing import Any

import pytest
from kubelet_harness import (
    AGNHOST,
    NOTHING,
    Node,
    container_status,
    create_pod,
    get_pod,
    http_get,
    netexec,
    pod_manifest,
    wait_for,
    wait_gone,
    wait_running,
)

from knet.client import ApiClient
from knet.netlink.names import IFNAME_MAX

pytestmark = pytest.mark.root


async def status_where(
    client: ApiClient, pod: str, container: str, pred: Any, what: str
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        p = await get_pod(client, pod)
        if p is None or not (p.get("status") or {}).get("containerStatuses"):
            return None
        cs = container_status(p, container)
        return cs if pred(cs) else None

    got: dict[str, Any] = await wait_for(what, check, timeout=30)
    return got


async def test_invalid_command_reports_start_error_then_backs_off(
    node: Node, client: ApiClient
) -> None:
    node.start_kubelet()
    bad = {"name": "bad", "image": "busybox", "command": ["/no/such/program", "--flag"]}
    await create_pod(client, node, pod_manifest("badcmd", node.name, [bad]))
    cs = await status_where(
        client,
        "badcmd",
        "bad",
        lambda c: c["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff",
        "CrashLoopBackOff",
    )
    last = cs["lastState"]["terminated"]
    assert last["reason"] == "StartError" and last["exitCode"] == 128
    assert last["message"] == 'exec: "/no/such/program": no such file or directory'
    assert "back-off" in cs["state"]["waiting"]["message"]
    pod = await get_pod(client, "badcmd")
    assert pod is not None and pod["status"]["phase"] == "Running"


async def test_unknown_image_without_command(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    c = {"name": "app", "image": "example.com/team/app:1.0"}
    await create_pod(client, node, pod_manifest("noimage", node.name, [c]))
    cs = await status_where(
        client, "noimage", "app", lambda c: "waiting" in c["state"], "a waiting container"
    )
    waiting = cs["state"]["waiting"]
    assert waiting["reason"] == "ErrImagePull"
    assert 'image "example.com/team/app:1.0" not available: no registry here' in waiting["message"]
    pod = await get_pod(client, "noimage")
    assert pod is not None and pod["status"]["phase"] == "Pending"


async def test_missing_secret_for_env(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    c = netexec(env=[{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}])
    await create_pod(client, node, pod_manifest("secretive", node.name, [c]))
    cs = await status_where(
        client, "secretive", "web", lambda c: "waiting" in c["state"], "a waiting container"
    )
    assert cs["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    assert cs["state"]["waiting"]["message"] == 'secret "s" not found'


async def test_port_conflict_between_containers(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    second = {
        "name": "second",
        "image": AGNHOST,
        "args": ["netexec", "--http-port=8080", "--udp-port=9091"],
    }
    await create_pod(client, node, pod_manifest("clash", node.name, [netexec("first"), second]))
    cs = await status_where(
        client,
        "clash",
        "second",
        lambda c: c["lastState"].get("terminated") or c["state"].get("terminated"),
        "the second container to fail",
    )
    term = cs["lastState"].get("terminated") or cs["state"]["terminated"]
    assert term["exitCode"] == 1 and term["reason"] == "Error"
    assert "listen tcp :8080: bind: address already in use" in term["message"]
    first = await status_where(
        client, "clash", "first", lambda c: "running" in c["state"], "the first running"
    )
    assert first["restartCount"] == 0


async def test_long_and_unusual_pod_names(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    long_name = ("a" * 62 + "-") * 3 + "z" * 60  # 249 characters, a valid DNS subdomain
    dotted = "web.v1-2.example"
    for name in (long_name, dotted):
        await create_pod(client, node, pod_manifest(name, node.name, [netexec()]))
    for name, hostname in ((long_name, "a" * 62), (dotted, dotted)):
        pod = await wait_running(client, name)
        ns = node.pod_netns(pod["metadata"]["uid"])
        assert http_get(ns, f"http://{pod['status']['podIP']}:8080/hostname") == hostname
    left = await node.aleftovers()
    assert len(left["links"]) == 2 and all(len(x) <= IFNAME_MAX for x in left["links"])
    for name in (long_name, dotted):
        await client.delete("Pod", name, "default")
        await wait_gone(client, name)
    assert await node.aleftovers() == NOTHING
