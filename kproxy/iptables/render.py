"""PURE rendering of kube-proxy's iptables-mode rules from the internal service model.

Layout follows upstream's proxier (pkg/proxy/iptables): nat KUBE-SERVICES dispatches each
ClusterIP / external IP / LB IP to per-service chains, KUBE-NODEPORTS does the same for NodePorts,
KUBE-SVC-* (Cluster policy) and KUBE-SVL-* (Local policy) pick an endpoint with ``statistic``
probabilities 1/n, 1/(n-1), ..., KUBE-SEP-* DNAT to it; the filter table REJECTs traffic for
services without endpoints. Rules are built as strings (no per-rule objects) because a
10k-service cluster means ~400k of them on every full sync.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from knet import gctune
from kproxy.config import ProxyConfig
from kproxy.iptables.categorize import Categorized, categorize_endpoints
from kproxy.iptables.model import RuleSet
from kproxy.rules import names as n
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName

FILTER = "filter"
NAT = "nat"

# Past this many endpoints upstream drops per-endpoint comments: they make up ~40% of the text.
LARGE_CLUSTER_ENDPOINTS = 1000

_NODEPORTS_COMMENT = (
    '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"'
)


class _Context:
    """Per-render constants and the top-level chains every service writes into."""

    def __init__(self, rs: RuleSet, config: ProxyConfig, large: bool) -> None:
        self.rs = rs
        self.config = config
        self.large = large
        self.mark = config.masquerade_mark
        cidr = config.cluster_cidr
        self.if_local = f"-s {cidr}" if cidr else None
        self.if_not_local = f"! -s {cidr}" if cidr else None
        self.node_ips = [ipaddress.IPv4Address(ip) for ip in config.node_ips]
        self._probabilities: list[str] = ["<unused>"]
        # Declaration order is upstream's.
        self.f_services = rs.chain(FILTER, n.KUBE_SERVICES)
        self.f_external = rs.chain(FILTER, n.KUBE_EXTERNAL_SERVICES)
        self.f_forward = rs.chain(FILTER, n.KUBE_FORWARD)
        self.f_nodeports = rs.chain(FILTER, n.KUBE_NODEPORTS)
        self.f_firewall = rs.chain(FILTER, n.KUBE_PROXY_FIREWALL)
        self.n_services = rs.chain(NAT, n.KUBE_SERVICES)
        self.n_nodeports = rs.chain(NAT, n.KUBE_NODEPORTS)
        self.n_postrouting = rs.chain(NAT, n.KUBE_POSTROUTING)
        self.n_mark_masq = rs.chain(NAT, n.KUBE_MARK_MASQ)

    def probability(self, count: int) -> str:
        """``%0.10f`` of 1/count, as upstream's computeProbability (cached)."""
        probs = self._probabilities
        while len(probs) <= count:
            probs.append(f"{1.0 / len(probs):0.10f}")
        return probs[count]


def render(
    services: Mapping[ServicePortName, ServicePortInfo],
    endpoints: Mapping[ServicePortName, Sequence[EndpointInfo]],
    config: ProxyConfig,
) -> RuleSet:
    """Build the complete filter + nat rule set for these services. No I/O, no state."""
    rs = RuleSet()
    with gctune.paused():
        ctx = _Context(rs, config, large=is_large_cluster(services, endpoints))
        _write_masquerade_chains(ctx)
        for name, info in sorted(services.items(), key=_sort_key):
            _write_service(ctx, name, info, endpoints.get(name, ()))
        _write_nodeports_jump(ctx)
        _write_forward_chain(ctx)
    return rs


def is_large_cluster(
    services: Mapping[ServicePortName, ServicePortInfo],
    endpoints: Mapping[ServicePortName, Sequence[EndpointInfo]],
) -> bool:
    """Whether ``render`` drops per-endpoint comments (upstream's largeClusterMode)."""
    total = sum(len(endpoints.get(name, ())) for name in services)
    return total > LARGE_CLUSTER_ENDPOINTS


def render_service(
    name: ServicePortName,
    info: ServicePortInfo,
    eps: Sequence[EndpointInfo],
    config: ProxyConfig,
    *,
    large_cluster: bool,
) -> RuleSet:
    """One service port's share of ``render``'s output, alone: its own chains, plus its rules
    in the top-level chains (which hold nothing else here). Concatenating these fragments in
    ``render``'s service order, then appending ``render({}, {}, config)``'s rules, gives
    ``render``'s rule set; incremental (partial) syncs rebuild only changed fragments."""
    rs = RuleSet()
    _write_service(_Context(rs, config, large=large_cluster), name, info, eps)
    return rs


