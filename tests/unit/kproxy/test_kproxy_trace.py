"""Packet-flow tables: what a NEW packet meets in the rendered rules, stated as behaviour.

Each case says where the packet ends (DNAT targets, REJECT/DROP, or untouched) and whether it
is masqueraded, like upstream's runPacketFlowTests. The same table runs against the rendered
text and against what real iptables-save (legacy and nft) printed for that rule set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from kproxy_objects import service
from kproxy_scenarios import (
    EXTERNAL_CLIENT,
    EXTERNAL_CLIENT_BLOCKED,
    NODE_IP,
    NODE_IP_ALT,
    NODE_IPS,
    POD,
    Scenario,
    ep,
    overall,
    spn,
)

from kproxy.changes import service_ports
from kproxy.rules.parse import Dump, parse_dump
from kproxy.rules.trace import TraceError, trace_packet, with_jump_rules
from kproxy.servicemodel import EndpointInfo, ServicePortInfo

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Flow:
    src: str
    dst: str
    port: int
    outcome: str
    masq: bool = False
    proto: str = "tcp"
    local: bool = False


OVERALL_FLOWS = [
    pytest.param(Flow(POD, "172.30.0.41", 80, "10.180.0.1:80"), id="pod-to-clusterip"),
    pytest.param(Flow("10.180.0.1", "172.30.0.41", 80, "10.180.0.1:80", True), id="hairpin"),
    pytest.param(
        Flow(EXTERNAL_CLIENT, "172.30.0.41", 80, "10.180.0.1:80", True),
        id="off-cluster-to-clusterip-is-masqueraded",
    ),
    pytest.param(Flow(POD, "172.30.0.41", 443, ""), id="wrong-port-untouched"),
    pytest.param(Flow(POD, "172.30.0.41", 80, "", proto="udp"), id="udp-to-tcp-service"),
    pytest.param(
        Flow(POD, "172.30.0.44", 80, "10.180.0.4:80, 10.180.0.5:80"),
        id="two-endpoints-both-reachable",
    ),
    pytest.param(
        Flow(EXTERNAL_CLIENT, "192.168.99.33", 80, "10.180.0.4:80, 10.180.0.5:80", True),
        id="external-ip-cluster-policy",
    ),
    pytest.param(Flow(EXTERNAL_CLIENT, NODE_IP, 3003, "10.180.0.3:80", True), id="nodeport"),
    pytest.param(
        Flow(EXTERNAL_CLIENT, NODE_IP_ALT, 3003, "10.180.0.3:80", True),
        id="nodeport-on-second-node-ip",
    ),
    pytest.param(
        Flow(NODE_IP, NODE_IP, 3003, "10.180.0.3:80", True, local=True), id="node-to-own-nodeport"
    ),
    pytest.param(
        Flow("127.0.0.1", "127.0.0.1", 3003, "", local=True), id="localhost-nodeport-not-served"
    ),
    pytest.param(Flow(EXTERNAL_CLIENT, NODE_IP, 3999, ""), id="unused-nodeport-untouched"),
    pytest.param(Flow(POD, "172.30.0.46", 80, "REJECT"), id="no-endpoints-rejected"),
    pytest.param(
        Flow(NODE_IP, "172.30.0.46", 80, "REJECT", local=True), id="no-endpoints-rejected-from-node"
    ),
    pytest.param(Flow(POD, "172.30.0.42", 80, "10.180.0.2:80"), id="etp-local-clusterip-ok"),
    pytest.param(Flow(EXTERNAL_CLIENT, NODE_IP, 3001, "DROP"), id="etp-local-no-local-ep-drops"),
    pytest.param(Flow(EXTERNAL_CLIENT, "1.2.3.4", 80, "DROP"), id="etp-local-lb-ip-drops"),
    pytest.param(
        Flow(POD, "1.2.3.4", 80, "10.180.0.2:80"), id="etp-local-pod-short-circuit-to-cluster"
    ),
    pytest.param(
        Flow(NODE_IP, "192.168.99.22", 80, "10.180.0.2:80", True, local=True),
        id="etp-local-node-traffic-masqueraded",
    ),
    pytest.param(
        Flow(EXTERNAL_CLIENT, "5.6.7.8", 80, "10.180.0.3:80", True), id="lb-source-range-allowed"
    ),
    pytest.param(
        Flow(EXTERNAL_CLIENT_BLOCKED, "5.6.7.8", 80, "DROP"), id="lb-source-range-blocked"
    ),
    pytest.param(Flow(POD, "5.6.7.8", 80, "DROP"), id="lb-pod-outside-source-range"),
    pytest.param(
        Flow(EXTERNAL_CLIENT_BLOCKED, NODE_IP, 3002, "10.180.0.3:80", True),
        id="nodeport-bypasses-source-ranges",
    ),
]


def _check(dump: Dump, flow: Flow, assume_jumps: bool = True) -> None:
    trace = trace_packet(
        dump,
        src_ip=flow.src,
        dst_ip=flow.dst,
        protocol=flow.proto,
        dst_port=flow.port,
        node_ips=NODE_IPS,
        local_src=flow.local,
        assume_jumps=assume_jumps,
    )
    detail = trace.describe(verbose=True)
    assert trace.outcome == flow.outcome, detail
    assert trace.masquerade is flow.masq, detail
    assert trace.warnings == (), detail


@pytest.fixture(scope="module")
def overall_dump() -> Dump:
    return overall().dump()


@pytest.mark.parametrize("flow", OVERALL_FLOWS)
def test_overall_flows(overall_dump: Dump, flow: Flow) -> None:
    _check(overall_dump, flow)


@pytest.mark.parametrize("variant", ["legacy", "nft"])
@pytest.mark.parametrize("flow", OVERALL_FLOWS)
def test_overall_flows_on_real_save_output(variant: str, flow: Flow) -> None:
    dump = parse_dump((DATA / f"overall_{variant}.save").read_text())
    _check(dump, flow, assume_jumps=False)  # the kernel copy has the real jump rules


def test_session_affinity_follows_the_recent_list() -> None:
    s = Scenario().add(
        spn("ns5", "svc5"),
        ServicePortInfo("172.30.0.45", 80, session_affinity_timeout=600),
        [ep("10.180.0.1"), ep("10.180.0.2"), ep("10.180.0.3")],
    )
    dump = s.dump()
    rs = s.render()
    sep = next(
        c
        for c in rs.chains("nat")
        if c.startswith("KUBE-SEP-") and rs.rules("nat", c)[-1].endswith("10.180.0.2:80")
    )

    def trace(recent: dict[str, set[str]]) -> frozenset[str]:
        return trace_packet(
            dump,
            src_ip=POD,
            dst_ip="172.30.0.45",
            protocol="tcp",
            dst_port=80,
            node_ips=NODE_IPS,
            recent=recent,
        ).destinations

    assert trace({}) == {"10.180.0.1:80", "10.180.0.2:80", "10.180.0.3:80"}
    assert trace({sep: {POD}}) == {"10.180.0.2:80"}  # this client is stuck to endpoint 2
    assert len(trace({sep: {"10.9.9.9"}})) == 3  # another client's entry does not apply


def test_three_endpoints_give_three_paths_with_the_expected_rules() -> None:
    s = Scenario().add(
        spn("ns1", "svc1"),
        ServicePortInfo("172.30.0.41", 80),
        [ep("10.180.0.1"), ep("10.180.0.2"), ep("10.180.0.3")],
    )
    trace = trace_packet(
        s.dump(), src_ip=POD, dst_ip="172.30.0.41", protocol="tcp", dst_port=80, node_ips=NODE_IPS
    )
    assert [p.dnat for p in trace.paths] == ["10.180.0.1:80", "10.180.0.2:80", "10.180.0.3:80"]
    assert all(p.hook == "FORWARD" and p.verdict == "ACCEPT" for p in trace.paths)
    assert "--probability 0.3333333333" in "".join(trace.paths[0].matched)
    assert "3 possible outcomes" in trace.describe()


def test_internal_traffic_policy_local() -> None:
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
    dump = s.dump()
    _check(dump, Flow(POD, "172.30.0.51", 80, "10.180.0.1:80"))
    _check(dump, Flow(POD, "172.30.0.52", 80, "DROP"))


def test_health_check_nodeport_is_accepted_by_its_rule() -> None:
    trace = trace_packet(
        overall().dump(),
        src_ip=EXTERNAL_CLIENT,
        dst_ip=NODE_IP,
        protocol="tcp",
        dst_port=30000,
        node_ips=NODE_IPS,
    )
    (path,) = trace.paths
    assert (path.hook, path.verdict, path.verdict_by) == (
        "INPUT",
        "ACCEPT",
        "filter/KUBE-NODEPORTS",
    )
    assert trace.outcome == ""


def test_jump_rules_are_added_in_kube_proxy_order() -> None:
    dump = with_jump_rules(overall().dump())
    forward = dump.chain("filter", "FORWARD")
    assert forward is not None
    targets = [r.args[-1] for r in forward.rules]
    # Each jump is inserted at the top in turn, so the last one listed comes first.
    assert targets == [
        "KUBE-PROXY-FIREWALL",
        "KUBE-FORWARD",
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
    ]
    real = parse_dump((DATA / "overall_nft.save").read_text()).chain("filter", "FORWARD")
    assert real is not None and [r.args[-1] for r in real.rules] == targets


def test_without_jump_rules_nothing_happens() -> None:
    trace = trace_packet(
        overall().dump(),
        src_ip=POD,
        dst_ip="172.30.0.41",
        protocol="tcp",
        dst_port=80,
        node_ips=NODE_IPS,
        assume_jumps=False,
    )
    assert trace.outcome == "" and not trace.masquerade


def test_unknown_modules_are_reported() -> None:
    dump = parse_dump(
        "*nat\n:PREROUTING ACCEPT [0:0]\n"
        "-A PREROUTING -m geoip --src-cc XX -p tcp -m tcp --dport 80 -j DNAT "
        "--to-destination 10.1.1.1:8080\nCOMMIT\n"
    )
    trace = trace_packet(
        dump, src_ip=POD, dst_ip="1.1.1.1", protocol="tcp", dst_port=80, node_ips=()
    )
    assert trace.outcome == "10.1.1.1:8080"
    assert any("geoip" in w for w in trace.warnings)


def test_jump_loops_are_reported() -> None:
    dump = parse_dump(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n"
        "-A PREROUTING -j A\n-A A -j B\n-A B -j A\nCOMMIT\n"
    )
    with pytest.raises(TraceError, match="loop"):
        trace_packet(dump, src_ip=POD, dst_ip="1.1.1.1", protocol="tcp", dst_port=80, node_ips=())


def test_policy_drop_and_return() -> None:
    dump = parse_dump(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:X - [0:0]\n"
        "-A FORWARD -j X\n-A X -d 10.0.0.0/8 -j RETURN\n-A X -j ACCEPT\nCOMMIT\n"
    )
    into_pods = trace_packet(
        dump, src_ip=EXTERNAL_CLIENT, dst_ip="10.1.2.3", protocol="udp", dst_port=53, node_ips=()
    )
    assert into_pods.outcome == "DROP"
    assert into_pods.paths[0].verdict_by == "filter/FORWARD policy"
    elsewhere = trace_packet(
        dump, src_ip=EXTERNAL_CLIENT, dst_ip="8.8.8.8", protocol="udp", dst_port=53, node_ips=()
    )
    assert elsewhere.verdicts == {"ACCEPT"} and elsewhere.paths[0].verdict_by == "filter/X"


def test_node_to_its_own_nodeport_without_endpoints_is_rejected_in_filter_input() -> None:
    # The node's packet leaves through filter OUTPUT and comes back in over loopback, where
    # KUBE-EXTERNAL-SERVICES (jumped from INPUT) rejects it: the kernel does, so must the trace.
    dump = (
        Scenario()
        .add(spn("ns1", "empty"), ServicePortInfo("172.30.0.47", 80, node_port=3007))
        .dump()
    )
    trace = trace_packet(
        dump,
        src_ip=NODE_IP,
        dst_ip=NODE_IP,
        protocol="tcp",
        dst_port=3007,
        node_ips=NODE_IPS,
        local_src=True,
    )
    assert trace.outcome == "REJECT", trace.describe(verbose=True)
    assert {p.hook for p in trace.paths} == {"INPUT"}


def _from_api(obj: dict[str, object], eps: list[EndpointInfo]) -> Dump:
    s = Scenario()
    for name, info in service_ports(obj).items():
        s.add(name, info, eps)
    return s.dump()


def test_clusterip_external_ip_with_local_policy_drops_without_a_local_endpoint() -> None:
    # Upstream treats a ClusterIP Service with externalIPs as externally accessible, so
    # externalTrafficPolicy: Local holds for traffic to the external IP.
    obj = service(
        "web", "172.30.0.48", externalIPs=["192.168.99.48"], externalTrafficPolicy="Local"
    )
    dump = _from_api(obj, [ep("10.180.0.8")])  # remote endpoint only
    _check(dump, Flow(EXTERNAL_CLIENT, "192.168.99.48", 80, "DROP"))
    _check(dump, Flow(POD, "172.30.0.48", 80, "10.180.0.8:80"))


def test_ipv6_source_range_keeps_the_service_and_filters_by_the_ipv4_ones() -> None:
    obj = service(
        "web",
        "172.30.0.49",
        [("http", "TCP", 80, 3009)],
        type_="LoadBalancer",
        loadBalancerSourceRanges=["203.0.113.0/25", "2001:db8::/64"],
    )
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "5.6.7.9"}]}}
    dump = _from_api(obj, [ep("10.180.0.9")])
    _check(dump, Flow(POD, "172.30.0.49", 80, "10.180.0.9:80"))
    _check(dump, Flow(EXTERNAL_CLIENT, "5.6.7.9", 80, "10.180.0.9:80", True))
    _check(dump, Flow(EXTERNAL_CLIENT_BLOCKED, "5.6.7.9", 80, "DROP"))
