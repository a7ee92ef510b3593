"""Change trackers, the EndpointSlice cache and the translation of API objects."""

from __future__ import annotations

import pytest
from kproxy_objects import endpoint, endpoint_slice, legacy_endpoints, service

from kproxy.changes import (
    EndpointsChangeTracker,
    EndpointsMap,
    ServiceChangeTracker,
    ServicePortMap,
    parse_slice,
    service_ports,
)
from kproxy.changes import (
    legacy_endpoints as translate_legacy,
)
from kproxy.servicemodel import DEFAULT_AFFINITY_SECONDS, EndpointInfo, ServicePortName

WEB = ("default", "web")
HTTP = ServicePortName("default", "web", "http", "TCP")


# -- translation ------------------------------------------------------------------------------


def test_clusterip_service_translates_each_port() -> None:
    obj = service("web", "10.96.0.10", [("http", "TCP", 80), ("dns", "UDP", 53)])
    ports = service_ports(obj)
    assert set(ports) == {HTTP, ServicePortName("default", "web", "dns", "UDP")}
    assert ports[HTTP].cluster_ip == "10.96.0.10"
    assert ports[HTTP].port == 80
    assert ports[HTTP].node_port == 0
    assert ports[HTTP].session_affinity_timeout is None


def test_headless_externalname_and_unallocated_services_have_no_ports() -> None:
    assert service_ports(service("h", "None")) == {}
    assert service_ports(service("u", "")) == {}
    ext = service("e", "", type_="ExternalName", externalName="example.com")
    assert service_ports(ext) == {}


def test_nodeport_affinity_and_policies() -> None:
    obj = service(
        "web",
        "10.96.0.10",
        [("http", "TCP", 80, 30080)],
        type_="NodePort",
        affinity_seconds=5,
        externalTrafficPolicy="Local",
        internalTrafficPolicy="Local",
        externalIPs=["192.0.2.9", "2001:db8::1"],
    )
    info = service_ports(obj)[HTTP]
    assert info.node_port == 30080
    assert info.session_affinity_timeout == 5
    assert info.external_traffic_policy_local and info.internal_traffic_policy_local
    assert info.external_ips == ("192.0.2.9",)  # IPv6 is skipped: kproxy is IPv4 only


def test_client_ip_affinity_defaults_to_three_hours() -> None:
    obj = service("web", "10.96.0.10", sessionAffinity="ClientIP")
    assert service_ports(obj)[HTTP].session_affinity_timeout == DEFAULT_AFFINITY_SECONDS


def test_clusterip_service_ignores_a_stray_node_port() -> None:
    obj = service("web", "10.96.0.10", [("http", "TCP", 80, 30080)])
    assert service_ports(obj)[HTTP].node_port == 0


def test_load_balancer_ips_come_from_status() -> None:
    obj = service("web", "10.96.0.10", [("http", "TCP", 80, 30080)], type_="LoadBalancer")
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "x"}]}}
    assert service_ports(obj)[HTTP].load_balancer_ips == ("203.0.113.7",)


def test_ipv6_source_ranges_are_ignored_not_fatal() -> None:
    # Upstream keeps each family's CIDRs for that family's proxier; an IPv6 range used to make
    # the whole Service (ClusterIP included) unprogrammable here.
    obj = service(
        "web",
        "10.96.0.10",
        [("http", "TCP", 80, 30080)],
        type_="LoadBalancer",
        loadBalancerSourceRanges=["203.0.113.0/25", "2001:db8::/64", " 198.51.100.0/24"],
    )
    assert service_ports(obj)[HTTP].load_balancer_source_ranges == (
        "203.0.113.0/25",
        "198.51.100.0/24",
    )
    only_v6 = service(
        "web", "10.96.0.10", type_="LoadBalancer", loadBalancerSourceRanges=["2001:db8::/64"]
    )
    assert service_ports(only_v6)[HTTP].load_balancer_source_ranges == ()


def test_external_policy_local_applies_to_a_clusterip_service_with_external_ips() -> None:
    obj = service("web", "10.96.0.10", externalIPs=["192.0.2.9"], externalTrafficPolicy="Local")
    info = service_ports(obj)[HTTP]
    assert info.external_traffic_policy_local and info.external_policy_local
    plain = service("web", "10.96.0.10", externalTrafficPolicy="Local")
    assert not service_ports(plain)[HTTP].external_traffic_policy_local


