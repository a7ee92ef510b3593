"""kproxy's nf_tables layout (docs/kproxy-nftables.md): pure functions from the service model
to fragments of ``table ip knet-proxy``.

One dispatch per packet: ``services`` looks ``daddr . l4proto . dport`` up in the verdict map
``service-ips`` (and ``l4proto . dport`` in ``service-nodeports`` for the node's addresses),
so the first packet costs the same at 10 and 10,000 Services. A service port's chain picks an
endpoint with ``dnat to numgen random mod N map @eps-…``: replacing an endpoint, count
unchanged, is an element change in a map whose values are not verdicts, which the kernel does
not re-validate the table for. No per-endpoint chains; hairpin masquerade goes through the set
``hairpin`` of ``endpoint . endpoint`` pairs; Services without endpoints are rejected from the
filter hooks through ``no-endpoint-services`` / ``no-endpoint-nodeports``.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Sequence

from knet.netlink import nftables as nl
from knet.netlink.nftables import Chain, Element, Expr, NftSet, Rule, Verdict
from kproxy.config import ProxyConfig
from kproxy.iptables.categorize import categorize_endpoints
from kproxy.nftables.ruleset import Fragment
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName

TABLE = "knet-proxy"
BASE = "base"  # the skeleton fragment's key
PROTO_NUMBERS = {"TCP": 6, "UDP": 17, "SCTP": 132}

SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NO_EP_SERVICES = "no-endpoint-services"
NO_EP_NODEPORTS = "no-endpoint-nodeports"
NODEPORT_IPS = "nodeport-ips"
HAIRPIN = "hairpin"
SERVICES_CHAIN = "services"
MASQ_CHAIN = "masquerading"
CHECK_CHAIN = "endpoints-check"
REJECT_CHAIN = "reject-chain"

IP_PROTO_PORT = nl.concat_type(nl.TYPE_IPADDR, nl.TYPE_INET_PROTO, nl.TYPE_INET_SERVICE)
PROTO_PORT = nl.concat_type(nl.TYPE_INET_PROTO, nl.TYPE_INET_SERVICE)
IP_PORT = nl.concat_type(nl.TYPE_IPADDR, nl.TYPE_INET_SERVICE)
IP_IP = nl.concat_type(nl.TYPE_IPADDR, nl.TYPE_IPADDR)


def ip_bytes(ip: str) -> bytes:
    return socket.inet_aton(ip)


def service_key(ip: str, protocol: str, port: int) -> bytes:
    return ip_bytes(ip) + nl.proto_bytes(PROTO_NUMBERS[protocol]) + nl.port_bytes(port)


def nodeport_key(protocol: str, port: int) -> bytes:
    return nl.proto_bytes(PROTO_NUMBERS[protocol]) + nl.port_bytes(port)


def endpoint_value(ep: EndpointInfo) -> bytes:
    return ip_bytes(ep.ip) + struct.pack("!H", ep.port) + b"\0\0"


def port_id(spn: ServicePortName, info: ServicePortInfo) -> str:
    """The readable part of a service port's chain and map names."""
    return f"{spn.namespace}/{spn.name}/{spn.protocol.lower()}/{spn.port_name or info.port}"


# --- expression sequences ------------------------------------------------------------------


def _load_daddr_proto_dport() -> tuple[Expr, ...]:
    return (
        nl.payload(nl.NETWORK_HEADER, 16, 4, nl.REG32_00),
        nl.meta_load(nl.META_L4PROTO, nl.REG32_01),
        nl.payload(nl.TRANSPORT_HEADER, 2, 2, nl.REG32_02),
    )


def _nodeport_dispatch(vmap: str) -> tuple[Expr, ...]:
    return (
        nl.payload(nl.NETWORK_HEADER, 16, 4),
        nl.lookup(NODEPORT_IPS),
        nl.meta_load(nl.META_L4PROTO, nl.REG32_00),
        nl.payload(nl.TRANSPORT_HEADER, 2, 2, nl.REG32_01),
        nl.lookup(vmap, nl.REG32_00, nl.REG_VERDICT),
    )


def mark_for_masquerade(bit: int) -> tuple[Expr, ...]:
    """meta mark set mark | bit."""
    mark = 1 << bit
    return (
        nl.meta_load(nl.META_MARK),
        nl.bitwise(nl.u32_host(0xFFFFFFFF ^ mark), nl.u32_host(mark)),
        nl.meta_store(nl.META_MARK),
    )


def _source_not_in(cidr: str) -> tuple[Expr, ...]:
    net = ipaddress.IPv4Network(cidr, strict=False)
    return (
        nl.payload(nl.NETWORK_HEADER, 12, 4),
        nl.bitwise(net.netmask.packed, b"\0\0\0\0"),
        nl.cmp(nl.CMP_NEQ, net.network_address.packed),
    )


def _masquerade_marked(bit: int, random_fully: bool) -> tuple[Expr, ...]:
    mark = 1 << bit
    return (
        nl.meta_load(nl.META_MARK),
        nl.bitwise(nl.u32_host(mark), nl.u32_host(0)),
        nl.cmp(nl.CMP_NEQ, nl.u32_host(0)),
        nl.meta_load(nl.META_MARK),
        nl.bitwise(nl.u32_host(0xFFFFFFFF ^ mark), nl.u32_host(0)),
        nl.meta_store(nl.META_MARK),
        nl.masquerade(random_fully),
    )


# --- fragments -----------------------------------------------------------------------------


def _vmap(name: str, key_type: int, key_len: int) -> NftSet:
    return NftSet(name, key_type, key_len, nl.TYPE_VERDICT)


