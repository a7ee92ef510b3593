"""The lab's synthetic cluster: objects and typed model agree, addresses are distinct, and the
proxier's order is the index order."""

from __future__ import annotations

import pytest

from kproxy.changes import merge_slices, parse_slice, service_ports
from kproxy.config import ProxyConfig
from kproxy.iptables.render import render, service_order
from kproxy.lab import workload as w
from kproxy.lab.userspace import count_rules
from kproxy.servicemodel import ServicePortInfo
from kproxy.userspace.portals import USERSPACE_JUMPS, Portal, render_portals


def test_objects_translate_to_the_model() -> None:
    services, endpoints = w.model(5, 3)
    from_objects = {}
    eps_from_objects = {}
    for i in range(5):
        from_objects.update(service_ports(w.service_object(i)))
        parsed = parse_slice(w.slice_object(i, 3), w.NODE_NAME)
        assert parsed is not None
        eps_from_objects.update(merge_slices(parsed.service, [parsed]))
    assert from_objects == services
    assert eps_from_objects == endpoints


def test_addresses_are_distinct_and_in_their_ranges() -> None:
    n, m = 300, 7
    vips = {w.cluster_ip(i) for i in range(n + 1)}
    eps = {w.endpoint_ip(i, j, m) for i in range(n + 1) for j in range(m)}
    spares = {w.spare_endpoint_ip(k) for k in range(256)}
    assert len(vips) == n + 1
    assert len(eps) == (n + 1) * m
    assert not eps & spares
    assert all(w.is_endpoint_ip(ip) for ip in eps | spares)
    assert w.cluster_ip(0) == "10.96.0.1"
    assert w.endpoint_ip(0, 0, m) == "10.128.0.1"


def test_index_order_is_the_proxier_order() -> None:
    names = [w.port_name(i) for i in (0, 9, 10, 99, 1000, 1234567)]
    assert sorted(names, key=service_order) == names


def test_first_and_last_service_in_kube_services() -> None:
    services, endpoints = w.model(12, 2)
    rs = render(services, endpoints, _config())
    rules = [r for r in rs.rules("nat", "KUBE-SERVICES") if "cluster IP" in r]
    assert f"-d {w.cluster_ip(0)} " in rules[0]
    assert f"-d {w.cluster_ip(11)} " in rules[-1]


def test_replacing_the_first_endpoint() -> None:
    obj = w.slice_object(4, 3, replace_first=w.spare_endpoint_ip(2))
    addresses = [e["addresses"][0] for e in obj["endpoints"]]
    assert addresses == [w.spare_endpoint_ip(2), w.endpoint_ip(4, 1, 3), w.endpoint_ip(4, 2, 3)]


@pytest.mark.parametrize(
    ("n", "m", "match"),
    [
        (0, 1, "at least 1"),
        (1, 0, "at least 1"),
        (w.MAX_SERVICES + 1, 1, "do not fit"),
        (100_000, 100, "do not fit"),
    ],
)
def test_sizes_outside_the_address_plan_are_refused(n: int, m: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        w.check_size(n, m)


def test_spare_endpoint_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        w.spare_endpoint_ip(256)


def _config() -> ProxyConfig:
    return ProxyConfig(w.NODE_NAME, cluster_cidr="10.244.0.0/16")


def test_userspace_rule_count_covers_portals_and_jumps() -> None:
    portals = [
        Portal(w.port_name(i), ServicePortInfo(w.cluster_ip(i), w.SERVICE_PORT), 20000 + i)
        for i in range(7)
    ]
    jumps = [f"{j.position} {j.source_chain} -j {j.target_chain}" for j in USERSPACE_JUMPS]
    text = render_portals(portals, extra={"nat": jumps[:2], "filter": jumps[2:]})
    assert count_rules(text) == 2 * 7 + 3
