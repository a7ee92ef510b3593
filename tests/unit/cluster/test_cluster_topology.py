"""Cluster topology: names, addresses and CIDRs are valid, distinct and stable."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from knet.cluster import topology
from knet.netlink import names


def test_three_node_cluster_layout() -> None:
    t = topology.build("knet", 3)
    assert t.underlay_netns == "kn-knet-ul"
    assert [n.netns for n in t.nodes] == ["kn-knet-1", "kn-knet-2", "kn-knet-3"]
    assert [n.name for n in t.nodes] == ["knet-node1", "knet-node2", "knet-node3"]
    assert [str(n.ip) for n in t.nodes] == ["172.30.0.1/24", "172.30.0.2/24", "172.30.0.3/24"]
    assert [str(n.pod_cidr) for n in t.nodes] == [
        "10.244.1.0/24",
        "10.244.2.0/24",
        "10.244.3.0/24",
    ]
    assert t.pod_netns_prefix == "kn-knet-p-"
    assert t.namespaces == ("kn-knet-ul", "kn-knet-1", "kn-knet-2", "kn-knet-3")
    assert t.node("knet-node2").index == 2
    with pytest.raises(KeyError):
        t.node("other")


def test_largest_cluster_names_fit_and_nothing_overlaps() -> None:
    t = topology.build("abcdefgh", topology.MAX_NODES)
    ports = [n.underlay_port for n in t.nodes]
    for name in ports:
        assert names.validate_ifname(name) == name  # <= 15 chars
    assert len(set(ports)) == len(ports)
    cidrs = [n.pod_cidr for n in t.nodes]
    for i, a in enumerate(cidrs):
        assert a.subnet_of(t.cluster_cidr)
        for b in cidrs[i + 1 :]:
            assert not a.overlaps(b)
    ips = [n.address for n in t.nodes]
    assert len(set(ips)) == len(ips) and all(ip in t.underlay_net for ip in ips)
    # pod namespace names made with the prefix are valid and still carry the cluster prefix
    pod_ns = names.netns_name("some-uid", t.pod_netns_prefix)
    assert pod_ns.startswith(t.prefix) and names.validate_netns_name(pod_ns)


def test_prefixes_of_different_clusters_never_match_each_other() -> None:
    a, a1 = topology.build("a", 3), topology.build("a1", 3)
    for ns in (*a1.namespaces, a1.pod_netns_prefix):
        assert not ns.startswith(a.prefix)
    for ns in (*a.namespaces, a.pod_netns_prefix):
        assert not ns.startswith(a1.prefix)


@pytest.mark.parametrize("bad", ["", "A", "1abc", "a-b", "toolongname", "a_b", "kn/x", "kn\n"])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(topology.TopologyError, match="cluster name"):
        topology.build(bad, 3)


@pytest.mark.parametrize("n", [0, -1, topology.MAX_NODES + 1])
def test_bad_node_counts_are_refused(n: int) -> None:
    with pytest.raises(topology.TopologyError, match="--nodes"):
        topology.build("knet", n)


def test_node_cidr_is_inside_the_cluster_cidr() -> None:
    node = topology.node_topology("x", 7)
    assert node.pod_cidr == IPv4Network("10.244.7.0/24")