def test_load_balancer_ingress_in_proxy_ip_mode_is_skipped() -> None:
    obj = service("web", "10.96.0.10", [("http", "TCP", 80, 30080)], type_="LoadBalancer")
    obj["status"] = {
        "loadBalancer": {
            "ingress": [
                {"ip": "203.0.113.7", "ipMode": "Proxy"},
                {"ip": "203.0.113.8", "ipMode": "VIP"},
                {"ip": "203.0.113.9"},
            ]
        }
    }
    assert service_ports(obj)[HTTP].load_balancer_ips == ("203.0.113.8", "203.0.113.9")


def test_bad_service_raises_with_its_name() -> None:
    obj = service("web", "10.96.0.10", [("http", "TCP", 70000)])
    with pytest.raises(ValueError, match="default/web"):
        service_ports(obj)


def test_slice_conditions_follow_endpointslice_rules() -> None:
    obj = endpoint_slice(
        "web",
        [
            endpoint("10.244.1.2"),
            endpoint("10.244.1.3", ready=None, node="node2"),  # unset ready means ready
            endpoint("10.244.1.4", ready=False, serving=True, terminating=True),
        ],
    )
    parsed = parse_slice(obj, "node1")
    assert parsed is not None
    eps = parsed.ports[("http", "TCP")]
    assert [(e.ip, e.ready, e.serving, e.terminating, e.is_local) for e in eps] == [
        ("10.244.1.2", True, True, False, True),
        ("10.244.1.3", True, True, False, False),
        ("10.244.1.4", False, True, True, True),
    ]


def test_slices_without_service_label_or_ipv4_are_ignored() -> None:
    obj = endpoint_slice("web", [endpoint("10.244.1.2")])
    del obj["metadata"]["labels"]["kubernetes.io/service-name"]
    assert parse_slice(obj, "node1") is None
    v6 = endpoint_slice("web", [endpoint("10.244.1.2")], address_type="IPv6")
    assert parse_slice(v6, "node1") is None


def test_legacy_endpoints_ready_and_not_ready() -> None:
    eps = translate_legacy(
        legacy_endpoints("web", ["10.244.1.3", "10.244.1.2"], ["10.244.1.9"]), "node1"
    )
    assert [(e.ip, e.ready) for e in eps[ServicePortName("default", "web", "http")]] == [
        ("10.244.1.2", True),
        ("10.244.1.3", True),
        ("10.244.1.9", False),
    ]


# -- service tracker --------------------------------------------------------------------------


def test_service_add_then_delete_nets_out() -> None:
    t = ServiceChangeTracker()
    svc = service("web", "10.96.0.10")
    assert t.update(None, svc)
    assert not t.update(svc, None)
    assert len(t) == 0
    assert t.drain() == {}


def test_update_that_changes_nothing_kproxy_uses_is_a_no_op() -> None:
    t = ServiceChangeTracker()
    old = service("web", "10.96.0.10")
    new = service("web", "10.96.0.10", resource_version="2", selector={"app": "web"})
    assert not t.update(old, new)
    assert len(t) == 0


def test_several_updates_collapse_to_first_previous_and_last_current() -> None:
    t = ServiceChangeTracker()
    v1 = service("web", "10.96.0.10")
    v2 = service("web", "10.96.0.10", [("http", "TCP", 81)])
    v3 = service("web", "10.96.0.10", [("http", "TCP", 82)])
    t.update(v1, v2)
    t.update(v2, v3)
    changes = t.drain()
    assert list(changes) == [WEB]
    assert changes[WEB].previous[HTTP].port == 80
    assert changes[WEB].current[HTTP].port == 82
    assert len(t) == 0


def test_update_back_to_the_start_nets_out() -> None:
    t = ServiceChangeTracker()
    v1 = service("web", "10.96.0.10")
    v2 = service("web", "10.96.0.10", [("http", "TCP", 81)])
    assert t.update(v1, v2)
    assert not t.update(v2, v1)


