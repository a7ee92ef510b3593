"""The internal model validates its input and prints names as upstream does."""

from __future__ import annotations

import pytest

from kproxy.config import ProxyConfig
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName


def test_service_port_name_string() -> None:
    assert str(ServicePortName("ns1", "svc1", "p80")) == "ns1/svc1:p80"
    # Upstream's ServicePortName.String() omits the colon for an unnamed port.
    assert str(ServicePortName("ns1", "svc1")) == "ns1/svc1"


@pytest.mark.parametrize(
    ("namespace", "name", "port", "protocol"),
    [
        pytest.param("", "svc", "", "TCP", id="empty-namespace"),
        pytest.param("ns", "Svc", "", "TCP", id="uppercase-name"),
        pytest.param("ns", "svc x", "", "TCP", id="space-in-name"),
        pytest.param("ns", "svc", 'p"1', "TCP", id="quote-in-port"),
        pytest.param("ns", "svc", "p80", "tcp", id="lowercase-protocol"),
        pytest.param("ns", "svc", "p80", "ICMP", id="unknown-protocol"),
    ],
)
def test_service_port_name_rejects(namespace: str, name: str, port: str, protocol: str) -> None:
    with pytest.raises(ValueError):
        ServicePortName(namespace, name, port, protocol)


def test_endpoint_string_and_equality() -> None:
    a = EndpointInfo("10.180.0.1", 80)
    assert str(a) == a.endpoint == "10.180.0.1:80"
    assert a == EndpointInfo("10.180.0.1", 80)
    assert a != EndpointInfo("10.180.0.1", 80, ready=False)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: ServicePortInfo("172.30.0.300", 80), id="bad-cluster-ip"),
        pytest.param(lambda: ServicePortInfo("172.30.0.1", 0), id="port-zero"),
        pytest.param(lambda: ServicePortInfo("172.30.0.1", 70000), id="port-too-big"),
        pytest.param(lambda: ServicePortInfo("172.30.0.1", 80, node_port=-1), id="bad-nodeport"),
        pytest.param(
            lambda: ServicePortInfo("172.30.0.1", 80, session_affinity_timeout=0), id="affinity-0"
        ),
        pytest.param(
            lambda: ServicePortInfo("172.30.0.1", 80, session_affinity_timeout=86401),
            id="affinity-over-a-day",
        ),
        pytest.param(
            lambda: ServicePortInfo("172.30.0.1", 80, external_ips=("nope",)), id="bad-external-ip"
        ),
        pytest.param(
            lambda: ServicePortInfo("172.30.0.1", 80, load_balancer_source_ranges=("1.2.3/99",)),
            id="bad-source-range",
        ),
        pytest.param(lambda: EndpointInfo("10.0.0.1", 0), id="endpoint-port-zero"),
        pytest.param(lambda: EndpointInfo("::1", 80), id="ipv6-endpoint"),
    ],
)
def test_bad_values_are_refused(make: object) -> None:
    assert callable(make)
    with pytest.raises(ValueError):
        make()


def test_traffic_policy_properties() -> None:
    plain = ServicePortInfo("172.30.0.1", 80)
    assert not plain.externally_accessible
    assert plain.uses_cluster_endpoints and not plain.uses_local_endpoints
    # ETP Local only counts when the service is reachable from outside.
    etp_only = ServicePortInfo("172.30.0.1", 80, external_traffic_policy_local=True)
    assert not etp_only.external_policy_local
    etp = ServicePortInfo("172.30.0.1", 80, node_port=30000, external_traffic_policy_local=True)
    assert etp.external_policy_local and etp.uses_local_endpoints and etp.uses_cluster_endpoints
    itp = ServicePortInfo("172.30.0.1", 80, internal_traffic_policy_local=True)
    assert itp.uses_local_endpoints and not itp.uses_cluster_endpoints


def test_proxy_config() -> None:
    config = ProxyConfig("node1", ("192.168.0.2", "10.1.0.2", "127.0.0.1"))
    assert config.masquerade_mark == "0x4000"
    assert ProxyConfig("node1", masquerade_bit=0).masquerade_mark == "0x1"
    assert config.nodeport_ips() == ()
    picked = ProxyConfig(
        "node1", ("192.168.0.2", "10.1.0.2", "127.0.0.1"), nodeport_addresses=("0.0.0.0/0",)
    ).nodeport_ips()
    assert picked == ("192.168.0.2", "10.1.0.2")  # loopback never serves NodePorts


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: ProxyConfig(""), id="empty-node-name"),
        pytest.param(lambda: ProxyConfig("n", ("1.2.3",)), id="bad-node-ip"),
        pytest.param(lambda: ProxyConfig("n", cluster_cidr="10.0.0.0/33"), id="bad-cidr"),
        pytest.param(lambda: ProxyConfig("n", masquerade_bit=32), id="bad-mark-bit"),
        pytest.param(lambda: ProxyConfig("n", nodeport_addresses=("x",)), id="bad-np-cidr"),
    ],
)
def test_proxy_config_rejects(make: object) -> None:
    assert callable(make)
    with pytest.raises(ValueError):
        make()
