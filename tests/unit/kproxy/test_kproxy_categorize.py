"""Endpoint selection per traffic policy (upstream's CategorizeEndpoints)."""

from __future__ import annotations

from kproxy_scenarios import ep

from kproxy.iptables.categorize import categorize_endpoints
from kproxy.servicemodel import ServicePortInfo

CLUSTER = ServicePortInfo("172.30.0.1", 80)
ITP_LOCAL = ServicePortInfo("172.30.0.1", 80, internal_traffic_policy_local=True)
ETP_LOCAL = ServicePortInfo("172.30.0.1", 80, node_port=30000, external_traffic_policy_local=True)


def _ips(eps: tuple[object, ...]) -> list[str]:
    return [str(e).split(":")[0] for e in eps]


def test_only_ready_endpoints_when_any_is_ready() -> None:
    eps = [ep("10.0.0.1"), ep("10.0.0.2", ready=False, terminating=True), ep("10.0.0.3")]
    cat = categorize_endpoints(CLUSTER, eps)
    assert _ips(cat.cluster) == ["10.0.0.1", "10.0.0.3"]
    assert cat.local == () and cat.has_any


def test_serving_terminating_fallback() -> None:
    eps = [
        ep("10.0.0.1", ready=False, serving=True, terminating=True),
        ep("10.0.0.2", ready=False, serving=False, terminating=True),
        ep("10.0.0.3", ready=False, serving=True, terminating=False),  # not terminating: no
    ]
    cat = categorize_endpoints(CLUSTER, eps)
    assert _ips(cat.cluster) == ["10.0.0.1"]
    assert cat.has_any


def test_nothing_usable() -> None:
    cat = categorize_endpoints(CLUSTER, [ep("10.0.0.1", ready=False, serving=False)])
    assert cat.cluster == () and cat.reachable == () and not cat.has_any


def test_internal_local_uses_only_local_endpoints() -> None:
    cat = categorize_endpoints(ITP_LOCAL, [ep("10.0.0.1", local=True), ep("10.0.0.2")])
    assert cat.cluster == ()
    assert _ips(cat.local) == ["10.0.0.1"] == _ips(cat.reachable)
    remote_only = categorize_endpoints(ITP_LOCAL, [ep("10.0.0.2")])
    assert remote_only.local == () and remote_only.has_any  # usable elsewhere, not here


def test_external_local_merges_cluster_and_local_terminating() -> None:
    eps = [ep("10.0.0.1"), ep("10.0.0.2", local=True, ready=False, terminating=True)]
    cat = categorize_endpoints(ETP_LOCAL, eps)
    assert _ips(cat.cluster) == ["10.0.0.1"]
    assert _ips(cat.local) == ["10.0.0.2"]  # no local ready one: local terminating fallback
    assert _ips(cat.reachable) == ["10.0.0.1", "10.0.0.2"]


def test_duplicate_addresses_collapse() -> None:
    cat = categorize_endpoints(CLUSTER, [ep("10.0.0.1"), ep("10.0.0.1"), ep("10.0.0.2")])
    assert _ips(cat.cluster) == ["10.0.0.1", "10.0.0.2"]
