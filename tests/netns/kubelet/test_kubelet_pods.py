"""Pods on a real node: addresses, routes, reachability, hostnames, status, events, the Node."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
from kubelet_harness import (
    NOTHING,
    Node,
    container_status,
    create_pod,
    http_get,
    netexec,
    pod_manifest,
    run_in,
    wait_for,
    wait_gone,
    wait_running,
)

from knet.client import ApiClient
from knet.netlink import routes
from knet.netlink.session import open_session
from kubelet_lite.runtime import logs

pytestmark = pytest.mark.root

GATEWAY = IPv4Address("10.244.1.1")


def default_routes(ns: str) -> list[routes.Route]:
    # pyroute2's blocking API refuses to run inside an event loop's thread.
    with open_session(ns) as s:
        return [r for r in routes.list_routes(s) if r.dst == routes.DEFAULT]


async def test_two_pods_reach_each_other(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    await create_pod(client, node, pod_manifest("pod-a", node.name, [netexec()]))
    await create_pod(client, node, pod_manifest("pod-b", node.name, [netexec()]))
    a = await wait_running(client, "pod-a")
    b = await wait_running(client, "pod-b")

    ips = {}
    for pod in (a, b):
        st = pod["status"]
        ip = IPv4Address(st["podIP"])
        assert ip in IPv4Network(node.pod_cidr) and ip != GATEWAY
        assert st["podIPs"] == [{"ip": st["podIP"]}]
        assert st["hostIP"] == node.node_ip and st["hostIPs"] == [{"ip": node.node_ip}]
        ns = node.pod_netns(pod["metadata"]["uid"])
        default = await asyncio.to_thread(default_routes, ns)
        assert [r.gateway for r in default] == [GATEWAY]
        ips[pod["metadata"]["name"]] = (ns, st["podIP"])
    assert ips["pod-a"][1] != ips["pod-b"][1]

    for src, dst in (("pod-a", "pod-b"), ("pod-b", "pod-a")):
        ns, _ = ips[src]
        _, ip = ips[dst]
        r = run_in(ns, ["ping", "-c1", "-W2", ip])
        assert r.returncode == 0, r.stdout + r.stderr
        # netexec answers with its hostname, which is its pod's name.
        assert http_get(ns, f"http://{ip}:8080/hostname") == dst
        assert http_get(ns, f"http://{ip}:8080/echo?msg=hi") == "hi"
        assert http_get(ns, f"http://{ip}:8080/clientip").startswith(ips[src][1] + ":")


async def test_hostname_is_the_pod_name_and_logs_are_kept(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    name = "hostname-check"
    shell = {
        "name": "sh",
        "image": "busybox",
        "command": ["sh", "-c", "hostname; echo $(MSG) $HOSTNAME; sleep 3600"],
        "env": [{"name": "MSG", "value": "hello"}],
    }
    pod = await create_pod(client, node, pod_manifest(name, node.name, [shell]))
    await wait_running(client, name)
    log = node.root / "pods" / pod["metadata"]["uid"] / "logs" / "sh" / "0.log"

    async def logged() -> str | None:
        text = log.read_text() if log.exists() else ""
        return text if text.count("\n") >= 2 else None

    text = await wait_for("the container's output", logged)
    entries = [logs.parse_entry(line.encode()) for line in text.splitlines()[:2]]
    # CRI format: "<time> stdout F <text>"
    assert [(e.stream, e.text.decode()) for e in entries if e] == [
        ("stdout", name),
        ("stdout", f"hello {name}"),
    ]


async def test_status_events_node_and_lease(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    pod = await create_pod(client, node, pod_manifest("status-pod", node.name, [netexec()]))
    uid = pod["metadata"]["uid"]
    pod = await wait_running(client, "status-pod")
    st = pod["status"]
    assert st["startTime"] and st["qosClass"] == "BestEffort"
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds == {
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }
    cs = container_status(pod, "web")
    assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
    assert cs["containerID"].startswith("knet://") and "agnhost@sha256:" in cs["imageID"]
    assert "startedAt" in cs["state"]["running"] and cs["lastState"] == {}

    async def events() -> list[dict[str, Any]] | None:
        items, _ = await client.list("Event", "default", field_selector=f"involvedObject.uid={uid}")
        reasons = {e["reason"] for e in items}
        return items if {"Pulled", "Created", "Started"} <= reasons else None

    evs = await wait_for("Created and Started events", events)
    started = next(e for e in evs if e["reason"] == "Started")
    assert started["involvedObject"]["fieldPath"] == "spec.containers{web}"
    assert started["source"] == {"component": "kubelet", "host": node.name}

    n = await client.get("Node", node.name)
    assert n["spec"]["podCIDR"] == node.pod_cidr
    assert {"type": "InternalIP", "address": node.node_ip} in n["status"]["addresses"]
    assert len(n["status"]["nodeInfo"]) == 10 and all(n["status"]["nodeInfo"].values())
    ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["reason"] == "KubeletReady"
    lease = await client.get("Lease", node.name, "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == node.name
    assert lease["spec"]["leaseDurationSeconds"] == 40

    # The official Python client reads the Node (it rejects incomplete nodeInfo).
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    api = k8s.CoreV1Api(k8s_config.new_client_from_config(str(node.kubeconfig)))
    nodes = api.list_node()
    assert [x.metadata.name for x in nodes.items] == [node.name]
    assert nodes.items[0].status.node_info.kubelet_version.startswith("v1.32")

    await client.delete("Pod", "status-pod", "default")
    await wait_gone(client, "status-pod")
    assert await node.aleftovers() == NOTHING


async def test_init_containers_run_first(node: Node, client: ApiClient, tmp_path: Path) -> None:
    node.start_kubelet()
    # Containers see the node's root read-only and a private /tmp: they share a hostPath volume.
    marker = tmp_path / "init-ran"
    out = [{"name": "out", "mountPath": "/tmp/out"}]
    init = {
        "name": "init",
        "image": "busybox",
        "command": ["sh", "-c", "echo ok > /tmp/out/init-ran"],
        "volumeMounts": out,
    }
    main = {
        "name": "main",
        "image": "busybox",
        "command": ["sh", "-c", "cat /tmp/out/init-ran && sleep 3600"],
        "volumeMounts": out,
    }
    volumes = [{"name": "out", "hostPath": {"path": str(tmp_path)}}]
    await create_pod(
        client,
        node,
        pod_manifest("with-init", node.name, [main], initContainers=[init], volumes=volumes),
    )
    pod = await wait_running(client, "with-init")
    [init_status] = pod["status"]["initContainerStatuses"]
    assert init_status["state"]["terminated"]["reason"] == "Completed"
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Initialized"] == "True"
    assert container_status(pod, "main")["restartCount"] == 0
    assert marker.read_text() == "ok\n"  # written through the volume
