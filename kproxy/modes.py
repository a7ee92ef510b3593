"""The proxy mode registry: the one place that knows every mode, keyed by ``--proxy-mode``.

Modes do not import each other. The registry hands each mode the rules the *other* modes own
(so a mode's full sync can remove them when it takes over), and ``--cleanup`` asks every mode
to remove its own. A new mode (nftables) is one more ``ProxyMode`` in ``MODES``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from knet.client import ApiClient, ApiError
from knet.client.errors import ApiConnectionError
from kproxy.cleanup import CleanupReport, OwnedRules
from kproxy.cli import Options
from kproxy.healthz import ProxyHealth
from kproxy.iptables.mode import IPTABLES_MODE
from kproxy.metrics import ProxyMetrics
from kproxy.nftables.mode import NFTABLES_MODE
from kproxy.provider import ModeContext, ProxyMode, ProxyProvider
from kproxy.userspace.mode import USERSPACE_MODE

log = logging.getLogger("kproxy")

MODES: Mapping[str, ProxyMode] = {m.name: m for m in (IPTABLES_MODE, USERSPACE_MODE, NFTABLES_MODE)}


def get_mode(name: str, modes: Mapping[str, ProxyMode] = MODES) -> ProxyMode:
    try:
        return modes[name]
    except KeyError:
        raise ValueError(f"unknown --proxy-mode {name!r} (known: {', '.join(modes)})") from None


def foreign_rules(name: str, modes: Mapping[str, ProxyMode] = MODES) -> tuple[OwnedRules, ...]:
    """What every mode other than ``name`` leaves in iptables."""
    return tuple(m.owned for m in modes.values() if m.name != name and m.owned is not None)


async def make_provider(
    opts: Options, client: ApiClient, metrics: ProxyMetrics, health: ProxyHealth
) -> ProxyProvider:
    """The provider for --proxy-mode."""
    mode = get_mode(opts.proxy_mode)
    await asyncio.to_thread(remove_leftovers, opts, mode.name)
    node_ips = opts.node_ips or await node_ips_from_api(client, opts.hostname)
    ctx = ModeContext(opts, metrics, health, node_ips, foreign_rules(mode.name))
    return await mode.build(ctx)


def remove_leftovers(opts: Options, name: str, modes: Mapping[str, ProxyMode] = MODES) -> None:
    """What the other modes left outside iptables (nftables mode's table) goes before ``name``
    programs anything; a failure is logged, not fatal (the rules of two modes would both
    answer, as after a kube-proxy mode switch without cleanup)."""
    for mode in modes.values():
        if mode.name == name or mode.leftovers is None:
            continue
        report = mode.leftovers(opts)
        for removed in report.chains_removed.values():
            log.info("removed %s left by %s mode", ", ".join(removed), mode.name)
        for error in report.errors:
            log.warning("could not remove what %s mode left: %s", mode.name, error)


def run_cleanup(opts: Options, modes: Mapping[str, ProxyMode] = MODES) -> CleanupReport:
    """--cleanup: every mode removes its own rules, whichever mode ran last."""
    total = CleanupReport()
    for mode in modes.values():
        total.add(mode.cleanup(opts))
    return total


async def node_ips_from_api(client: ApiClient, node_name: str) -> tuple[str, ...]:
    """The Node object's InternalIP/ExternalIP addresses (IPv4), or () if unknown."""
    try:
        node = await client.get("Node", node_name)
    except (ApiError, ApiConnectionError) as e:
        log.warning("cannot read Node %s to find its IPs: %s", node_name, e)
        return ()
    out = []
    for addr in (node.get("status") or {}).get("addresses") or ():
        if addr.get("type") in ("InternalIP", "ExternalIP") and "." in str(addr.get("address")):
            out.append(str(addr["address"]))
    return tuple(out)
