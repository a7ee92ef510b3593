"""Whole restore texts for representative services, compared with golden files.

The golden files under golden/ are meant to be read: each starts with ``#`` lines saying what
the scenario is. To regenerate after an intended change, run with KPROXY_UPDATE_GOLDEN=1 and
review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from kproxy_scenarios import CONFIG, NODE_IP, Scenario, ep, overall, spn

from kproxy.servicemodel import ServicePortInfo

GOLDEN = Path(__file__).parent / "golden"


def clusterip_one_endpoint() -> tuple[str, str]:
    s = Scenario().add(spn("ns1", "svc1"), ServicePortInfo("172.30.0.41", 80), [ep("10.180.0.1")])
    return "ClusterIP ns1/svc1:p80 with one endpoint", s.render().to_restore_text()


def clusterip_three_endpoints() -> tuple[str, str]:
    s = Scenario().add(
        spn("ns1", "svc1"),
        ServicePortInfo("172.30.0.41", 80, target_port=8080),
        [ep("10.180.0.1", 8080), ep("10.180.0.2", 8080), ep("10.180.2.1", 8080)],
    )
    text = s.render().to_restore_text()
    return "ClusterIP with three endpoints: probabilities 1/3, 1/2, then the rest", text


def nodeport() -> tuple[str, str]:
    s = Scenario().add(
        spn("ns3", "svc3"),
        ServicePortInfo("172.30.0.43", 80, node_port=30080),
        [ep("10.180.0.3"), ep("10.180.2.3", local=True)],
    )
    return (
        "NodePort 30080 (externalTrafficPolicy Cluster), two endpoints",
        s.render().to_restore_text(),
    )


def session_affinity() -> tuple[str, str]:
    s = Scenario().add(
        spn("ns5", "svc5"),
        ServicePortInfo("172.30.0.45", 80, session_affinity_timeout=10800),
        [ep("10.180.0.1"), ep("10.180.0.2")],
    )
    return "sessionAffinity ClientIP, timeout 10800s, two endpoints", s.render().to_restore_text()


def no_endpoints() -> tuple[str, str]:
    s = Scenario()
    s.add(spn("ns6", "svc6"), ServicePortInfo("172.30.0.46", 80))
    s.add(
        spn("ns7", "svc7", "http"),
        ServicePortInfo(
            "172.30.0.47",
            8080,
            node_port=30007,
            external_ips=("192.168.99.7",),
            load_balancer_ips=("1.2.3.7",),
        ),
    )
    # Endpoints that exist but are neither ready nor serving count as none.
    s.add(
        spn("ns8", "svc8", protocol="UDP"),
        ServicePortInfo("172.30.0.48", 53, protocol="UDP"),
        [ep("10.180.0.8", 53, ready=False, serving=False)],
    )
    text = s.render().to_restore_text()
    return "services without endpoints: REJECT in filter, nothing in nat", text


def external_traffic_policy_local() -> tuple[str, str]:
    s = Scenario()
    s.add(
        spn("ns2", "svc2"),
        ServicePortInfo(
            "172.30.0.42",
            80,
            node_port=30002,
            load_balancer_ips=("1.2.3.4",),
            external_traffic_policy_local=True,
            health_check_node_port=30000,
        ),
        [ep("10.180.0.2", local=True), ep("10.180.2.2")],
    )
    s.add(
        spn("ns9", "svc9"),
        ServicePortInfo(
            "172.30.0.49",
            80,
            node_port=30009,
            external_traffic_policy_local=True,
            health_check_node_port=30001,
        ),
        [ep("10.180.2.9")],
    )
    text = s.render().to_restore_text()
    return "externalTrafficPolicy Local: with a local endpoint (SVL) and without (DROP)", text


def internal_traffic_policy_local() -> tuple[str, str]:
    s = Scenario()
    s.add(
        spn("ns1", "local"),
        ServicePortInfo("172.30.0.51", 80, internal_traffic_policy_local=True),
        [ep("10.180.0.1", local=True), ep("10.180.2.1")],
    )
    s.add(
        spn("ns1", "remote"),
        ServicePortInfo("172.30.0.52", 80, internal_traffic_policy_local=True),
        [ep("10.180.2.2")],
    )
    text = s.render().to_restore_text()
    return "internalTrafficPolicy Local: local endpoint only (SVL), or DROP when none", text


def masquerade_all() -> tuple[str, str]:
    config = replace(CONFIG, masquerade_all=True, masquerade_random_fully=True)
    s = Scenario(config=config)
    s.add(spn("ns1", "svc1"), ServicePortInfo("172.30.0.41", 80), [ep("10.180.0.1")])
    return "masquerade_all and MASQUERADE --random-fully", s.render().to_restore_text()


def terminating_fallback() -> tuple[str, str]:
    s = Scenario()
    s.add(
        spn("ns1", "rolling"),
        ServicePortInfo("172.30.0.61", 80),
        [
            ep("10.180.0.1", ready=False, serving=True, terminating=True),
            ep("10.180.0.2", ready=False, serving=False, terminating=True),
        ],
    )
    s.add(
        spn("ns1", "mixed"),
        ServicePortInfo("172.30.0.62", 80),
        [ep("10.180.0.3"), ep("10.180.0.4", ready=False, serving=True, terminating=True)],
    )
    text = s.render().to_restore_text()
    return "no ready endpoint: serving-terminating ones are used; otherwise only ready", text


def load_balancer_source_ranges() -> tuple[str, str]:
    s = Scenario().add(
        spn("ns5", "lb"),
        ServicePortInfo(
            "172.30.0.45",
            80,
            node_port=30005,
            load_balancer_ips=("5.6.7.8",),
            load_balancer_source_ranges=("203.0.113.0/25", f"{NODE_IP}/32"),
        ),
        [ep("10.180.0.5")],
    )
    text = s.render().to_restore_text()
    return "LoadBalancer with source ranges (KUBE-FW) that include the node IP", text


def nodeport_addresses() -> tuple[str, str]:
    config = replace(CONFIG, nodeport_addresses=("192.168.0.0/24",))
    s = Scenario(config=config)
    s.add(
        spn("ns3", "svc3"), ServicePortInfo("172.30.0.43", 80, node_port=30080), [ep("10.180.0.3")]
    )
    text = s.render().to_restore_text()
    return "nodeport_addresses 192.168.0.0/24: NodePorts only on 192.168.0.2", text


def partial_sync() -> tuple[str, str]:
    s = overall()
    rs = s.render()
    changed = rs.chains_of([spn("ns4", "svc4")])
    stale = {"nat": ["KUBE-SEP-AAAAAAAAAAAAAAAA", "KUBE-SVC-BBBBBBBBBBBBBBBB"]}
    text = rs.to_restore_text(chains=changed, stale=stale)
    return "partial sync: top-level chains + ns4/svc4's chains, two stale chains removed", text


def overall_services() -> tuple[str, str]:
    return (
        "one of each kind of service (upstream's overall test)",
        overall().render().to_restore_text(),
    )


CASES: list[Callable[[], tuple[str, str]]] = [
    clusterip_one_endpoint,
    clusterip_three_endpoints,
    nodeport,
    session_affinity,
    no_endpoints,
    external_traffic_policy_local,
    internal_traffic_policy_local,
    masquerade_all,
    terminating_fallback,
    load_balancer_source_ranges,
    nodeport_addresses,
    partial_sync,
    overall_services,
]


def _strip_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.__name__) for c in CASES])
def test_render_matches_golden(case: Callable[[], tuple[str, str]]) -> None:
    title, text = case()
    path = GOLDEN / f"{case.__name__}.rules"
    if os.environ.get("KPROXY_UPDATE_GOLDEN"):
        path.write_text(f"# {title}\n# generated by {Path(__file__).name}\n{text}")
    expected = _strip_header(path.read_text())
    assert text == expected


def test_render_is_deterministic_regardless_of_input_order() -> None:
    s = overall()
    reversed_services = dict(reversed(list(s.services.items())))
    again = Scenario(reversed_services, s.endpoints).render()
    assert again.to_restore_text() == s.render().to_restore_text()
