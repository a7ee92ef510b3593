"""The iptables proxier: informer events -> change trackers -> runner -> one atomic restore.

Roles, as in kube-proxy:

* handlers (``on_service_add`` ...) only record changes in the trackers and ask for a sync;
* the BoundedFrequencyRunner decides when ``sync_proxy_rules`` runs;
* ``sync_proxy_rules`` applies the pending changes to the service/endpoint maps, renders and
  writes everything in one ``iptables-restore --noflush`` call, then updates health, metrics
  and conntrack.

A *full* sync (at start, after any failure, when the canary shows someone flushed our rules,
and every ``full_sync_period``) also ensures the jump rules from the built-in chains and the
canary chains, reads the kernel's chains and deletes our stale ones. A *partial* sync writes
only the per-service chains of the Services that changed (and deletes the chains they no longer
use), plus the top-level chains (KUBE-SERVICES ...) whose rules differ from what the last
successful sync wrote; unchanged chains stay as they are in the kernel. (Upstream rewrites the
top-level chains on every sync; at 10,000 Services, leaving an unchanged KUBE-SERVICES alone
takes a partial restore on iptables-nft from about 1 s to 0.3 s, the rest being the kernel's
validation of the table: docs/kproxy-nft-scaling.md.)

After each successful sync the age of every endpoint change it applied is observed in
``kubeproxy_network_programming_duration_seconds``, from the objects'
``endpoints.kubernetes.io/last-change-trigger-time`` annotation, as upstream does.

Nothing is written until both Services and endpoints have been listed, so a restart never
replaces working rules with a half-known state; and kproxy never flushes on start or exit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from knet.client.clock import Clock
from knet.client.clock import sleep as clock_sleep
from kproxy.backend.base import BackendError, RulesBackend
from kproxy.cleanup import OwnedRules
from kproxy.config import ProxyConfig
from kproxy.conntrack import Conntrack, stale_flows
from kproxy.healthz import ProxyHealth
from kproxy.iptables.writer import RuleWriter, SyncResult
from kproxy.metrics import ProxyMetrics
from kproxy.rules.jumps import CANARY_CHAIN, CANARY_TABLES
from kproxy.rulesync import BURST_SYNCS, FULL_SYNC_PERIOD, RuleSyncProvider

log = logging.getLogger("kproxy.iptables.proxier")

T = TypeVar("T")


class IptablesProxier(RuleSyncProvider):
    def __init__(
        self,
        config: ProxyConfig,
        backend: RulesBackend,
        *,
        metrics: ProxyMetrics | None = None,
        health: ProxyHealth | None = None,
        conntrack: Conntrack | None = None,
        clock: Clock | None = None,
        full_sync_period: float = FULL_SYNC_PERIOD,
        burst_syncs: int = BURST_SYNCS,
        offload: bool = True,
        wall_clock: Callable[[], float] = time.time,
        foreign: Sequence[OwnedRules] = (),
    ) -> None:
        super().__init__(
            config,
            metrics=metrics,
            health=health,
            conntrack=conntrack,
            clock=clock,
            full_sync_period=full_sync_period,
            burst_syncs=burst_syncs,
            offload=offload,
            wall_clock=wall_clock,
        )
        self.backend = backend
        # Rendering and restoring; foreign: other modes' rules, removed by full syncs.
        self.writer = RuleWriter(config, backend, foreign)
        self.rules = self.writer.rules
        self.last_sync: SyncResult | None = None

    async def watchdog(self) -> None:
        await self._canary_loop()

    async def _canary_loop(self) -> None:
        while True:
            await clock_sleep(self.clock, self.config.sync_period)
            await self.check_canary()

    async def check_canary(self) -> bool:
        """True (and a full resync requested) if a canary chain had vanished: someone flushed
        iptables, and our rules may be gone with it."""
        if not self.initialized or self.need_full_sync:
            return False
        async with self._io_lock:
            try:
                missing = await self._offload(self._missing_canaries)
            except BackendError as e:
                log.warning("canary check failed: %s", e)
                return False
        if missing:
            log.warning(
                "canary chain %s missing from %s: iptables was flushed; resyncing everything",
                CANARY_CHAIN,
                ", ".join(missing),
            )
            self.force_full_sync()
        return bool(missing)

    def _missing_canaries(self) -> list[str]:
        # ensure_chain answers "did it exist" and puts it back in the same call.
        return [t for t in CANARY_TABLES if not self.backend.ensure_chain(t, CANARY_CHAIN)]

    # -- the sync ------------------------------------------------------------------------------

    async def sync_proxy_rules(self) -> None:
        if not self.initialized:
            log.info("not syncing iptables until Services and endpoints have been listed")
            return
        async with self._io_lock:
            await self._sync_locked()

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
        changed = set(svc_changes) | set(ep_changes)
        # Ports of changed Services, as they were (cache) and as they are now.
        names = self.rules.names_of(changed)
        for change in svc_changes.values():
            names.update(change.current)
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
            result = await self._offload(
                self.writer.write, full, changed, names, self.services, self.endpoints
            )
        except Exception as e:
            self._sync_failed(e, full)
            return
        seconds = time.perf_counter() - started
        result.seconds = seconds
        if result.full:
            self.need_full_sync = False
            self.last_full_sync = now
        self.last_sync = result
        self.metrics.observe_sync(seconds, full=result.full)
        # A change whose sync failed counts from its trigger to the sync that did apply it.
        triggers, self._pending_triggers = self._pending_triggers, []
        self.metrics.observe_network_programming(triggers, self.wall_clock())
        self.metrics.last_timestamp.set(time.time())
        self.metrics.set_rule_counts(self.rules.rule_counts(), result.rules_written)
        if self.health is not None:
            self.health.updated()
        flows, self._pending_flows = self._pending_flows, []
        if flows and self.conntrack is not None:
            await self._offload(self.conntrack.delete, flows)
            result.flows_cleared = flows
        log.info(
            "synced iptables rules (%s, %d services changed) in %.3fs",
            "full" if result.full else "partial",
            len(changed),
            seconds,
        )

    def _sync_failed(self, error: Exception, full: bool) -> None:
        self.sync_failures += 1
        self.metrics.restore_failures.inc()
        if not full:
            self.metrics.partial_restore_failures.inc()
        if isinstance(error, BackendError):
            log.error("failed to write iptables rules: %s", error)
        else:
            log.exception("sync failed", exc_info=error)
        # What the kernel holds is unknown now: only a full sync can be trusted next.
        self.need_full_sync = True
        self.writer.forget_top_level()
        self.runner.retry_after(self.config.sync_period)
