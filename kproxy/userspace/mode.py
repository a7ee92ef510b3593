"""Userspace mode's entry in the mode registry: what it owns, how it is built and cleaned up."""

from __future__ import annotations

import asyncio
import logging

from kproxy.backend.choose import cleanup_backends, make_backend
from kproxy.cleanup import CleanupReport, OwnedRules, remove_owned_everywhere
from kproxy.cli import Options
from kproxy.config import ProxyConfig
from kproxy.provider import ModeContext, ProxyMode
from kproxy.userspace.portals import USERSPACE_CHAINS, USERSPACE_JUMPS
from kproxy.userspace.proxier import UserspaceOptions, UserspaceProxier

log = logging.getLogger("kproxy")

USERSPACE_RULES = OwnedRules(
    USERSPACE_JUMPS, {table: frozenset(chains) for table, chains in USERSPACE_CHAINS.items()}
)


async def build(ctx: ModeContext) -> UserspaceProxier:
    opts = ctx.opts
    backend = await asyncio.to_thread(make_backend, opts)
    config = ProxyConfig(
        opts.hostname,
        node_ips=ctx.node_ips,
        cluster_cidr=opts.cluster_cidr,
        min_sync_period=opts.min_sync_period,
        sync_period=opts.sync_period,
    )
    options = UserspaceOptions(
        port_range=opts.proxy_port_range,
        udp_timeout=opts.udp_timeout,
        copier=opts.userspace_copy,
    )
    log.info("userspace proxier: backend %s, %s", backend.name, options)
    return UserspaceProxier(
        config, backend, options, metrics=ctx.metrics, health=ctx.health, foreign=ctx.foreign
    )


def cleanup(opts: Options) -> CleanupReport:
    return remove_owned_everywhere(cleanup_backends(opts), USERSPACE_RULES)


USERSPACE_MODE = ProxyMode("userspace", build, cleanup, USERSPACE_RULES)
