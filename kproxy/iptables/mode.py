"""iptables mode's entry in the mode registry: what it owns, how it is built and cleaned up."""

from __future__ import annotations

import asyncio
import logging

from kproxy.backend.choose import cleanup_backends, make_backend
from kproxy.cleanup import CleanupReport, OwnedRules, remove_owned_everywhere
from kproxy.cli import Options
from kproxy.config import ProxyConfig
from kproxy.conntrack import Conntrack
from kproxy.iptables.proxier import IptablesProxier
from kproxy.provider import ModeContext, ProxyMode
from kproxy.rules import names as n
from kproxy.rules.jumps import CANARY_CHAIN, JUMP_RULES

log = logging.getLogger("kproxy")

# The top-level chains iptables mode creates, per table, and its per-service chains.
IPTABLES_RULES = OwnedRules(
    JUMP_RULES,
    {
        "filter": frozenset(
            {
                n.KUBE_SERVICES,
                n.KUBE_EXTERNAL_SERVICES,
                n.KUBE_FORWARD,
                n.KUBE_NODEPORTS,
                n.KUBE_PROXY_FIREWALL,
                CANARY_CHAIN,
            }
        ),
        "nat": frozenset(
            {n.KUBE_SERVICES, n.KUBE_NODEPORTS, n.KUBE_POSTROUTING, n.KUBE_MARK_MASQ, CANARY_CHAIN}
        ),
        "mangle": frozenset({CANARY_CHAIN}),
    },
    n.is_owned_chain,
)


async def build(ctx: ModeContext) -> IptablesProxier:
    opts = ctx.opts
    backend = await asyncio.to_thread(make_backend, opts)
    config = ProxyConfig(
        opts.hostname,
        node_ips=ctx.node_ips,
        cluster_cidr=opts.cluster_cidr,
        masquerade_all=opts.masquerade_all,
        masquerade_bit=opts.masquerade_bit,
        nodeport_addresses=opts.nodeport_addresses,
        masquerade_random_fully=await asyncio.to_thread(backend.has_random_fully),
        min_sync_period=opts.min_sync_period,
        sync_period=opts.sync_period,
    )
    log.info(
        "iptables proxier: backend %s, node IPs %s, cluster CIDR %s",
        backend.name,
        ", ".join(ctx.node_ips) or "(unknown)",
        opts.cluster_cidr or "(none)",
    )
    return IptablesProxier(
        config,
        backend,
        metrics=ctx.metrics,
        health=ctx.health,
        conntrack=Conntrack(),
        foreign=ctx.foreign,
    )


def cleanup(opts: Options) -> CleanupReport:
    return remove_owned_everywhere(cleanup_backends(opts), IPTABLES_RULES)


IPTABLES_MODE = ProxyMode("iptables", build, cleanup, IPTABLES_RULES)
