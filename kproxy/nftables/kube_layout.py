"""kube-proxy's own nftables layout, rendered for comparison only (the lab's reference row).

Modelled on upstream's nftables proxier (see /work/shared/reference/nftables-notes.md): one
chain per service port that dispatches with ``numgen random mod N vmap`` to one chain per
endpoint, each endpoint chain marking hairpin traffic and doing its own dnat. One difference:
upstream's vmap is anonymous (rewritten with the service chain's rule); here it is a named map
so the same client can diff it. Both make an endpoint change add verdict elements and rules
with jumps and dnat, which makes the kernel validate the table. Not used by kproxy itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence

from knet.netlink import nftables as nl
from knet.netlink.nftables import Chain, Element, NftSet, Rule, Verdict
from kproxy.config import ProxyConfig
from kproxy.nftables.layout import (
    IP_PROTO_PORT,
    PROTO_NUMBERS,
    SERVICE_IPS,
    SERVICES_CHAIN,
    mark_for_masquerade,
    port_id,
    service_key,
)
from kproxy.nftables.ruleset import Fragment
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName

TABLE = "kube-proxy-ref"
MARK_CHAIN = "mark-for-masquerade"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8].upper()


def base_fragment(config: ProxyConfig) -> Fragment:
    hooks = (
        (Chain("nat-prerouting", nl.PREROUTING, -100, "nat"), SERVICES_CHAIN),
        (Chain("nat-output", nl.OUTPUT, -100, "nat"), SERVICES_CHAIN),
    )
    chains = [(c, (Rule(c.name, (nl.verdict(nl.JUMP, to),)),)) for c, to in hooks]
    dispatch = (
        nl.payload(nl.NETWORK_HEADER, 16, 4, nl.REG32_00),
        nl.meta_load(nl.META_L4PROTO, nl.REG32_01),
        nl.payload(nl.TRANSPORT_HEADER, 2, 2, nl.REG32_02),
        nl.lookup(SERVICE_IPS, nl.REG32_00, nl.REG_VERDICT),
    )
    chains.append((Chain(SERVICES_CHAIN), (Rule(SERVICES_CHAIN, dispatch),)))
    mark = Rule(MARK_CHAIN, mark_for_masquerade(config.masquerade_bit))
    chains.append((Chain(MARK_CHAIN), (mark,)))
    masq = Chain("nat-postrouting", nl.POSTROUTING, 100, "nat")
    chains.append((masq, (Rule(masq.name, (nl.masquerade(),)),)))
    sets = (NftSet(SERVICE_IPS, IP_PROTO_PORT, 12, nl.TYPE_VERDICT),)
    return Fragment(tuple(chains), sets)


def service_fragment(
    config: ProxyConfig,
    spn: ServicePortName,
    info: ServicePortInfo,
    endpoints: Sequence[EndpointInfo],
) -> Fragment:
    pid = port_id(spn, info)
    svc = f"service-{_hash(pid)}-{pid}"
    vmap = f"{svc}-endpoints"
    proto = bytes([PROTO_NUMBERS[info.protocol]])
    rules = []
    if config.cluster_cidr:
        net = ipaddress.IPv4Network(config.cluster_cidr, strict=False)
        off_cluster = (
            nl.payload(nl.NETWORK_HEADER, 12, 4),
            nl.bitwise(net.netmask.packed, b"\0\0\0\0"),
            nl.cmp(nl.CMP_NEQ, net.network_address.packed),
            nl.verdict(nl.JUMP, MARK_CHAIN),
        )
        rules.append(Rule(svc, off_cluster))
    pick = (nl.numgen_random(len(endpoints)), nl.lookup(vmap, nl.REG_1, nl.REG_VERDICT))
    rules.append(Rule(svc, pick))
    chains = [(Chain(svc), tuple(rules))]
    elements = [
        Element(
            SERVICE_IPS,
            service_key(info.cluster_ip, info.protocol, info.port),
            Verdict(nl.GOTO, svc),
        )
    ]
    for i, ep in enumerate(endpoints):
        name = f"endpoint-{_hash(pid + ep.endpoint)}-{pid}__{ep.ip}/{ep.port}"
        hairpin = (
            nl.payload(nl.NETWORK_HEADER, 12, 4),
            nl.cmp(nl.CMP_EQ, ipaddress.IPv4Address(ep.ip).packed),
            nl.verdict(nl.JUMP, MARK_CHAIN),
        )
        dnat = (
            nl.meta_load(nl.META_L4PROTO),
            nl.cmp(nl.CMP_EQ, proto),
            nl.Expr(
                "immediate", (("DREG", nl.REG32_00), ("DATA", ipaddress.IPv4Address(ep.ip).packed))
            ),
            nl.Expr("immediate", (("DREG", nl.REG32_01), ("DATA", ep.port.to_bytes(2, "big")))),
            nl.dnat(nl.REG32_00, nl.REG32_01),
        )
        chains.append((Chain(name), (Rule(name, hairpin), Rule(name, dnat))))
        elements.append(Element(vmap, nl.u32_host(i), Verdict(nl.GOTO, name)))
    sets = (NftSet(vmap, nl.TYPE_MARK, 4, nl.TYPE_VERDICT),)
    return Fragment(tuple(chains), sets, tuple(elements))