def test_invalid_service_counts_as_absent() -> None:
    t = ServiceChangeTracker()
    good = service("web", "10.96.0.10")
    bad = service("web", "10.96.0.10", [("http", "TCP", 0)])
    t.update(good, bad)
    assert t.drain()[WEB].current == {}


# -- endpoints tracker ------------------------------------------------------------------------


def test_slices_of_one_service_merge() -> None:
    t = EndpointsChangeTracker("node1")
    t.slice_update(endpoint_slice("web", [endpoint("10.244.1.3")], name="web-a"))
    t.slice_update(endpoint_slice("web", [endpoint("10.244.1.2")], name="web-b"))
    change = t.drain()[WEB]
    assert change.previous == {}
    assert [e.ip for e in change.current[HTTP]] == ["10.244.1.2", "10.244.1.3"]


def test_endpoint_in_two_slices_counts_once_and_ready_wins() -> None:
    t = EndpointsChangeTracker("node1")
    t.slice_update(endpoint_slice("web", [endpoint("10.244.1.2", ready=False)], name="web-a"))
    t.slice_update(endpoint_slice("web", [endpoint("10.244.1.2")], name="web-b"))
    (ep,) = t.drain()[WEB].current[HTTP]
    assert ep.ready


def test_reordered_slice_is_a_no_op() -> None:
    t = EndpointsChangeTracker("node1")
    a, b = endpoint("10.244.1.2"), endpoint("10.244.1.3")
    t.slice_update(endpoint_slice("web", [a, b]))
    t.drain()
    assert not t.slice_update(endpoint_slice("web", [b, a]))


def test_slice_delete_after_add_nets_out_and_cache_forgets_it() -> None:
    t = EndpointsChangeTracker("node1")
    s = endpoint_slice("web", [endpoint("10.244.1.2")])
    t.slice_update(s)
    assert not t.slice_update(s, removed=True)
    assert t.cache.endpoints(WEB) == {}


def test_slice_moved_to_another_service_changes_both() -> None:
    t = EndpointsChangeTracker("node1")
    old = endpoint_slice("web", [endpoint("10.244.1.2")], name="s1")
    t.slice_update(old)
    t.drain()
    new = endpoint_slice("api", [endpoint("10.244.1.2")], name="s1")
    t.slice_moved(old, new)
    changes = t.drain()
    assert changes[WEB].current == {}
    assert ("default", "api") in changes


def test_legacy_endpoints_tracker_nets_out() -> None:
    t = EndpointsChangeTracker("node1")
    e1 = legacy_endpoints("web", ["10.244.1.2"])
    assert t.endpoints_update(None, e1)
    assert not t.endpoints_update(e1, None)


# -- maps -------------------------------------------------------------------------------------


def test_service_map_apply_reports_removed_ports() -> None:
    t = ServiceChangeTracker()
    m = ServicePortMap()
    v1 = service("web", "10.96.0.10", [("http", "TCP", 80), ("dns", "UDP", 53)])
    t.update(None, v1)
    m.apply(t.drain())
    assert len(m) == 2
    t.update(v1, service("web", "10.96.0.10"))
    removed = m.apply(t.drain())
    assert set(removed) == {ServicePortName("default", "web", "dns", "UDP")}
    assert set(m) == {HTTP}


def test_endpoints_map_reports_stale_and_newly_active() -> None:
    t = EndpointsChangeTracker("node1")
    m = EndpointsMap()
    udp = [("dns", "UDP", 53)]
    dns = ServicePortName("default", "web", "dns", "UDP")
    s0 = endpoint_slice("web", [], udp)
    s1 = endpoint_slice("web", [endpoint("10.244.1.2"), endpoint("10.244.1.3")], udp)
    s2 = endpoint_slice("web", [endpoint("10.244.1.3"), endpoint("10.244.1.4", ready=False)], udp)
    t.slice_update(s0)
    m.apply(t.drain())
    t.slice_update(s1)
    first = m.apply(t.drain())
    assert first.newly_active == {dns}
    assert first.stale_endpoints == []
    t.slice_update(s2)
    second = m.apply(t.drain())
    assert second.newly_active == set()
    assert second.stale_endpoints == [
        (dns, EndpointInfo("10.244.1.2", 53, node_name="node1", is_local=True))
    ]
    assert [e.ip for e in m[dns]] == ["10.244.1.3", "10.244.1.4"]