def service_order(name: ServicePortName) -> tuple[str, str, str, str]:
    """The order in which ``render`` writes service ports."""
    return (name.namespace, name.name, name.port_name, name.protocol)


def _sort_key(item: tuple[ServicePortName, ServicePortInfo]) -> tuple[str, str, str, str]:
    return service_order(item[0])


def _write_masquerade_chains(ctx: _Context) -> None:
    mark = ctx.mark
    ctx.n_postrouting.append(f"-m mark ! --mark {mark}/{mark} -j RETURN")
    # Clear the mark so a packet that re-traverses the stack is not masqueraded twice.
    ctx.n_postrouting.append(f"-j MARK --xor-mark {mark}")
    masq = '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE'
    if ctx.config.masquerade_random_fully:
        masq += " --random-fully"
    ctx.n_postrouting.append(masq)
    ctx.n_mark_masq.append(f"-j MARK --or-mark {mark}")


class _Plan:
    """What one service port needs, decided as upstream's syncProxyRules decides it."""

    def __init__(self, info: ServicePortInfo, cat: Categorized, chains: n.ServiceChains) -> None:
        self.uses_cluster_chain = bool(cat.cluster) and info.uses_cluster_endpoints
        self.uses_local_chain = bool(cat.local) and info.uses_local_endpoints
        has_any = cat.has_any
        self.has_endpoints = has_any
        self.internal_chain = chains.cluster
        self.has_internal = has_any
        if info.internal_traffic_policy_local:
            self.internal_chain = chains.local
            self.has_internal = has_any and bool(cat.local)
        self.external_policy_chain = chains.cluster
        self.has_external = has_any
        if info.external_policy_local:
            self.external_policy_chain = chains.local
            self.has_external = has_any and bool(cat.local)
        # The EXT chain is needed whenever there are endpoints anywhere: its short-circuit rules
        # for local sources apply even with no local endpoint.
        self.uses_external_chain = has_any and info.externally_accessible
        self.uses_firewall_chain = bool(
            has_any and info.load_balancer_ips and info.load_balancer_source_ranges
        )
        self.lb_chain = chains.firewall if self.uses_firewall_chain else chains.external


def _write_service(
    ctx: _Context, name: ServicePortName, info: ServicePortInfo, eps: Sequence[EndpointInfo]
) -> None:
    if info.protocol != name.protocol:
        raise ValueError(f"{name}: protocol {info.protocol} differs from the port name's")
    svc = str(name)
    proto = info.protocol.lower()
    chains = n.chains_for(svc, proto)
    cat = categorize_endpoints(info, eps)
    plan = _Plan(info, cat, chains)
    # "ip:port" -> KUBE-SEP name, computed once for the policy chains and the SEP chains.
    seps = {ep.endpoint: n.endpoint_chain_for(svc, proto, ep.endpoint) for ep in cat.reachable}
    _write_entry_rules(ctx, svc, proto, info, plan, chains)

    rs = ctx.rs
    written: list[str] = []
    if plan.uses_cluster_chain:
        written.append(chains.cluster)
        rs.chain(NAT, chains.cluster)
    if plan.uses_local_chain:
        written.append(chains.local)
        rs.chain(NAT, chains.local)
    if plan.has_internal:
        _write_internal_masquerade(ctx, svc, proto, info, rs.chain(NAT, plan.internal_chain))
    if plan.uses_cluster_chain:
        _write_policy_chain(ctx, svc, info, rs.chain(NAT, chains.cluster), cat.cluster, seps)
    if plan.uses_local_chain:
        _write_policy_chain(ctx, svc, info, rs.chain(NAT, chains.local), cat.local, seps)
    if plan.uses_external_chain:
        written.append(chains.external)
        _write_external_chain(ctx, svc, info, plan, chains, rs.chain(NAT, chains.external))
    if plan.uses_firewall_chain:
        written.append(chains.firewall)
        _write_firewall_chain(ctx, svc, info, chains, rs.chain(NAT, chains.firewall))
    written.extend(_write_endpoint_chains(ctx, svc, proto, info, cat.reachable, seps))
    rs.groups[name] = tuple(written)


