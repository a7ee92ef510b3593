"""Chain names: the same hashes upstream kube-proxy computes (values from its own tests)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kproxy.rules import names
from kproxy.servicemodel import ServicePortName


def _reference_hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest())[:16].decode()


@pytest.mark.parametrize(
    ("namespace", "name", "chain"),
    [
        pytest.param("ns1", "svc1", "KUBE-SVC-XPGD46QRK7WJZT7O", id="ns1/svc1"),
        pytest.param("ns2", "svc2", "KUBE-SVC-GNZBNJ2PO5MGZ6GT", id="ns2/svc2"),
        pytest.param("ns3", "svc3", "KUBE-SVC-X27LE4BHSL4DOUIK", id="ns3/svc3"),
        pytest.param("ns4", "svc4", "KUBE-SVC-4SW47YFZTEDKD3PK", id="ns4/svc4"),
        pytest.param("ns5", "svc5", "KUBE-SVC-NUKIZ6OKUXPJNT4C", id="ns5/svc5"),
    ],
)
def test_service_chain_names_match_upstream(namespace: str, name: str, chain: str) -> None:
    chains = names.service_chains(ServicePortName(namespace, name, "p80", "TCP"))
    suffix = chain.removeprefix("KUBE-SVC-")
    assert chains.cluster == chain
    assert chains.local == "KUBE-SVL-" + suffix
    assert chains.external == "KUBE-EXT-" + suffix
    assert chains.firewall == "KUBE-FW-" + suffix


@pytest.mark.parametrize(
    ("namespace", "name", "endpoint", "chain"),
    [
        pytest.param("ns1", "svc1", "10.180.0.1:80", "KUBE-SEP-SXIVWICOYRO3J4NJ", id="ns1-ep1"),
        pytest.param("ns2", "svc2", "10.180.0.2:80", "KUBE-SEP-RS4RBKLTHTF2IUXJ", id="ns2-ep2"),
        pytest.param("ns3", "svc3", "10.180.0.3:80", "KUBE-SEP-OYPFS5VJICHGATKP", id="ns3-ep3"),
        pytest.param("ns4", "svc4", "10.180.0.4:80", "KUBE-SEP-UKSFD7AGPMPPLUHC", id="ns4-ep4"),
        pytest.param("ns4", "svc4", "10.180.0.5:80", "KUBE-SEP-C6EBXVWJJZMIWKLZ", id="ns4-ep5"),
        pytest.param("ns5", "svc5", "10.180.0.3:80", "KUBE-SEP-I77PXRDZVX7PMWMN", id="ns5-ep3"),
    ],
)
def test_endpoint_chain_names_match_upstream(
    namespace: str, name: str, endpoint: str, chain: str
) -> None:
    assert names.endpoint_chain(ServicePortName(namespace, name, "p80"), endpoint) == chain


def test_protocol_is_part_of_the_hash() -> None:
    tcp = names.service_chains(ServicePortName("ns1", "dns", "53", "TCP"))
    udp = names.service_chains(ServicePortName("ns1", "dns", "53", "UDP"))
    assert tcp.cluster != udp.cluster
    assert tcp.cluster == "KUBE-SVC-" + _reference_hash("ns1/dns:53tcp")


@given(st.text(max_size=80))
def test_fast_hash_equals_base32_of_sha256(text: str) -> None:
    assert names.endpoint_chain_for(text, "", "") == "KUBE-SEP-" + _reference_hash(text)


def test_names_fit_iptables_limit() -> None:
    chains = names.service_chains(ServicePortName("a" * 63, "b" * 63, "c" * 15, "SCTP"))
    for chain in chains:
        names.check_chain_name(chain)
        assert len(chain) <= names.MAX_CHAIN_NAME


@pytest.mark.parametrize(
    ("chain", "owned"),
    [
        pytest.param("KUBE-SVC-XPGD46QRK7WJZT7O", True, id="svc"),
        pytest.param("KUBE-SVL-XPGD46QRK7WJZT7O", True, id="svl"),
        pytest.param("KUBE-EXT-XPGD46QRK7WJZT7O", True, id="ext"),
        pytest.param("KUBE-FW-XPGD46QRK7WJZT7O", True, id="fw"),
        pytest.param("KUBE-SEP-SXIVWICOYRO3J4NJ", True, id="sep"),
        pytest.param("KUBE-SERVICES", False, id="top-level"),
        pytest.param("KUBE-MARK-MASQ", False, id="mark-masq"),
        pytest.param("DOCKER", False, id="foreign"),
        pytest.param("KUBE-SVCX", False, id="prefix-lookalike"),
    ],
)
def test_is_owned_chain(chain: str, owned: bool) -> None:
    assert names.is_owned_chain(chain) is owned


@pytest.mark.parametrize("bad", ["", "X" * 29, "-bad", "!bad", "has space"])
def test_check_chain_name_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        names.check_chain_name(bad)
