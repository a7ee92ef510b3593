"""Which UDP conntrack entries go after a sync, and the conntrack argv that deletes them."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from kproxy.conntrack import Conntrack, FlowFilter, stale_flows
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName

DNS = ServicePortName("kube-system", "dns", "dns", "UDP")
WEB = ServicePortName("default", "web", "http", "TCP")
SERVICES = {
    DNS: ServicePortInfo("10.96.0.10", 53, "UDP", node_port=30053, external_ips=("192.0.2.5",)),
    WEB: ServicePortInfo("10.96.0.20", 80),
}


def test_removed_udp_endpoint_clears_each_service_address() -> None:
    flows = stale_flows([(DNS, EndpointInfo("10.244.1.2", 5353))], [], SERVICES)
    assert set(flows) == set(
        [
            FlowFilter("udp", orig_dst="10.96.0.10", dst_nat="10.244.1.2"),
            FlowFilter("udp", orig_dst="192.0.2.5", dst_nat="10.244.1.2"),
            FlowFilter("udp", orig_port_dst=30053, dst_nat="10.244.1.2"),
        ]
    )


def test_tcp_and_unknown_services_need_nothing() -> None:
    gone = ServicePortName("default", "gone", "", "UDP")
    assert stale_flows([(WEB, EndpointInfo("10.244.1.2", 80))], [WEB, gone], SERVICES) == []


def test_newly_active_service_clears_entries_to_its_addresses() -> None:
    flows = stale_flows([], [DNS], SERVICES)
    assert FlowFilter("udp", orig_dst="10.96.0.10") in flows
    assert FlowFilter("udp", orig_port_dst=30053) in flows


def test_argv() -> None:
    f = FlowFilter("udp", orig_dst="10.96.0.10", dst_nat="10.244.1.2")
    assert f.argv() == ["-D", "-p", "udp", "--orig-dst", "10.96.0.10", "--dst-nat", "10.244.1.2"]


def test_conntrack_runs_in_the_namespace_and_tolerates_no_match() -> None:
    calls: list[list[str]] = []

    def runner(
        argv: Sequence[str], stdin: str | None, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        calls.append(list(argv))
        if "10.244.1.9" in argv:
            return subprocess.CompletedProcess(
                argv,
                1,
                "",
                "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n",
            )
        if "10.244.1.8" in argv:
            return subprocess.CompletedProcess(
                argv, 1, "", "Operation failed: invalid parameters\n"
            )
        return subprocess.CompletedProcess(argv, 0, "", "1 flow entries have been deleted.\n")

    ct = Conntrack(netns="kt-node", runner=runner)
    flows = [
        FlowFilter("udp", orig_dst="10.96.0.10", dst_nat=ip)
        for ip in ("10.244.1.2", "10.244.1.9", "10.244.1.8")
    ]
    assert ct.delete(flows) == 2
    assert calls[0][:5] == ["nsenter", "--net=/run/netns/kt-node", "--", "conntrack", "-D"]
