# ruff: noqa: E501  (wide rows of table-driven cases read best unwrapped)
"""EndpointSlices and Endpoints following pods; node lifecycle; node IPAM."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from _fakecluster import FAST, Cluster, eventually
from test_workloads import deployment, live_pods, three_nodes

from knet.client import ApiClient
from knet.controllers.manager import ManagerOptions, run_controllers

Obj = dict[str, Any]


async def slices_of(client: ApiClient, svc: str) -> list[Obj]:
    items, _ = await client.list(
        "EndpointSlice", "default", label_selector={"kubernetes.io/service-name": svc}
    )
    return items


def endpoint_states(slices: list[Obj]) -> dict[str, tuple[bool, bool, bool]]:
    """pod name -> (ready, serving, terminating)."""
    out = {}
    for sl in slices:
        for ep in sl["endpoints"]:
            c = ep["conditions"]
            out[ep["targetRef"]["name"]] = (c["ready"], c["serving"], c["terminating"])
    return out


async def test_endpointslices_follow_pod_readiness(cluster: Cluster) -> None:
    await three_nodes(cluster)
    client = cluster.client
    await client.create(deployment("web", 3))
    await client.create(
        {
            "kind": "Service",
            "metadata": {"name": "web", "labels": {"tier": "front"}},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        }
    )

    async def three_ready() -> bool:
        states = endpoint_states(await slices_of(client, "web"))
        return len(states) == 3 and all(s == (True, True, False) for s in states.values())

    await eventually(three_ready)
    (sl,) = await slices_of(client, "web")
    assert sl["addressType"] == "IPv4"
    # The named targetPort "http" resolved to the container's 8080.
    assert sl["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert sl["metadata"]["labels"]["tier"] == "front"
    assert sl["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == (
        "endpointslice-controller.k8s.io"
    )
    assert sl["metadata"]["ownerReferences"][0]["kind"] == "Service"
    pods = {p["metadata"]["name"]: p for p in await live_pods(client, "web")}
    for ep in sl["endpoints"]:
        pod = pods[ep["targetRef"]["name"]]
        assert ep["addresses"] == [pod["status"]["podIP"]]
        assert ep["nodeName"] == pod["spec"]["nodeName"]

    # The legacy Endpoints mirror it.
    ep_obj = await client.get("Endpoints", "web", "default")
    (subset,) = ep_obj["subsets"]
    assert sorted(a["ip"] for a in subset["addresses"]) == sorted(
        p["status"]["podIP"] for p in pods.values()
    )
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]

    # Every write carries the moment of the change it reflects, for kube-proxy's latency metric.
    trigger = "endpoints.kubernetes.io/last-change-trigger-time"
    assert sl["metadata"]["annotations"][trigger].endswith("Z")
    assert ep_obj["metadata"]["annotations"][trigger].endswith("Z")

    # A pod turning unready stays in the slice, not ready; it moves to notReadyAddresses.
    victim = sorted(pods)[0]
    pod = pods[victim]
    moved = "2031-02-03T04:05:06.5Z"  # when its Ready condition moved, as its kubelet says
    conditions = [
        {**c, "status": "False", "lastTransitionTime": moved} if c["type"] == "Ready" else c
        for c in pod["status"]["conditions"]
    ]
    await client.patch_status(
        "Pod", victim, {"status": {"conditions": conditions}}, namespace="default"
    )

    async def victim_unready() -> bool:
        states = endpoint_states(await slices_of(client, "web"))
        eps = await client.get("Endpoints", "web", "default")
        not_ready = [a["targetRef"]["name"] for a in eps["subsets"][0].get("notReadyAddresses", [])]
        return states.get(victim) == (False, False, False) and not_ready == [victim]

    await eventually(victim_unready)
    (sl,) = await slices_of(client, "web")
    assert sl["metadata"]["annotations"][trigger] == moved
    eps = await client.get("Endpoints", "web", "default")
    assert eps["metadata"]["annotations"][trigger] == moved

    # Scale to zero: the slice keeps no endpoints, the Endpoints no subsets.
    await client.patch("Deployment", "web", {"spec": {"replicas": 0}}, namespace="default")

    async def empty() -> bool:
        slices = await slices_of(client, "web")
        eps = await client.get("Endpoints", "web", "default")
        return len(slices) == 1 and not slices[0]["endpoints"] and not eps.get("subsets")

    await eventually(empty)


async def test_selectorless_service_is_left_alone(cluster: Cluster) -> None:
    cluster.start_controllers()
    client = cluster.client
    await client.create(
        {"kind": "Service", "metadata": {"name": "ext"}, "spec": {"ports": [{"port": 80}]}}
    )
    mine = {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": "ext-manual", "labels": {"kubernetes.io/service-name": "ext"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["192.0.2.10"]}],
        "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
    }
    await client.create(mine)
    # Give the loop every chance to (wrongly) act, then check nothing was touched.
    await client.create({"kind": "Service", "metadata": {"name": "probe"},
                         "spec": {"selector": {"app": "none"}, "ports": [{"port": 80}]}})  # fmt: skip

    async def probe_done() -> bool:
        return len(await slices_of(client, "probe")) == 1

    await eventually(probe_done)
    slices = await slices_of(client, "ext")
    assert [s["metadata"]["name"] for s in slices] == ["ext-manual"]
    assert slices[0]["endpoints"] == [{"addresses": ["192.0.2.10"]}]
    items, _ = await client.list("Endpoints", "default")
    assert "ext" not in {e["metadata"]["name"] for e in items}


async def test_dead_node_is_tainted_and_its_pods_move(cluster: Cluster) -> None:
    await three_nodes(cluster)
    client = cluster.client
    await client.create(deployment("web", 6))
    await client.create(
        {"kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    )  # fmt: skip

    async def six_available() -> bool:
        d = await client.get("Deployment", "web", "default")
        return (d.get("status") or {}).get("availableReplicas") == 6

    await eventually(six_available)
    dead = "kt-node-1"
    doomed = {p["metadata"]["name"] for p in await live_pods(client, "web")
              if p["spec"]["nodeName"] == dead}  # fmt: skip
    assert doomed
    await cluster.nodes[dead].stop()  # the kubelet dies: its lease is no longer renewed

    async def unknown_and_tainted() -> bool:
        node = await client.get("Node", dead)
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
        return ready["status"] == "Unknown" and taints == {
            ("node.kubernetes.io/unreachable", "NoSchedule"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
        }

    await eventually(unknown_and_tainted)
    node = await client.get("Node", dead)
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."

    # Its pods drop out of service (not ready), are evicted, and are replaced elsewhere.
    async def moved() -> bool:
        pods = await live_pods(client, "web")
        d = await client.get("Deployment", "web", "default")
        return (
            len(pods) == 6
            and all(p["spec"].get("nodeName") not in (None, dead) for p in pods)
            and (d.get("status") or {}).get("availableReplicas") == 6
        )

    await eventually(moved, timeout=30)
    pods, _ = await client.list("Pod", "default")
    for p in pods:
        if p["metadata"]["name"] in doomed:
            assert p["metadata"].get("deletionTimestamp"), "evicted pods are being deleted"
    states = endpoint_states(await slices_of(client, "web"))
    assert all(states[n] == (False, False, True) for n in doomed if n in states)
    ready_eps = [n for n, s in states.items() if s[0]]
    assert len(ready_eps) == 6 and not set(ready_eps) & doomed
    events, _ = await client.list("Event", "default", field_selector="reason=TaintManagerEviction")
    assert {e["involvedObject"]["name"] for e in events} >= doomed


async def test_node_ipam_gives_each_node_its_own_cidr(cluster: Cluster) -> None:
    client = cluster.client
    for i in range(3):
        await cluster.add_node(f"kt-node-{i}")
    cluster.start_controllers(FAST)

    async def cidrs() -> dict[str, str]:
        nodes, _ = await client.list("Node")
        return {n["metadata"]["name"]: (n.get("spec") or {}).get("podCIDR", "") for n in nodes}

    async def all_assigned() -> bool:
        return all((await cidrs()).values())

    await eventually(all_assigned)
    first = await cidrs()
    nets = [ipaddress.ip_network(c) for c in first.values()]
    assert all(
        n.prefixlen == 24 and n.subnet_of(ipaddress.ip_network("10.244.0.0/16")) for n in nets
    )
    assert len(set(nets)) == 3
    node = await client.get("Node", "kt-node-0")
    assert node["spec"]["podCIDRs"] == [node["spec"]["podCIDR"]]

    # A restarted controller-manager rebuilds from the Nodes: a new node gets a fresh CIDR.
    cluster.tasks[-1].cancel()
    await asyncio.sleep(0.1)
    cluster.tasks.append(asyncio.create_task(run_controllers(client, FAST)))
    await cluster.add_node("kt-node-3")
    await eventually(all_assigned)
    after = await cidrs()
    assert {k: v for k, v in after.items() if k != "kt-node-3"} == first
    assert after["kt-node-3"] not in first.values()

    # A deleted node's CIDR is released (the search moves on first, as upstream's, so fill up).
    small = ManagerOptions(
        controllers=("nodeipam",), cluster_cidr="10.99.0.0/23", allocate_node_cidrs=True,
        node_cidr_mask_size=24,
    )  # fmt: skip
    assert small.cluster_cidr is not None
    for t in cluster.tasks:
        t.cancel()
    for name in list(after):
        await client.delete("Node", name)
    cluster.tasks.append(asyncio.create_task(run_controllers(client, small)))
    for name in ("kt-a", "kt-b"):
        await client.create({"kind": "Node", "metadata": {"name": name}})
    await eventually(all_assigned)
    assert sorted((await cidrs()).values()) == ["10.99.0.0/24", "10.99.1.0/24"]
    await client.delete("Node", "kt-a")
    await client.create({"kind": "Node", "metadata": {"name": "kt-c"}})
    await eventually(all_assigned)
    got = await cidrs()
    assert got["kt-c"] != got["kt-b"]
