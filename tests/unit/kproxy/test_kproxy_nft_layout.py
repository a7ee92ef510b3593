"""nftables mode's layout (kproxy.nftables.layout): which chains, maps and elements a service
port gets, per traffic policy, endpoint state and source ranges."""

from __future__ import annotations

from knet.netlink import nftables as nl
from kproxy.config import ProxyConfig
from kproxy.nftables import layout as lay
from kproxy.nftables.ruleset import Fragment
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName

CONFIG = ProxyConfig("n1", node_ips=("10.0.0.1",), cluster_cidr="10.244.0.0/16")
SPN = ServicePortName("ns", "web")
PID = "ns/web/tcp/80"
LOCAL = EndpointInfo("10.244.0.5", 8080, node_name="n1", is_local=True)
REMOTE = EndpointInfo("10.244.1.5", 8080, node_name="n2")


def frag(info: ServicePortInfo, *eps: EndpointInfo) -> Fragment:
    return lay.service_fragment(CONFIG, SPN, info, eps)


def chains(f: Fragment) -> set[str]:
    return {c.name for c, _ in f.chains}


def entries(f: Fragment, set_name: str) -> dict[bytes, object]:
    return {e.key: e.value for e in f.elements if e.set == set_name}


def key(ip: str, port: int = 80) -> bytes:
    return lay.service_key(ip, "TCP", port)


def test_clusterip_dispatches_to_its_chain_and_maps_endpoints_by_index() -> None:
    f = frag(ServicePortInfo("10.96.0.10", 80), LOCAL, REMOTE)
    assert chains(f) == {f"svc-{PID}"}
    assert entries(f, lay.SERVICE_IPS) == {key("10.96.0.10"): nl.Verdict(nl.GOTO, f"svc-{PID}")}
    assert entries(f, f"eps-{PID}") == {
        nl.u32_host(0): lay.endpoint_value(LOCAL),
        nl.u32_host(1): lay.endpoint_value(REMOTE),
    }
    assert set(entries(f, lay.HAIRPIN)) == {lay.ip_bytes(ep.ip) * 2 for ep in (LOCAL, REMOTE)}
    # One rule: off-cluster sources marked for masquerade; one rule: numgen mod 2 -> dnat.
    ((_, rules),) = f.chains
    assert len(rules) == 2 and nl.numgen_random(2) in rules[1].exprs


def test_no_endpoints_rejects_and_no_local_endpoints_drops() -> None:
    info = ServicePortInfo("10.96.0.10", 80, node_port=30080)
    f = frag(info)
    assert chains(f) == set() and not entries(f, lay.SERVICE_IPS)
    reject = nl.Verdict(nl.GOTO, lay.REJECT_CHAIN)
    assert entries(f, lay.NO_EP_SERVICES) == {key("10.96.0.10"): reject}
    assert entries(f, lay.NO_EP_NODEPORTS) == {lay.nodeport_key("TCP", 30080): reject}
    itp = ServicePortInfo("10.96.0.10", 80, internal_traffic_policy_local=True)
    f = frag(itp, REMOTE)
    assert entries(f, lay.NO_EP_SERVICES) == {key("10.96.0.10"): nl.Verdict(nl.DROP)}


def test_external_traffic_policy_local_uses_local_endpoints_and_no_masquerade() -> None:
    info = ServicePortInfo("10.96.0.10", 80, node_port=30080, external_traffic_policy_local=True)
    f = frag(info, LOCAL, REMOTE)
    assert chains(f) == {f"svc-{PID}", f"svl-{PID}", f"ext-{PID}"}
    assert entries(f, f"epl-{PID}") == {nl.u32_host(0): lay.endpoint_value(LOCAL)}
    ext = dict(f.chains)[next(c for c, _ in f.chains if c.name == f"ext-{PID}")]
    # pods -> svc (Cluster), the node's own traffic -> marked + svc, the rest -> svl unmarked.
    assert ext[-1].exprs == (nl.verdict(nl.GOTO, f"svl-{PID}"),)
    assert any(nl.fib_saddr_type() in r.exprs for r in ext)
    assert not any(nl.meta_store(nl.META_MARK) in r.exprs for r in (ext[0], ext[-1]))
    # Only remote endpoints: external traffic is dropped, cluster traffic still served.
    f = frag(info, REMOTE)
    assert entries(f, lay.NO_EP_NODEPORTS) == {lay.nodeport_key("TCP", 30080): nl.Verdict(nl.DROP)}
    assert key("10.96.0.10") in entries(f, lay.SERVICE_IPS)


def test_load_balancer_source_ranges_go_through_a_firewall_chain() -> None:
    info = ServicePortInfo(
        "10.96.0.10",
        80,
        load_balancer_ips=("192.0.2.60",),
        load_balancer_source_ranges=("203.0.113.0/24", "10.0.0.0/8"),
    )
    f = frag(info, LOCAL)
    fw = next(rules for c, rules in f.chains if c.name == f"fw-{PID}")
    # One rule per range, plus the LB IP itself since a range holds the node's IP.
    assert len(fw) == 3
    assert all(r.exprs[-1] == nl.verdict(nl.GOTO, f"ext-{PID}") for r in fw)
    assert entries(f, lay.SERVICE_IPS)[key("192.0.2.60")] == nl.Verdict(nl.GOTO, f"fw-{PID}")
    # What the firewall chain does not let through is not DNATed, and the filter drops it.
    assert entries(f, lay.NO_EP_SERVICES) == {key("192.0.2.60"): nl.Verdict(nl.DROP)}


def test_session_affinity_gets_a_timed_dynamic_map_renamed_on_endpoint_change() -> None:
    info = ServicePortInfo("10.96.0.10", 80, session_affinity_timeout=30)
    a = frag(info, LOCAL, REMOTE)
    (aff,) = [s for s in a.sets if s.name.startswith("aff-")]
    assert aff.timeout_ms == 30_000 and aff.flags & nl.SET_EVAL
    b = frag(info, LOCAL, EndpointInfo("10.244.2.5", 8080))
    assert {s.name for s in b.sets} != {s.name for s in a.sets}
    assert frag(info, LOCAL, REMOTE) == a  # deterministic: no change, no operations


def test_an_endpoint_swap_changes_only_map_elements() -> None:
    info = ServicePortInfo("10.96.0.10", 80)
    a, b = frag(info, LOCAL, REMOTE), frag(info, LOCAL, EndpointInfo("10.244.2.5", 8080))
    assert a.chains == b.chains and a.sets == b.sets and a.elements != b.elements


def test_the_kube_proxy_reference_layout_has_a_chain_per_endpoint() -> None:
    from kproxy.nftables import kube_layout

    info = ServicePortInfo("10.96.0.10", 80)
    f = kube_layout.service_fragment(CONFIG, SPN, info, [LOCAL, REMOTE])
    names = chains(f)
    assert len(names) == 3 and sum(n.startswith("endpoint-") for n in names) == 2
    (vmap,) = f.sets
    assert vmap.data_type == nl.TYPE_VERDICT
    targets = {e.value for e in f.elements if e.set == vmap.name}
    assert targets == {nl.Verdict(nl.GOTO, n) for n in names if n.startswith("endpoint-")}
