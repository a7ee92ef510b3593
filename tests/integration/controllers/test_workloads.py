"""Deployments, ReplicaSets and the scheduler against a real API server with fake nodes."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from _fakecluster import Cluster, eventually

from knet.client import ApiClient

Obj = dict[str, Any]


def deployment(name: str, replicas: int, image: str = "nginx:1.25", **strategy: Any) -> Obj:
    labels = {"app": name}
    spec: Obj = {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": image,
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                    }
                ]
            },
        },
    }
    if strategy:
        spec["strategy"] = strategy
    return {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": name}, "spec": spec}


async def live_pods(client: ApiClient, app: str) -> list[Obj]:
    pods, _ = await client.list("Pod", "default", label_selector={"app": app})
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def three_nodes(cluster: Cluster) -> None:
    for i in range(3):
        await cluster.add_node(f"kt-node-{i}")
    cluster.start_controllers()
    cluster.start_scheduler()


async def test_deployment_of_six_spreads_over_three_nodes(cluster: Cluster) -> None:
    await three_nodes(cluster)
    client = cluster.client
    await client.create(deployment("web", 6))

    async def all_available() -> bool:
        d = await client.get("Deployment", "web", "default")
        return (d.get("status") or {}).get("availableReplicas") == 6

    await eventually(all_available)
    pods = await live_pods(client, "web")
    assert len(pods) == 6
    per_node = Counter(p["spec"]["nodeName"] for p in pods)
    assert per_node == {"kt-node-0": 2, "kt-node-1": 2, "kt-node-2": 2}

    # One ReplicaSet, named by the template hash, owning every pod.
    rss, _ = await client.list("ReplicaSet", "default")
    assert len(rss) == 1
    rs = rss[0]
    pth = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pth}"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pth}
    for p in pods:
        (ref,) = p["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["uid"], ref["controller"]) == (
            "ReplicaSet",
            rs["metadata"]["uid"],
            True,
        )
        assert p["metadata"]["labels"]["pod-template-hash"] == pth

    d = await client.get("Deployment", "web", "default")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    status = d["status"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"]) == (6, 6, 6)
    assert status["observedGeneration"] == d["metadata"]["generation"]
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Available"]["status"] == "True"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"

    # Every pod got a Scheduled event naming it by uid (what `kubectl describe` looks up).
    async def scheduled_events() -> bool:
        events, _ = await client.list("Event", "default", field_selector="reason=Scheduled")
        uids = {e["involvedObject"].get("uid") for e in events}
        return all(p["metadata"]["uid"] in uids for p in pods)

    await eventually(scheduled_events)


async def test_scale_up_and_down(cluster: Cluster) -> None:
    await three_nodes(cluster)
    client = cluster.client
    await client.create(deployment("web", 2))

    async def count(n: int) -> bool:
        d = await client.get("Deployment", "web", "default")
        st = d.get("status") or {}
        pods = await live_pods(client, "web")
        return st.get("availableReplicas") == n and st.get("replicas") == n and len(pods) == n

    await eventually(lambda: count(2))
    await client.patch("Deployment", "web", {"spec": {"replicas": 7}}, namespace="default")
    await eventually(lambda: count(7))
    # Down through the scale subresource, as `kubectl scale` does.
    await client.patch(
        "Deployment", "web", {"spec": {"replicas": 3}}, namespace="default", subresource="scale"
    )
    await eventually(lambda: count(3))
    # Still one ReplicaSet: scaling is not a new template.
    rss, _ = await client.list("ReplicaSet", "default")
    assert [rs["spec"]["replicas"] for rs in rss] == [3]


async def test_replicaset_adopts_orphans_and_never_overshoots(cluster: Cluster) -> None:
    await three_nodes(cluster)
    client = cluster.client
    # An orphan pod that matches the selector is adopted and counts towards replicas.
    await client.create(
        {
            "kind": "Pod",
            "metadata": {"name": "orphan", "labels": {"app": "rs"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }
    )
    await client.create(
        {
            "kind": "ReplicaSet",
            "apiVersion": "apps/v1",
            "metadata": {"name": "rs"},
            "spec": {
                "replicas": 4,
                "selector": {"matchLabels": {"app": "rs"}},
                "template": {
                    "metadata": {"labels": {"app": "rs"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                },
            },
        }
    )

    async def four_ready() -> bool:
        rs = await client.get("ReplicaSet", "rs", "default")
        return (rs.get("status") or {}).get("readyReplicas") == 4

    await eventually(four_ready)
    pods = await live_pods(client, "rs")
    assert len(pods) == 4  # 3 created + the adopted one, never 5
    orphan = await client.get("Pod", "orphan", "default")
    assert orphan["metadata"]["ownerReferences"][0]["name"] == "rs"
    # A pod relabelled out of the selector is released and replaced.
    await client.patch(
        "Pod", "orphan", {"metadata": {"labels": {"app": "other"}}}, namespace="default"
    )

    async def released() -> bool:
        pod = await client.get("Pod", "orphan", "default")
        return (
            not pod["metadata"].get("ownerReferences") and len(await live_pods(client, "rs")) == 4
        )

    await eventually(released)
    await asyncio.sleep(0.5)
    assert len(await live_pods(client, "rs")) == 4


async def test_unschedulable_pod_waits_with_an_explanation(cluster: Cluster) -> None:
    await three_nodes(cluster)
    client = cluster.client
    big = await client.create(
        {
            "kind": "Pod",
            "metadata": {"name": "big"},
            "spec": {
                "containers": [
                    {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "16"}}}
                ]
            },
        }
    )

    async def explained() -> bool:
        events, _ = await client.list(
            "Event", "default", field_selector=f"involvedObject.uid={big['metadata']['uid']}"
        )
        return any(
            e["reason"] == "FailedScheduling"
            and e["type"] == "Warning"
            and e["message"] == "0/3 nodes are available: 3 Insufficient cpu."
            for e in events
        )

    await eventually(explained)
    pod = await client.get("Pod", "big", "default")
    cond = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    # A node big enough arrives: the pod goes there.
    await cluster.add_node("kt-big", cpu="32")

    async def placed() -> bool:
        return (await client.get("Pod", "big", "default"))["spec"].get("nodeName") == "kt-big"

    await eventually(placed)
