"""Shared service/endpoint fixtures for the kproxy rule tests.

Address plan (as in upstream's proxier tests): pods 10.0.0.0/8 (endpoints 10.180.x.x), ClusterIPs
172.30.0.0/16, this node 192.168.0.2 (second address 192.168.1.2), an external client
203.0.113.2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kproxy.config import ProxyConfig
from kproxy.iptables.model import RuleSet
from kproxy.iptables.render import render
from kproxy.rules.parse import Dump, parse_dump
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName

NODE = "node1"
NODE_IP = "192.168.0.2"
NODE_IP_ALT = "192.168.1.2"
NODE_IPS = (NODE_IP, NODE_IP_ALT)
CLUSTER_CIDR = "10.0.0.0/8"
EXTERNAL_CLIENT = "203.0.113.2"
EXTERNAL_CLIENT_BLOCKED = "198.51.100.7"
POD = "10.0.0.2"

CONFIG = ProxyConfig(NODE, node_ips=NODE_IPS, cluster_cidr=CLUSTER_CIDR)


def spn(namespace: str, name: str, port: str = "p80", protocol: str = "TCP") -> ServicePortName:
    return ServicePortName(namespace, name, port, protocol)


def ep(
    ip: str,
    port: int = 80,
    *,
    local: bool = False,
    ready: bool = True,
    serving: bool = True,
    terminating: bool = False,
) -> EndpointInfo:
    return EndpointInfo(
        ip,
        port,
        ready=ready,
        serving=serving,
        terminating=terminating,
        node_name=NODE if local else "node2",
        is_local=local,
    )


@dataclass
class Scenario:
    """A set of services with their endpoints, rendered with a config."""

    services: dict[ServicePortName, ServicePortInfo] = field(default_factory=dict)
    endpoints: dict[ServicePortName, list[EndpointInfo]] = field(default_factory=dict)
    config: ProxyConfig = CONFIG

    def add(
        self, name: ServicePortName, info: ServicePortInfo, eps: Sequence[EndpointInfo] = ()
    ) -> Scenario:
        self.services[name] = info
        if eps:
            self.endpoints[name] = list(eps)
        return self

    def render(self) -> RuleSet:
        return render(self.services, self.endpoints, self.config)

    def dump(self) -> Dump:
        return parse_dump(self.render().to_restore_text())


def scenario(
    services: Mapping[ServicePortName, tuple[ServicePortInfo, Sequence[EndpointInfo]]],
    config: ProxyConfig = CONFIG,
) -> Scenario:
    s = Scenario(config=config)
    for name, (info, eps) in services.items():
        s.add(name, info, eps)
    return s


def overall() -> Scenario:
    """One of each kind of service, like upstream's TestOverallIPTablesRules."""
    s = Scenario()
    s.add(spn("ns1", "svc1"), ServicePortInfo("172.30.0.41", 80), [ep("10.180.0.1")])
    s.add(
        spn("ns2", "svc2"),
        ServicePortInfo(
            "172.30.0.42",
            80,
            node_port=3001,
            external_ips=("192.168.99.22",),
            load_balancer_ips=("1.2.3.4",),
            external_traffic_policy_local=True,
            health_check_node_port=30000,
        ),
        [ep("10.180.0.2")],  # remote only: ETP Local has no local endpoint here
    )
    s.add(
        spn("ns3", "svc3"), ServicePortInfo("172.30.0.43", 80, node_port=3003), [ep("10.180.0.3")]
    )
    s.add(
        spn("ns4", "svc4"),
        ServicePortInfo("172.30.0.44", 80, external_ips=("192.168.99.33",)),
        [ep("10.180.0.4"), ep("10.180.0.5", local=True)],
    )
    s.add(
        spn("ns5", "svc5"),
        ServicePortInfo(
            "172.30.0.45",
            80,
            node_port=3002,
            load_balancer_ips=("5.6.7.8",),
            load_balancer_source_ranges=("203.0.113.0/25",),
            session_affinity_timeout=10800,
        ),
        [ep("10.180.0.3")],
    )
    s.add(spn("ns6", "svc6"), ServicePortInfo("172.30.0.46", 80))
    return s