def _write_entry_rules(
    ctx: _Context,
    svc: str,
    proto: str,
    info: ServicePortInfo,
    plan: _Plan,
    chains: n.ServiceChains,
) -> None:
    """Rules in the top-level chains that lead to (or reject) this service port."""
    m = f"-m {proto} -p {proto}"
    port = info.port
    if not plan.has_endpoints:
        internal_verdict = external_verdict = "REJECT"
        internal_comment = external_comment = f'"{svc} has no endpoints"'
    else:
        internal_verdict = external_verdict = "DROP"
        internal_comment = external_comment = f'"{svc} has no local endpoints"'

    if plan.has_internal:
        ctx.n_services.append(
            f'-m comment --comment "{svc} cluster IP" {m} -d {info.cluster_ip} --dport {port}'
            f" -j {plan.internal_chain}"
        )
    else:
        ctx.f_services.append(
            f"-m comment --comment {internal_comment} {m} -d {info.cluster_ip} --dport {port}"
            f" -j {internal_verdict}"
        )

    for ip in info.external_ips:
        if plan.has_endpoints:
            ctx.n_services.append(
                f'-m comment --comment "{svc} external IP" {m} -d {ip} --dport {port}'
                f" -j {chains.external}"
            )
        if not plan.has_external:
            ctx.f_external.append(
                f"-m comment --comment {external_comment} {m} -d {ip} --dport {port}"
                f" -j {external_verdict}"
            )

    for ip in info.load_balancer_ips:
        if plan.has_endpoints:
            ctx.n_services.append(
                f'-m comment --comment "{svc} loadbalancer IP" {m} -d {ip} --dport {port}'
                f" -j {plan.lb_chain}"
            )
        if plan.uses_firewall_chain:
            ctx.f_firewall.append(
                f'-m comment --comment "{svc} traffic not accepted by {chains.firewall}"'
                f" {m} -d {ip} --dport {port} -j DROP"
            )
    if not plan.has_external:
        for ip in info.load_balancer_ips:
            ctx.f_external.append(
                f"-m comment --comment {external_comment} {m} -d {ip} --dport {port}"
                f" -j {external_verdict}"
            )

    if info.node_port:
        if plan.has_endpoints:
            ctx.n_nodeports.append(
                f"-m comment --comment {svc} {m} --dport {info.node_port} -j {chains.external}"
            )
        if not plan.has_external:
            ctx.f_external.append(
                f"-m comment --comment {external_comment} -m addrtype --dst-type LOCAL {m}"
                f" --dport {info.node_port} -j {external_verdict}"
            )

    if info.health_check_node_port:
        # Accepted whether or not this node has local endpoints: the health check answers "no".
        ctx.f_nodeports.append(
            f'-m comment --comment "{svc} health check node port" -m tcp -p tcp'
            f" --dport {info.health_check_node_port} -j ACCEPT"
        )


def _write_internal_masquerade(
    ctx: _Context, svc: str, proto: str, info: ServicePortInfo, rules: list[str]
) -> None:
    # Off-cluster traffic to a ClusterIP (e.g. via a static route to a node) may bounce to
    # another node, so it is masqueraded; pod traffic keeps its source IP.
    match = (
        f'-m comment --comment "{svc} cluster IP" -m {proto} -p {proto}'
        f" -d {info.cluster_ip} --dport {info.port}"
    )
    if ctx.config.masquerade_all:
        rules.append(f"{match} -j {n.KUBE_MARK_MASQ}")
    elif ctx.if_not_local:
        rules.append(f"{match} {ctx.if_not_local} -j {n.KUBE_MARK_MASQ}")


def _write_external_chain(
    ctx: _Context,
    svc: str,
    info: ServicePortInfo,
    plan: _Plan,
    chains: n.ServiceChains,
    rules: list[str],
) -> None:
    if not info.external_policy_local:
        # Endpoints may be on other nodes: masquerade so replies come back through us.
        rules.append(
            f'-m comment --comment "masquerade traffic for {svc} external destinations"'
            f" -j {n.KUBE_MARK_MASQ}"
        )
    else:
        if ctx.if_local:
            # Pods reaching an external address of the service behave as if they went out to
            # a load balancer and back: Cluster policy, no masquerade.
            rules.append(
                f'-m comment --comment "pod traffic for {svc} external destinations"'
                f" {ctx.if_local} -j {chains.cluster}"
            )
        # The host's own traffic has a local source address, which must be masqueraded.
        rules.append(
            f'-m comment --comment "masquerade LOCAL traffic for {svc} external destinations"'
            f" -m addrtype --src-type LOCAL -j {n.KUBE_MARK_MASQ}"
        )
        rules.append(
            f'-m comment --comment "route LOCAL traffic for {svc} external destinations"'
            f" -m addrtype --src-type LOCAL -j {chains.cluster}"
        )
    if plan.has_external:
        rules.append(f"-j {plan.external_policy_chain}")


