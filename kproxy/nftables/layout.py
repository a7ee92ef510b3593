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

import hashlib
import ipaddress
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from knet.netlink import nftables as nl
from knet.netlink.nftables import Chain, Element, Expr, NftSet, Rule, Verdict
from kproxy.config import ProxyConfig
from kproxy.iptables.categorize import Categorized, categorize_endpoints
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


def _source_matches(cidr: str, op: int) -> tuple[Expr, ...]:
    """ip saddr (op) cidr, with op CMP_EQ or CMP_NEQ."""
    net = ipaddress.IPv4Network(cidr, strict=False)
    return (
        nl.payload(nl.NETWORK_HEADER, 12, 4),
        nl.bitwise(net.netmask.packed, b"\0\0\0\0"),
        nl.cmp(op, net.network_address.packed),
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
    hairpin = (
        nl.payload(nl.NETWORK_HEADER, 12, 4, nl.REG32_00),
        nl.payload(nl.NETWORK_HEADER, 16, 4, nl.REG32_01),
        nl.lookup(HAIRPIN, nl.REG32_00),
        nl.masquerade(masq),
    )
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


@dataclass(frozen=True)
class _Plan:
    """What one service port needs, decided as iptables mode's renderer (upstream) does."""

    cat: Categorized
    internal: str | None  # the chain internal traffic goes to (svc- or svl-), None: none
    external: str | None  # the chain the EXT chain ends in, None: no endpoints for it
    has_endpoints: bool
    uses_ext: bool
    uses_fw: bool


def _plan(info: ServicePortInfo, cat: Categorized, pid: str) -> _Plan:
    cluster = f"svc-{pid}" if cat.cluster and info.uses_cluster_endpoints else None
    local = f"svl-{pid}" if cat.local and info.uses_local_endpoints else None
    has_any = cat.has_any
    internal = (local if info.internal_traffic_policy_local else cluster) if has_any else None
    external = (local if info.external_policy_local else cluster) if has_any else None
    uses_fw = bool(has_any and info.load_balancer_ips and info.load_balancer_source_ranges)
    return _Plan(cat, internal, external, has_any, has_any and info.externally_accessible, uses_fw)


def _entries(info: ServicePortInfo, plan: _Plan, pid: str) -> list[Element]:
    """The service port's elements in the dispatch maps and the no-endpoint maps."""
    proto, port = info.protocol, info.port
    miss = Verdict(nl.GOTO, REJECT_CHAIN) if not plan.has_endpoints else Verdict(nl.DROP)
    ext = Verdict(nl.GOTO, f"ext-{pid}")
    out: list[Element] = []
    if plan.internal:
        out.append(
            Element(
                SERVICE_IPS,
                service_key(info.cluster_ip, proto, port),
                Verdict(nl.GOTO, plan.internal),
            )
        )
    else:
        out.append(Element(NO_EP_SERVICES, service_key(info.cluster_ip, proto, port), miss))
    lb = Verdict(nl.GOTO, f"fw-{pid}") if plan.uses_fw else ext
    for ips, verdict in ((info.external_ips, ext), (info.load_balancer_ips, lb)):
        for ip in ips:
            if plan.uses_ext:
                out.append(Element(SERVICE_IPS, service_key(ip, proto, port), verdict))
            if not plan.external or (plan.uses_fw and verdict is lb):
                # Not DNATed (no endpoint for external traffic, or a source the firewall
                # chain did not let through): the filter hooks drop or reject it.
                out.append(Element(NO_EP_SERVICES, service_key(ip, proto, port), miss))
    if info.node_port:
        key = nodeport_key(proto, info.node_port)
        if plan.uses_ext:
            out.append(Element(SERVICE_NODEPORTS, key, ext))
        if not plan.external:
            out.append(Element(NO_EP_NODEPORTS, key, miss))
    return out


def _affinity_map(pid: str, timeout: int, eps: Sequence[EndpointInfo]) -> str:
    """Named after the endpoints and timeout: any change starts affinity afresh (a new map)."""
    digest = hashlib.sha256(repr((timeout, [e.endpoint for e in eps])).encode()).hexdigest()
    return f"aff-{digest[:12]}-{pid}"


def _policy_chain(
    name: str, info: ServicePortInfo, eps: Sequence[EndpointInfo], mark: tuple[Expr, ...]
) -> Fragment:
    """svc-/svl-: [masquerade mark], [affinity], a random endpoint from the chain's map."""
    emap = ("eps" if name.startswith("svc") else "epl") + name[3:]
    rules = [Rule(name, mark)] if mark else []
    sets = [NftSet(emap, nl.TYPE_MARK, 4, IP_PORT, 8)]
    # The protocol is known from the dispatch; matched again so nft can print the rules as
    # input it accepts ("dnat ... to ip . port" must follow a transport protocol match).
    proto = (
        nl.meta_load(nl.META_L4PROTO),
        nl.cmp(nl.CMP_EQ, bytes([PROTO_NUMBERS[info.protocol]])),
    )
    pick = (*proto, nl.numgen_random(len(eps)), nl.lookup(emap, nl.REG_1, nl.REG32_00))
    timeout = info.session_affinity_timeout
    if timeout is None:
        rules.append(Rule(name, (*pick, nl.dnat(nl.REG32_00, nl.REG32_01))))
    else:
        # The affinity map remembers the endpoint's index for a client address; the dnat
        # goes through the endpoint map as for a new client (and ``nft list`` can read it).
        aff, ms = _affinity_map(name[4:], timeout, eps), timeout * 1000
        sets.append(NftSet(aff, nl.TYPE_IPADDR, 4, nl.TYPE_MARK, 4, nl.SET_EVAL, ms))
        saddr = nl.payload(nl.NETWORK_HEADER, 12, 4, nl.REG32_00)
        # The address is loaded and looked up again after the dynset rather than reusing its
        # registers: nft's decoder takes each register's value as used up once read.
        via_map = (
            nl.payload(nl.NETWORK_HEADER, 12, 4, nl.REG32_04),
            nl.lookup(aff, nl.REG32_04, nl.REG32_05),
            nl.lookup(emap, nl.REG32_05, nl.REG32_02),
            nl.dnat(nl.REG32_02, nl.REG32_03),
        )
        known = (
            *proto,
            saddr,
            nl.lookup(aff, nl.REG32_00, nl.REG32_01),
            nl.dynset_map(aff, nl.DYNSET_UPDATE, nl.REG32_00, nl.REG32_01, ms),
            *via_map,
        )
        new = (
            *proto,
            saddr,
            nl.numgen_random(len(eps), nl.REG32_01),
            nl.dynset_map(aff, nl.DYNSET_ADD, nl.REG32_00, nl.REG32_01, ms),
            *via_map,
        )
        rules += [Rule(name, known), Rule(name, new)]
    elements = [Element(emap, nl.u32_host(i), endpoint_value(ep)) for i, ep in enumerate(eps)]
    elements += [Element(HAIRPIN, ip_bytes(ep.ip) * 2) for ep in eps]
    return Fragment(((Chain(name), tuple(rules)),), tuple(sets), tuple(elements))


def _internal_mark(config: ProxyConfig) -> tuple[Expr, ...]:
    # Off-cluster traffic to a ClusterIP is masqueraded; pod traffic keeps its source.
    if config.masquerade_all:
        return mark_for_masquerade(config.masquerade_bit)
    if config.cluster_cidr:
        return (
            *_source_matches(config.cluster_cidr, nl.CMP_NEQ),
            *mark_for_masquerade(config.masquerade_bit),
        )
    return ()


def _ext_chain(
    config: ProxyConfig, info: ServicePortInfo, plan: _Plan, pid: str
) -> tuple[Rule, ...]:
    name, cluster = f"ext-{pid}", f"svc-{pid}" if plan.cat.cluster else None
    mark = mark_for_masquerade(config.masquerade_bit)
    rules: list[Rule] = []
    if not info.external_policy_local:
        rules.append(Rule(name, mark))  # endpoints may be elsewhere: replies must come back
    elif cluster:
        if config.cluster_cidr:  # pods reaching an external address: Cluster policy
            pod = _source_matches(config.cluster_cidr, nl.CMP_EQ)
            rules.append(Rule(name, (*pod, nl.verdict(nl.GOTO, cluster))))
        local = (nl.fib_saddr_type(), nl.cmp(nl.CMP_EQ, nl.u32_host(nl.RTN_LOCAL)))
        rules.append(Rule(name, (*local, *mark, nl.verdict(nl.GOTO, cluster))))
    if plan.external:
        rules.append(Rule(name, (nl.verdict(nl.GOTO, plan.external),)))
    return tuple(rules)


def _fw_chain(config: ProxyConfig, info: ServicePortInfo, pid: str) -> tuple[Rule, ...]:
    """Sources allowed to a LoadBalancer IP; others fall through, undNATed, to the filter's
    drop. CIDRs of the other family are ignored, as upstream does."""
    name, ext = f"fw-{pid}", nl.verdict(nl.GOTO, f"ext-{pid}")
    nets = [ipaddress.ip_network(c.strip(), strict=False) for c in info.load_balancer_source_ranges]
    v4 = [n for n in nets if isinstance(n, ipaddress.IPv4Network)]
    if any(ipaddress.IPv4Address(ip) in n for n in v4 for ip in config.node_ips):
        v4 += [ipaddress.IPv4Network(ip) for ip in info.load_balancer_ips]
    return tuple(Rule(name, (*_source_matches(str(n), nl.CMP_EQ), ext)) for n in v4)


def service_fragment(
    config: ProxyConfig,
    spn: ServicePortName,
    info: ServicePortInfo,
    endpoints: Sequence[EndpointInfo],
) -> Fragment:
    """One service port: its chains and maps, and its entries in the shared maps."""
    pid = port_id(spn, info)
    plan = _plan(info, categorize_endpoints(info, endpoints), pid)
    chains: list[tuple[Chain, tuple[Rule, ...]]] = []
    sets: list[NftSet] = []
    elements = _entries(info, plan, pid)
    for name, eps in ((f"svc-{pid}", plan.cat.cluster), (f"svl-{pid}", plan.cat.local)):
        if name in (plan.internal, plan.external) or (
            name.startswith("svc") and plan.uses_ext and eps
        ):
            mark = _internal_mark(config) if name == plan.internal else ()
            part = _policy_chain(name, info, eps, mark)
            chains += part.chains
            sets += part.sets
            elements += part.elements
    if plan.uses_ext:
        chains.append((Chain(f"ext-{pid}"), _ext_chain(config, info, plan, pid)))
    if plan.uses_fw:
        chains.append((Chain(f"fw-{pid}"), _fw_chain(config, info, pid)))
    return Fragment(tuple(chains), tuple(sets), tuple(elements))
