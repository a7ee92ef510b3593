# ruff: noqa: E501  (wide rows of table-driven cases read best unwrapped)
"""Building EndpointSlices and Endpoints from a Service and its pods."""

from __future__ import annotations

from typing import Any

import pytest

from knet.controllers.endpointslice import (
    HEADLESS_LABEL,
    desired_groups,
    endpoint_id,
    endpoints_object,
    new_slice,
    plan_group,
    resolve_target_port,
    slice_labels,
)

Obj = dict[str, Any]


def svc(ports: list[Obj] | None = None, **spec: Any) -> Obj:
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid", "labels": {"t": "1"}},
        "spec": {"selector": {"app": "web"}, "ports": ports if ports is not None else
                 [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}], **spec},
    }  # fmt: skip


def pod(name: str, ip: str | None = "10.0.0.1", *, port: int = 8080, ready: bool = True,
        deleting: bool = False, node: str = "n1", phase: str = "Running", **spec: Any) -> Obj:  # fmt: skip
    meta: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    status: Obj = {"phase": phase,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}  # fmt: skip
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    containers = [
        {"name": "c", "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}]}
    ]
    return {"metadata": meta, "spec": {"nodeName": node, "containers": containers, **spec},
            "status": status}  # fmt: skip


@pytest.mark.parametrize(
    ("target", "want"),
    [(8080, 8080), ("http", 9090), ("9000", 9000), ("nope", None), (None, 80)],
)
def test_resolve_target_port(target: Any, want: int | None) -> None:
    port: Obj = {"port": 80, "protocol": "TCP"}
    if target is not None:
        port["targetPort"] = target
    assert resolve_target_port(pod("a", port=9090), port) == want


def test_named_port_protocol_must_match() -> None:
    assert (
        resolve_target_port(pod("a"), {"port": 53, "targetPort": "http", "protocol": "UDP"}) is None
    )


def test_conditions_node_and_target() -> None:
    pods = [pod("ready"), pod("unready", "10.0.0.2", ready=False),
            pod("leaving", "10.0.0.3", deleting=True), pod("no-ip", None),
            pod("done", "10.0.0.4", phase="Succeeded")]  # fmt: skip
    (group,) = desired_groups(svc(), pods).values()
    states = {e["targetRef"]["name"]: e["conditions"] for e in group.endpoints}
    assert states == {
        "ready": {"ready": True, "serving": True, "terminating": False},
        "unready": {"ready": False, "serving": False, "terminating": False},
        "leaving": {"ready": False, "serving": True, "terminating": True},
    }
    addresses = {e["targetRef"]["name"]: e["addresses"] for e in group.endpoints}
    assert addresses == {"ready": ["10.0.0.1"], "unready": ["10.0.0.2"], "leaving": ["10.0.0.3"]}
    assert all(e["nodeName"] == "n1" for e in group.endpoints)
    assert group.ports == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert group.address_type == "IPv4"


def test_publish_not_ready_addresses() -> None:
    (group,) = desired_groups(svc(publishNotReadyAddresses=True), [pod("u", ready=False)]).values()
    assert group.endpoints[0]["conditions"] == {
        "ready": True,
        "serving": True,
        "terminating": False,
    }


def test_pods_disagreeing_on_a_named_port_get_separate_groups() -> None:
    groups = desired_groups(svc(), [pod("a", port=8080), pod("b", "10.0.0.2", port=9090)])
    assert sorted(g.ports[0]["port"] for g in groups.values()) == [8080, 9090]


def test_pod_without_the_named_port_is_left_out() -> None:
    p = pod("a")
    p["spec"]["containers"][0]["ports"] = []
    assert desired_groups(svc(), [p]) == {}


def test_headless_service() -> None:
    s = svc(ports=[], clusterIP="None")
    p = pod("a", hostname="h", subdomain="web")
    (group,) = desired_groups(s, [p]).values()
    assert group.ports == []
    assert group.endpoints[0]["hostname"] == "h"
    assert HEADLESS_LABEL in slice_labels(s)
    eps = endpoints_object(s, desired_groups(s, [p]))
    assert eps["subsets"] == [{"addresses": [{"ip": "10.0.0.1", "targetRef": group.endpoints[0]["targetRef"],
                                             "nodeName": "n1", "hostname": "h"}]}]  # fmt: skip
    assert eps["metadata"]["labels"][HEADLESS_LABEL] == ""


def test_at_most_100_endpoints_per_slice() -> None:
    pods = [pod(f"p{i:03d}", f"10.0.{i // 250}.{i % 250 + 1}") for i in range(250)]
    (group,) = desired_groups(svc(), pods).values()
    plan = plan_group([], group.endpoints, 100)
    assert [len(c) for c in plan.create] == [100, 100, 50]
    assert plan.update == {} and plan.delete == []


def test_plan_keeps_endpoints_in_place_and_fills_room() -> None:
    eps = [{"addresses": [f"10.0.0.{i}"], "targetRef": {"uid": f"u{i}"}} for i in range(6)]
    existing = [
        {"metadata": {"name": "s-a"}, "endpoints": eps[0:3]},
        {"metadata": {"name": "s-b"}, "endpoints": eps[3:4]},
    ]
    # eps[1] went away, eps[4] and eps[5] are new; eps[0], eps[2], eps[3] stay where they are.
    wanted = [eps[0], eps[2], eps[3], eps[4], eps[5]]
    plan = plan_group(existing, wanted, 3)
    assert plan.create == [] and plan.delete == []
    assert [endpoint_id(e) for e in plan.update["s-a"]][:2] == [
        endpoint_id(eps[0]),
        endpoint_id(eps[2]),
    ]
    placed = [endpoint_id(e) for name in plan.update for e in plan.update[name]]
    assert sorted(placed) == sorted(endpoint_id(e) for e in wanted)
    assert all(len(v) <= 3 for v in plan.update.values())
    # Nothing changed: nothing to do. Everything gone: the slices go.
    same = plan_group(existing, eps[0:4], 3)
    assert same.update == {} and same.create == [] and same.delete == []
    assert plan_group(existing, [], 3).delete == ["s-a", "s-b"]


def test_slice_and_endpoints_objects() -> None:
    s = svc()
    groups = desired_groups(s, [pod("a"), pod("b", "10.0.0.2", ready=False),
                                pod("c", "10.0.0.3", deleting=True)])  # fmt: skip
    (group,) = groups.values()
    body = new_slice(s, group, group.endpoints)
    assert body["metadata"]["generateName"] == "web-"
    assert body["metadata"]["labels"] == {
        "t": "1", "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }  # fmt: skip
    assert body["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    eps = endpoints_object(s, groups)
    (subset,) = eps["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.0.0.1"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.0.0.2"]  # terminating left out
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
