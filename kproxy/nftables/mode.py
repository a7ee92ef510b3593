"""nftables mode's entry in the mode registry: how it is built and cleaned up.

It owns ``table ip knet-proxy`` and nothing in iptables (``owned`` is empty: no jump rules, no
chains). When it takes over from another mode it removes that mode's iptables rules once, at
build time; the other modes remove its table when they start (``leftovers``).
"""

from __future__ import annotations

import asyncio
import logging

from knet.netlink.errors import NetlinkError
from kproxy.backend.choose import cleanup_backends
from kproxy.cleanup import CleanupReport, OwnedRules, remove_owned_everywhere
from kproxy.cli import Options
from kproxy.config import ProxyConfig
from kproxy.conntrack import Conntrack
from kproxy.nftables.client import NftClient
from kproxy.nftables.layout import TABLE
from kproxy.nftables.proxier import NftablesProxier
from kproxy.provider import ModeContext, ProxyMode

log = logging.getLogger("kproxy")


def _remove_foreign(ctx: ModeContext) -> None:
    backends = cleanup_backends(ctx.opts)
    for owned in ctx.foreign:
        remove_owned_everywhere(backends, owned)


async def build(ctx: ModeContext) -> NftablesProxier:
    opts = ctx.opts
    config = ProxyConfig(
        opts.hostname,
        node_ips=ctx.node_ips,
        cluster_cidr=opts.cluster_cidr,
        masquerade_all=opts.masquerade_all,
        masquerade_bit=opts.masquerade_bit,
        nodeport_addresses=opts.nodeport_addresses,
        min_sync_period=opts.min_sync_period,
        sync_period=opts.sync_period,
    )
    await asyncio.to_thread(_remove_foreign, ctx)
    log.info(
        "nftables proxier: table ip %s, node IPs %s, cluster CIDR %s",
        TABLE,
        ", ".join(ctx.node_ips) or "(unknown)",
        opts.cluster_cidr or "(none)",
    )
    return NftablesProxier(
        config,
        NftClient(None, TABLE),
        metrics=ctx.metrics,
        health=ctx.health,
        conntrack=Conntrack(),
    )


def cleanup(opts: Options) -> CleanupReport:
    report = CleanupReport()
    client = NftClient(None, TABLE)
    try:
        if client.delete_table():
            report.chains_removed["nftables"] = [f"table ip {TABLE}"]
    except NetlinkError as e:
        report.errors.append(f"nftables: {e}")
    finally:
        client.close()
    return report


# Nothing in iptables: other modes taking over have no iptables rules of ours to remove.
NFTABLES_RULES = OwnedRules((), {})

NFTABLES_MODE = ProxyMode("nftables", build, cleanup, NFTABLES_RULES, leftovers=cleanup)
