"""host-gw: which routes a node wants, what to change, and the masquerade rules (pure)."""

from __future__ import annotations

import argparse
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from knet.cluster import hostgw
from knet.netlink.routes import Route

CLUSTER = IPv4Network("10.244.0.0/16")


def node(name: str, cidr: str | None, ip: str | None) -> dict[str, Any]:
    n: dict[str, Any] = {"metadata": {"name": name}, "spec": {}, "status": {}}
    if cidr:
        n["spec"]["podCIDR"] = cidr
    if ip:
        n["status"]["addresses"] = [
            {"type": "Hostname", "address": name},
            {"type": "InternalIP", "address": ip},
        ]
    return n


def net(s: str) -> IPv4Network:
    return IPv4Network(s)


def test_routes_to_every_other_node_with_cidr_and_ip() -> None:
    nodes = [
        node("n1", "10.244.1.0/24", "172.30.0.1"),
        node("n2", "10.244.2.0/24", "172.30.0.2"),
        node("n3", "10.244.3.0/24", "172.30.0.3"),
        node("no-cidr", None, "172.30.0.4"),
        node("no-ip", "10.244.5.0/24", None),
        node("outside", "192.168.9.0/24", "172.30.0.6"),  # not inside the cluster CIDR
        node("same-as-me", "10.244.1.0/24", "172.30.0.7"),
    ]
    assert hostgw.desired_routes(nodes, "n1", CLUSTER) == {
        net("10.244.2.0/24"): IPv4Address("172.30.0.2"),
        net("10.244.3.0/24"): IPv4Address("172.30.0.3"),
    }


def test_two_nodes_claiming_one_cidr_resolve_stably() -> None:
    a = node("b-node", "10.244.2.0/24", "172.30.0.2")
    b = node("a-node", "10.244.2.0/24", "172.30.0.9")
    want = {net("10.244.2.0/24"): IPv4Address("172.30.0.9")}
    assert hostgw.desired_routes([a, b], "me", CLUSTER) == want
    assert hostgw.desired_routes([b, a], "me", CLUSTER) == want


def test_plan_adds_missing_replaces_moved_and_deletes_gone() -> None:
    current = [
        Route(net("0.0.0.0/0"), IPv4Address("172.30.0.254"), 2),  # not ours: outside the CIDR
        Route(net("10.244.1.0/24"), None, 3),  # own bridge route, no gateway
        Route(net("10.244.2.0/24"), IPv4Address("172.30.0.2"), 2),  # right already
        Route(net("10.244.3.0/24"), IPv4Address("172.30.0.33"), 2),  # node moved
        Route(net("10.244.9.0/24"), IPv4Address("172.30.0.9"), 2),  # node deleted
        Route(net("172.30.0.0/24"), None, 2),
    ]
    desired = {
        net("10.244.2.0/24"): IPv4Address("172.30.0.2"),
        net("10.244.3.0/24"): IPv4Address("172.30.0.3"),
        net("10.244.4.0/24"): IPv4Address("172.30.0.4"),
    }
    plan = hostgw.plan_routes(current, desired, CLUSTER)
    assert plan.add == {
        net("10.244.3.0/24"): IPv4Address("172.30.0.3"),
        net("10.244.4.0/24"): IPv4Address("172.30.0.4"),
    }
    assert plan.delete == [net("10.244.9.0/24")]
    assert not plan.empty


def test_plan_is_empty_when_converged() -> None:
    desired = {net("10.244.2.0/24"): IPv4Address("172.30.0.2")}
    current = [Route(net("10.244.2.0/24"), IPv4Address("172.30.0.2"), 2)]
    assert hostgw.plan_routes(current, desired, CLUSTER).empty


def test_masquerade_rules_are_our_chain_only() -> None:
    text = hostgw.masquerade_restore_input(CLUSTER)
    assert text.startswith("*nat\n") and text.endswith("COMMIT\n")
    assert ":KNET-POSTROUTING - [0:0]" in text
    lines = [line for line in text.splitlines() if line.startswith("-A")]
    assert all(line.startswith("-A KNET-POSTROUTING ") for line in lines)
    assert "-s 10.244.0.0/16 -d 10.244.0.0/16" in lines[0] and lines[0].endswith("-j RETURN")
    assert lines[1].endswith("-j MASQUERADE")
    assert "KUBE-" not in text
    assert hostgw.jump_rule("-C")[:4] == ["-t", "nat", "-C", "POSTROUTING"]
    assert hostgw.jump_rule("-A")[-2:] == ["-j", "KNET-POSTROUTING"]


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    hostgw.add_arguments(p)
    return p.parse_args(list(argv))


def test_flags_need_an_explicit_namespace_choice() -> None:
    with pytest.raises(SystemExit):
        parse("--node-name", "n1")  # neither --node-netns nor --root-netns
    with pytest.raises(SystemExit):
        parse("--node-name", "n1", "--node-netns", "kn-x-1", "--root-netns")
    cfg = hostgw.config_from_args(parse("--node-name", "n1", "--node-netns", "kn-x-1"))
    assert cfg.netns == "kn-x-1" and cfg.cluster_cidr == CLUSTER
    assert hostgw.config_from_args(parse("--node-name", "n1", "--root-netns")).netns is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--cluster-cidr", "10.244.0.0/33"), "--cluster-cidr"),
        (("--node-netns", "../etc"), "network namespace name"),
        (("--resync-period", "0"), "--resync-period"),
    ],
)
def test_bad_flags_are_refused(argv: tuple[str, ...], message: str) -> None:
    base = ["--node-name", "n1"] + ([] if "--node-netns" in argv else ["--root-netns"])
    with pytest.raises(ValueError, match=message):
        hostgw.config_from_args(parse(*base, *argv))