def base_fragment(config: ProxyConfig) -> Fragment:
    """The skeleton: hooks, dispatch maps, masquerading, the no-endpoint checks."""
    hooks = (
        (Chain("nat-prerouting", nl.PREROUTING, -100, "nat"), SERVICES_CHAIN),
        (Chain("nat-output", nl.OUTPUT, -100, "nat"), SERVICES_CHAIN),
        (Chain("nat-postrouting", nl.POSTROUTING, 100, "nat"), MASQ_CHAIN),
        (Chain("filter-input", nl.INPUT, -10), CHECK_CHAIN),
        (Chain("filter-forward", nl.FORWARD, -10), CHECK_CHAIN),
        (Chain("filter-output", nl.OUTPUT, -10), CHECK_CHAIN),
    )
    chains: list[tuple[Chain, tuple[Rule, ...]]] = [
        (c, (Rule(c.name, (nl.verdict(nl.JUMP, to),)),)) for c, to in hooks
    ]
    dispatch = _load_daddr_proto_dport()
    chains.append(
        (
            Chain(SERVICES_CHAIN),
            (
                Rule(SERVICES_CHAIN, (*dispatch, nl.lookup(SERVICE_IPS, nl.REG32_00, 0))),
                Rule(SERVICES_CHAIN, _nodeport_dispatch(SERVICE_NODEPORTS)),
            ),
        )
    )
    chains.append(
        (
            Chain(CHECK_CHAIN),
            (
                Rule(CHECK_CHAIN, (*dispatch, nl.lookup(NO_EP_SERVICES, nl.REG32_00, 0))),
                Rule(CHECK_CHAIN, _nodeport_dispatch(NO_EP_NODEPORTS)),
            ),
        )
    )
    masq = config.masquerade_random_fully
    hairpin = (nl.payload(nl.NETWORK_HEADER, 12, 8), nl.lookup(HAIRPIN), nl.masquerade(masq))
    chains.append(
        (
            Chain(MASQ_CHAIN),
            (
                Rule(MASQ_CHAIN, _masquerade_marked(config.masquerade_bit, masq)),
                Rule(MASQ_CHAIN, hairpin),
            ),
        )
    )
    chains.append((Chain(REJECT_CHAIN), (Rule(REJECT_CHAIN, (nl.reject_icmp(),)),)))
    sets = (
        _vmap(SERVICE_IPS, IP_PROTO_PORT, 12),
        _vmap(SERVICE_NODEPORTS, PROTO_PORT, 8),
        _vmap(NO_EP_SERVICES, IP_PROTO_PORT, 12),
        _vmap(NO_EP_NODEPORTS, PROTO_PORT, 8),
        NftSet(NODEPORT_IPS, nl.TYPE_IPADDR, 4),
        NftSet(HAIRPIN, IP_IP, 8),
    )
    node_ips = config.nodeport_ips() or config.node_ips
    elements = tuple(Element(NODEPORT_IPS, ip_bytes(ip)) for ip in node_ips)
    return Fragment(tuple(chains), sets, elements)


def service_fragment(
    config: ProxyConfig,
    spn: ServicePortName,
    info: ServicePortInfo,
    endpoints: Sequence[EndpointInfo],
) -> Fragment:
    """One service port: its chains and endpoint map, and its entries in the shared maps."""
    pid = port_id(spn, info)
    cat = categorize_endpoints(info, endpoints)
    eps = cat.cluster
    key = service_key(info.cluster_ip, info.protocol, info.port)
    if not eps:
        reject = Verdict(nl.GOTO, REJECT_CHAIN)
        elements = [Element(NO_EP_SERVICES, key, reject)]
        if info.node_port:
            np_key = nodeport_key(info.protocol, info.node_port)
            elements.append(Element(NO_EP_NODEPORTS, np_key, reject))
        return Fragment(elements=tuple(elements))
    svc, ext, emap = f"svc-{pid}", f"ext-{pid}", f"eps-{pid}"
    rules: list[Rule] = []
    if config.masquerade_all:
        rules.append(Rule(svc, mark_for_masquerade(config.masquerade_bit)))
    elif config.cluster_cidr:
        mark = mark_for_masquerade(config.masquerade_bit)
        rules.append(Rule(svc, (*_source_not_in(config.cluster_cidr), *mark)))
    pick = (
        nl.numgen_random(len(eps)),
        nl.lookup(emap, nl.REG_1, nl.REG_1),
        nl.dnat(nl.REG32_00, nl.REG32_01),
    )
    rules.append(Rule(svc, pick))
    chains = [(Chain(svc), tuple(rules))]
    elements = [Element(SERVICE_IPS, key, Verdict(nl.GOTO, svc))]
    elements += [Element(emap, nl.u32_host(i), endpoint_value(ep)) for i, ep in enumerate(eps)]
    elements += [Element(HAIRPIN, ip_bytes(ep.ip) * 2) for ep in eps]
    if info.node_port:
        ext_rules = (
            Rule(ext, mark_for_masquerade(config.masquerade_bit)),
            Rule(ext, (nl.verdict(nl.GOTO, svc),)),
        )
        chains.append((Chain(ext), ext_rules))
        np_key = nodeport_key(info.protocol, info.node_port)
        elements.append(Element(SERVICE_NODEPORTS, np_key, Verdict(nl.GOTO, ext)))
    sets = (NftSet(emap, nl.TYPE_INTEGER, 4, IP_PORT, 8),)
    return Fragment(tuple(chains), sets, tuple(elements))
