"""The nftables proxier: informer events -> change trackers -> runner -> one nf_tables
transaction through a long-lived netlink socket.

As in iptables mode, handlers only record changes and the BoundedFrequencyRunner decides when
``sync_proxy_rules`` runs. Each service port's fragment of the table is rendered when its
Service or endpoints change and kept; a partial sync sends the difference between the client's
view and the changed fragments, a full sync (at start, after any failure, when the table was
flushed or deleted by someone else, and every ``full_sync_period``) replaces the table in one
transaction. The layout is in ``kproxy.nftables.layout``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from knet import gctune
from knet.client.clock import Clock
from knet.client.clock import sleep as clock_sleep
from knet.netlink.errors import NetlinkError
from kproxy.changes import (
    ServiceKey,
)
from kproxy.config import ProxyConfig
from kproxy.conntrack import Conntrack, stale_flows
from kproxy.healthz import ProxyHealth
from kproxy.metrics import ProxyMetrics
from kproxy.nftables.client import NftClient
from kproxy.nftables.layout import BASE, SERVICES_CHAIN, base_fragment, service_fragment
from kproxy.nftables.ruleset import Fragment
from kproxy.rulesync import BURST_SYNCS, FULL_SYNC_PERIOD, RuleSyncProvider
from kproxy.servicemodel import ServicePortName

log = logging.getLogger("kproxy.nftables.proxier")

T = TypeVar("T")


class NftablesProxier(RuleSyncProvider):
    task_prefix = "kproxy-nft"

    def __init__(
        self,
        config: ProxyConfig,
        client: NftClient,
        *,
        metrics: ProxyMetrics | None = None,
        health: ProxyHealth | None = None,
        conntrack: Conntrack | None = None,
        clock: Clock | None = None,
        full_sync_period: float = FULL_SYNC_PERIOD,
        offload: bool = True,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            config,
            metrics=metrics,
            health=health,
            conntrack=conntrack,
            clock=clock,
            full_sync_period=full_sync_period,
            burst_syncs=BURST_SYNCS,
            offload=offload,
            wall_clock=wall_clock,
        )
        self.client = client
        self.fragments: dict[Hashable, Fragment] = {BASE: base_fragment(config)}
        self.ports_of: dict[ServiceKey, set[ServicePortName]] = {}
        self.last_sync_full: bool | None = None
        self.last_messages = 0

    async def watchdog(self) -> None:
        await self._check_loop()

    def stopped(self) -> None:
        self.client.close()

    async def _check_loop(self) -> None:
        while True:
            await clock_sleep(self.clock, self.config.sync_period)
            await self.check_table()

    async def check_table(self) -> bool:
        """True (and a full resync requested) if our table was flushed or deleted."""
        if not self.initialized or self.need_full_sync:
            return False
        async with self._io_lock:
            try:
                intact = await self._offload(self.client.intact, SERVICES_CHAIN)
            except NetlinkError as e:
                log.warning("table check failed: %s", e)
                return False
        if not intact:
            log.warning("table %s was flushed or removed: resyncing", self.client.table.name)
            self.force_full_sync()
        return not intact

    # -- the sync ------------------------------------------------------------------------------

    async def sync_proxy_rules(self) -> None:
        if not self.initialized:
            log.info("not syncing nftables until Services and endpoints have been listed")
            return
        async with self._io_lock:
            await self._sync_locked()

    def _render(
        self, services: set[ServiceKey], new_ports: Iterable[ServicePortName] = ()
    ) -> dict[Hashable, Fragment | None]:
        """Re-render the fragments of ``services`` (their ports as rendered before, plus
        ``new_ports``); returns the changed keys (None: gone). O(changed), not O(Services)."""
        changed: dict[Hashable, Fragment | None] = {}
        ports: set[ServicePortName] = set(new_ports)
        for key in services:
            ports |= self.ports_of.pop(key, set())
        for spn in ports:
            info = self.services.get(spn)
            if info is None:
                self.fragments.pop(spn, None)
                changed[spn] = None
                continue
            frag = service_fragment(self.config, spn, info, self.endpoints.get(spn, ()))
            self.fragments[spn] = frag
            changed[spn] = frag
            self.ports_of.setdefault((spn.namespace, spn.name), set()).add(spn)
        return changed

    def _render_all(self) -> None:
        self.fragments = {BASE: base_fragment(self.config)}
        self.ports_of = {}
        self._render(set(), self.services)

    async def _sync_locked(self) -> None:
        started = time.perf_counter()
        svc_changes = self.service_changes.drain()
        ep_changes = self.endpoint_changes.drain()
        self._pending_triggers.extend(self.endpoint_changes.drain_trigger_times())
        self.metrics.service_changes_total.inc(len(svc_changes))
        self.metrics.endpoint_changes_total.inc(len(ep_changes))
        self.publish_pending()
        removed_ports = self.services.apply(svc_changes)
        ep_update = self.endpoints.apply(ep_changes)
        changed_services = set(svc_changes) | set(ep_changes)
        known = {**removed_ports, **self.services}
        self._pending_flows.extend(
            stale_flows(ep_update.stale_endpoints, ep_update.newly_active, known)
        )
        now = self.clock.now()
        full = (
            self.need_full_sync
            or self.last_full_sync is None
            or now - self.last_full_sync >= self.full_sync_period
        )
        try:
            if full:
                with gctune.paused():  # ~45 % of a full sync was the collector's (3,000 Services)
                    self._render_all()
                    sent = await self._offload(self.client.full_sync, dict(self.fragments))
            else:
                new_ports = [p for c in svc_changes.values() for p in c.current]
                changed = self._render(changed_services, new_ports)
                sent = await self._offload(self.client.partial_sync, changed)
        except Exception as e:
            self._sync_failed(e)
            return
        await self._synced(started, now, full, sent, len(changed_services))

    async def _synced(self, started: float, now: float, full: bool, sent: int, n: int) -> None:
        seconds = time.perf_counter() - started
        if full:
            self.need_full_sync = False
            self.last_full_sync = now
        self.last_sync_full = full
        self.last_messages = sent
        self.metrics.observe_sync(seconds, full=full)
        triggers, self._pending_triggers = self._pending_triggers, []
        self.metrics.observe_network_programming(triggers, self.wall_clock())
        self.metrics.last_timestamp.set(time.time())
        if self.health is not None:
            self.health.updated()
        flows, self._pending_flows = self._pending_flows, []
        if flows and self.conntrack is not None:
            await self._offload(self.conntrack.delete, flows)
        log.info(
            "synced nftables rules (%s, %d services changed, %d messages) in %.3fs",
            "full" if full else "partial",
            n,
            sent,
            seconds,
        )

    def _sync_failed(self, error: Exception) -> None:
        self.sync_failures += 1
        self.metrics.restore_failures.inc()
        if isinstance(error, NetlinkError):
            log.error("failed to write nftables: %s", error)
        else:
            log.exception("sync failed", exc_info=error)
        self.need_full_sync = True  # the view was dropped: only a full sync is trusted now
        self.runner.retry_after(self.config.sync_period)