def _write_firewall_chain(
    ctx: _Context, svc: str, info: ServicePortInfo, chains: n.ServiceChains, rules: list[str]
) -> None:
    head = f'-m comment --comment "{svc} loadbalancer IP"'
    allow_from_node = False
    for cidr in info.load_balancer_source_ranges:
        net = ipaddress.IPv4Network(cidr.strip(), strict=False)
        rules.append(f"{head} -s {net} -j {chains.external}")
        allow_from_node = allow_from_node or any(ip in net for ip in ctx.node_ips)
    if allow_from_node:
        # A VIP-style LB address is often local: a node's request then arrives with the LB IP
        # as its source, and must be let through too.
        for ip in info.load_balancer_ips:
            rules.append(f"{head} -s {ip} -j {chains.external}")
    # Falling off the end means "not DNATed": filter KUBE-PROXY-FIREWALL drops it.
    rules.append(
        f'-m comment --comment "other traffic to {svc} will be dropped by KUBE-PROXY-FIREWALL"'
    )


def _write_policy_chain(
    ctx: _Context,
    svc: str,
    info: ServicePortInfo,
    rules: list[str],
    eps: Sequence[EndpointInfo],
    seps: Mapping[str, str],
) -> None:
    """KUBE-SVC/SVL: affinity checks first, then one probabilistic jump per endpoint."""
    pairs = [(ep.endpoint, seps[ep.endpoint]) for ep in eps]
    large = ctx.large
    if info.session_affinity_timeout is not None:
        seconds = info.session_affinity_timeout
        for ep_str, sep in pairs:
            comment = "" if large else f'-m comment --comment "{svc} -> {ep_str}" '
            rules.append(
                f"{comment}-m recent --name {sep} --rcheck --seconds {seconds} --reap -j {sep}"
            )
    count = len(pairs)
    for i, (ep_str, sep) in enumerate(pairs):
        comment = "" if large else f'-m comment --comment "{svc} -> {ep_str}" '
        if i < count - 1:
            prob = ctx.probability(count - i)
            rules.append(f"{comment}-m statistic --mode random --probability {prob} -j {sep}")
        else:
            rules.append(f"{comment}-j {sep}")


def _write_endpoint_chains(
    ctx: _Context,
    svc: str,
    proto: str,
    info: ServicePortInfo,
    eps: Sequence[EndpointInfo],
    seps: Mapping[str, str],
) -> list[str]:
    rs = ctx.rs
    comment = "" if ctx.large else f"-m comment --comment {svc} "
    affinity = info.session_affinity_timeout is not None
    dnat = f"-m {proto} -p {proto} -j DNAT --to-destination"
    made = []
    for ep in eps:
        ep_str = ep.endpoint
        sep = seps[ep_str]
        rules = rs.chain(NAT, sep)
        # Hairpin: an endpoint reaching itself through the service must be SNATed, or the
        # reply would bypass conntrack's reverse DNAT.
        rules.append(f"{comment}-s {ep.ip} -j {n.KUBE_MARK_MASQ}")
        recent = f"-m recent --name {sep} --set " if affinity else ""
        rules.append(f"{comment}{recent}{dnat} {ep_str}")
        made.append(sep)
    return made


def _write_nodeports_jump(ctx: _Context) -> None:
    """The tail call to KUBE-NODEPORTS: must stay the last rule of nat KUBE-SERVICES."""
    config = ctx.config
    if not config.nodeport_addresses:
        # kproxy does not enable route_localnet, so localhost NodePorts are excluded.
        ctx.n_services.append(
            f"-m comment --comment {_NODEPORTS_COMMENT} -m addrtype --dst-type LOCAL"
            f" ! -d 127.0.0.0/8 -j {n.KUBE_NODEPORTS}"
        )
        return
    for ip in config.nodeport_ips():
        ctx.n_services.append(
            f"-m comment --comment {_NODEPORTS_COMMENT} -d {ip} -j {n.KUBE_NODEPORTS}"
        )


def _write_forward_chain(ctx: _Context) -> None:
    if not ctx.config.conntrack_tcp_liberal:
        # Out-of-window packets marked INVALID would otherwise reach the pod un-DNATed and
        # trigger a RST that kills the connection (kubernetes#74839).
        ctx.f_forward.append("-m conntrack --ctstate INVALID -j DROP")
    mark = ctx.mark
    ctx.f_forward.append(
        f'-m comment --comment "kubernetes forwarding rules" -m mark --mark {mark}/{mark} -j ACCEPT'
    )
    ctx.f_forward.append(
        '-m comment --comment "kubernetes forwarding conntrack rule"'
        " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    )
