"""The node's own behaviour: podCIDR from the control plane, hostNetwork pods, the Lease
heartbeat, and changes to a running pod's spec (image, activeDeadlineSeconds)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest
from kubelet_harness import (
    AGNHOST,
    Node,
    container_status,
    create_pod,
    get_pod,
    http_get,
    netexec,
    pod_manifest,
    wait_for,
    wait_running,
)

from knet.client import ApiClient

pytestmark = pytest.mark.root


async def test_pod_cidr_from_the_control_plane(node: Node, client: ApiClient) -> None:
    node.pod_cidr = ""  # no --pod-cidr: kubelet-lite waits for Node.spec.podCIDR
    node.start_kubelet()

    async def registered() -> dict[str, Any] | None:
        try:
            return await client.get("Node", node.name)
        except Exception:
            return None

    n = await wait_for("the node to register", registered)
    assert not n["spec"].get("podCIDR")
    ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "pod CIDR" in ready["message"]
    await client.patch(
        "Node", node.name, {"spec": {"podCIDR": "10.244.7.0/24", "podCIDRs": ["10.244.7.0/24"]}}
    )
    await create_pod(client, node, pod_manifest("late", node.name, [netexec()]))
    pod = await wait_running(client, "late")
    assert IPv4Address(pod["status"]["podIP"]) in IPv4Network("10.244.7.0/24")


async def test_host_network_pod_runs_in_the_node_namespace(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    host = netexec("host", args=["netexec", "--http-port=8090", "--udp-port=8091"])
    await create_pod(client, node, pod_manifest("on-host", node.name, [host], hostNetwork=True))
    pod = await create_pod(client, node, pod_manifest("client", node.name, [netexec()]))
    on_host = await wait_running(client, "on-host")
    await wait_running(client, "client")
    assert on_host["status"]["podIP"] == node.node_ip
    assert node.pod_namespaces() == [node.pod_netns(pod["metadata"]["uid"])]  # no sandbox
    # The bridge address is the node's: a pod reaches the hostNetwork server there, and it
    # answers with the node's name, as a hostNetwork pod shares the node's hostname.
    got = http_get(node.pod_netns(pod["metadata"]["uid"]), "http://10.244.1.1:8090/hostname")
    assert got == node.name


async def test_lease_is_renewed(node: Node, client: ApiClient) -> None:
    node.start_kubelet("--node-lease-duration-seconds", "2")

    async def lease() -> dict[str, Any] | None:
        try:
            return await client.get("Lease", node.name, "kube-node-lease")
        except Exception:
            return None

    first = await wait_for("the lease", lease)
    assert first["spec"]["leaseDurationSeconds"] == 2
    assert first["metadata"]["ownerReferences"][0]["kind"] == "Node"

    async def renewed() -> dict[str, Any] | None:
        got = await lease()
        return got if got and got["spec"]["renewTime"] != first["spec"]["renewTime"] else None

    await wait_for("a renewal", renewed, timeout=10)


async def test_changed_image_restarts_the_container(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    await create_pod(client, node, pod_manifest("upgrade", node.name, [netexec()]))
    await wait_running(client, "upgrade")
    newer = AGNHOST.replace("2.47", "2.53")
    await client.patch(
        "Pod",
        "upgrade",
        {"spec": {"containers": [{"name": "web", "image": newer}]}},
        namespace="default",
        patch_type="strategic",
    )

    async def restarted() -> dict[str, Any] | None:
        p = await get_pod(client, "upgrade")
        if p is None:
            return None
        cs = container_status(p, "web")
        return cs if cs["image"] == newer and "running" in cs["state"] else None

    cs = await wait_for("the container to run the new image", restarted)
    assert cs["restartCount"] == 1


async def test_active_deadline_fails_the_pod(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    await create_pod(
        client,
        node,
        pod_manifest("deadline", node.name, [netexec()], activeDeadlineSeconds=2),
    )

    async def failed() -> dict[str, Any] | None:
        p = await get_pod(client, "deadline")
        return p if p is not None and p["status"].get("phase") == "Failed" else None

    pod = await wait_for("the deadline", failed, timeout=20)
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert "terminated" in container_status(pod, "web")["state"]
    assert node.pod_namespaces() == []  # the sandbox is gone with the pod's end
