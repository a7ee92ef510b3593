"""Rule counts against upstream's number_generated_rules_test.

Counting convention, as upstream's: the ``-A`` lines of one table in the restore input. nat
starts at 5 (KUBE-POSTROUTING x3, KUBE-MARK-MASQ, the KUBE-NODEPORTS tail call); each ClusterIP
service with E endpoints adds 2 + 3E (dispatch, masquerade, then per endpoint one jump and two
SEP rules). filter starts at 3 (KUBE-FORWARD) plus one REJECT per endpoint-less ClusterIP.
"""

from __future__ import annotations

import ipaddress

import pytest
from kproxy_scenarios import CONFIG, ep

from kproxy.iptables.model import RuleSet
from kproxy.iptables.render import render
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName


def _generate(services: int, endpoints: int, load_balancer: bool) -> RuleSet:
    svcs: dict[ServicePortName, ServicePortInfo] = {}
    eps: dict[ServicePortName, list[EndpointInfo]] = {}
    base = ipaddress.IPv4Address("10.0.0.1")
    for i in range(services):
        name = ServicePortName("namespace", f"svc{i}", "8080")
        if load_balancer:
            info = ServicePortInfo(
                str(base + i),
                80 + i,
                node_port=30000 + i,
                external_ips=("1.2.3.4",),
                load_balancer_ips=("1.2.3.4",),
                load_balancer_source_ranges=(" 1.2.3.4/28",),
            )
        else:
            info = ServicePortInfo(str(base + i), 80 + i)
        svcs[name] = info
        first = ipaddress.IPv4Address("172.16.0.1")
        eps[name] = [ep(str(first + j), 8080) for j in range(endpoints)]
    return render(svcs, eps, CONFIG)


# (services, endpoints per service, filter rules, nat rules): upstream's ClusterIP table.
CLUSTER_IP_TABLE = [
    (0, 0, 3, 5),
    (1, 0, 4, 5),
    (1, 1, 3, 10),
    (1, 2, 3, 13),
    (1, 10, 3, 37),
    (10, 0, 13, 5),
    (10, 1, 3, 55),
    (10, 2, 3, 85),
    (10, 10, 3, 325),
]


@pytest.mark.parametrize(
    ("services", "endpoints", "filter_rules", "nat_rules"),
    [pytest.param(*row, id=f"{row[0]}svc-{row[1]}ep") for row in CLUSTER_IP_TABLE],
)
def test_cluster_ip_rule_counts_match_upstream(
    services: int, endpoints: int, filter_rules: int, nat_rules: int
) -> None:
    rs = _generate(services, endpoints, load_balancer=False)
    assert rs.rule_count("filter") == filter_rules
    assert rs.rule_count("nat") == nat_rules
    text = rs.to_restore_text()
    nat_text = text[text.index("*nat") :]
    assert nat_text.count("\n-A ") == nat_rules


@pytest.mark.parametrize(("services", "endpoints"), [(1, 1), (3, 2), (10, 10), (50, 4)])
def test_cluster_ip_formula(services: int, endpoints: int) -> None:
    rs = _generate(services, endpoints, load_balancer=False)
    assert rs.rule_count("nat") == 5 + services * (2 + 3 * endpoints)


@pytest.mark.parametrize(
    ("services", "endpoints", "filter_rules"),
    [(0, 0, 3), (1, 0, 7), (10, 0, 43), (1, 1, 4), (10, 1, 13), (10, 10, 13)],
)
def test_load_balancer_filter_counts_match_upstream(
    services: int, endpoints: int, filter_rules: int
) -> None:
    # Without endpoints: REJECT for the ClusterIP, external IP, LB IP and NodePort. With
    # endpoints: one KUBE-PROXY-FIREWALL DROP per LB IP (source ranges are set).
    assert _generate(services, endpoints, load_balancer=True).rule_count("filter") == filter_rules


@pytest.mark.parametrize(("services", "endpoints"), [(1, 1), (1, 10), (10, 2)])
def test_load_balancer_nat_count(services: int, endpoints: int) -> None:
    # Per service: 3 dispatch rules (ClusterIP, external IP, LB IP), 1 NodePort, 2 EXT, 2 FW
    # (one source range + the fall-through marker), 1 masquerade. Upstream's older test file
    # counts 8 + 3E here; the proxier it was read against writes the FW fall-through rule too.
    rs = _generate(services, endpoints, load_balancer=True)
    assert rs.rule_count("nat") == 5 + services * (9 + 3 * endpoints)
