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

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from knet.client.clock import Clock, RealClock
from knet.client.clock import sleep as clock_sleep
from kproxy.backend.base import BackendError, RulesBackend
from kproxy.changes import (
    EndpointsChangeTracker,
    EndpointsMap,
    ServiceChangeTracker,
    ServiceKey,
    ServicePortMap,
)
from kproxy.cleanup import OwnedRules, owned_removal_lines
from kproxy.config import ProxyConfig
from kproxy.conntrack import Conntrack, FlowFilter, stale_flows
from kproxy.handlers import ChangeHandlers
from kproxy.healthz import ProxyHealth
from kproxy.iptables.model import RuleSet
from kproxy.iptables.render import is_large_cluster
from kproxy.iptables.rulecache import RuleCache
from kproxy.kernelstate import SavedTable, scan_save
from kproxy.metrics import ProxyMetrics
from kproxy.rules.jumps import CANARY_CHAIN, CANARY_TABLES, JUMP_RULES
from kproxy.rules.names import is_owned_chain
from kproxy.rules.parse import join_args
from kproxy.runner import BoundedFrequencyRunner
from kproxy.servicemodel import ServicePortName

log = logging.getLogger("kproxy.iptables.proxier")

T = TypeVar("T")

# Upstream's proxyutil.FullSyncPeriod.
FULL_SYNC_PERIOD = 3600.0
BURST_SYNCS = 2
_SAVED_TABLES = ("filter", "nat")


@dataclass
class SyncResult:
    """What one successful sync did."""

    full: bool
    services_changed: set[ServiceKey]
    chains_written: set[str]  # per-service chains written (and top-level ones not unchanged)
    chains_deleted: dict[str, set[str]]
    rules_written: dict[str, int]
    # Top-level chains per table left out because the kernel already held their rules.
    unchanged: dict[str, set[str]] = field(default_factory=dict)
    flows_cleared: list[FlowFilter] = field(default_factory=list)
    seconds: float = 0.0


class IptablesProxier(ChangeHandlers):
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
            ServiceChangeTracker(),
            EndpointsChangeTracker(config.node_name, start_time=wall_clock()),
            metrics if metrics is not None else ProxyMetrics(),
            health,
        )
        self.config = config
        self.backend = backend
        self.conntrack = conntrack
        self.clock = clock or RealClock()
        self.full_sync_period = full_sync_period
        # Blocking iptables work runs in a thread so the informers and health server stay
        # responsive during a long restore; tests may run it inline.
        self.offload = offload
        # Wall-clock time, for comparing with the trigger-time annotations.
        self.wall_clock = wall_clock
        # Other modes' rules, removed by full syncs (a mode switch); from the mode registry.
        self.foreign = tuple(foreign)
        self.services = ServicePortMap()
        self.endpoints = EndpointsMap()
        self.rules = RuleCache(config)
        self.runner = BoundedFrequencyRunner(
            "sync-runner",
            self.sync_proxy_rules,
            config.min_sync_period,
            max(full_sync_period, config.min_sync_period),
            burst_syncs,
            self.clock,
        )
        self.need_full_sync = True
        self.last_full_sync: float | None = None
        self.last_sync: SyncResult | None = None
        self.sync_failures = 0
        # Conntrack work and endpoint-change trigger times from syncs whose rules are not
        # written yet.
        self._pending_flows: list[FlowFilter] = []
        self._pending_triggers: list[float] = []
        # Top-level chains' rules as the last successful sync left them in the kernel.
        self._top_written: dict[tuple[str, str], list[str]] = {}
        self._io_lock = asyncio.Lock()

    # -- state ---------------------------------------------------------------------------------

    def sync(self) -> None:
        """Ask for a sync (upstream's Sync()): health learns a change is queued."""
        self.metrics.last_queued_timestamp.set(time.time())
        if self.health is not None:
            self.health.queued_update()
        self.runner.run()

    def force_full_sync(self) -> None:
        self.need_full_sync = True
        self.sync()

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run the sync loop and the canary monitor until cancelled."""
        tasks = [
            asyncio.create_task(self.runner.loop(), name="kproxy-sync-runner"),
            asyncio.create_task(self._canary_loop(), name="kproxy-canary"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _offload(self, fn: Callable[..., T], *args: Any) -> T:
        if self.offload:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

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
            result = await self._offload(self._write_rules, full, changed, names)
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
        self._top_written.clear()
        self.runner.retry_after(self.config.sync_period)

    def _write_rules(
        self, full: bool, changed: set[ServiceKey], names: set[ServicePortName]
    ) -> SyncResult:
        """Render and restore (blocking; runs in a worker thread)."""
        large = is_large_cluster(self.services, self.endpoints)
        if large != self.rules.large:
            full = True  # comment style changes for every chain
        if full:
            return self._write_full(changed, large)
        old_chains = self.rules.chains_of(names)
        self.rules.refresh(self.services, self.endpoints, names)
        rs = self.rules.ruleset(only=names)
        new_chains = self.rules.chains_of(names)
        stale = old_chains - new_chains
        unchanged = self._unchanged_top_level(rs)
        text = rs.to_restore_text(chains=new_chains, stale={"nat": stale}, unchanged=unchanged)
        self.backend.restore(text)
        self._remember_top_level(rs)
        written = {
            t: rs.rule_count(t) - sum(len(rs.chain(t, c)) for c in unchanged.get(t, ()))
            for t in rs.tables
        }
        deleted = {"nat": stale} if stale else {}
        return SyncResult(False, changed, new_chains, deleted, written, unchanged)

    def _unchanged_top_level(self, rs: RuleSet) -> dict[str, set[str]]:
        """Top-level chains of ``rs`` whose rules are those the kernel already holds."""
        out: dict[str, set[str]] = {}
        for table, chain in _top_level(rs):
            # Assembled from the same cached fragments: equal lists mostly share their
            # strings, so this is cheap even for 10,000 rules.
            if self._top_written.get((table, chain)) == rs.chain(table, chain):
                out.setdefault(table, set()).add(chain)
        return out

    def _remember_top_level(self, rs: RuleSet) -> None:
        for table, chain in _top_level(rs):
            # rs is not changed after the restore: keep its list, not a copy.
            self._top_written[(table, chain)] = rs.chain(table, chain)

    def _write_full(self, changed: set[ServiceKey], large: bool) -> SyncResult:
        saved = {t: scan_save(self.backend.save(t), t) for t in _SAVED_TABLES}
        self.rules.rebuild(self.services, self.endpoints, large)
        rs = self.rules.ruleset()
        for table in CANARY_TABLES:
            rs.chain(table, CANARY_CHAIN)  # (re)created empty; a flush removes it
        stale = {
            t: {c for c in s.chains if is_owned_chain(c) and not rs.has_chain(t, c)}
            for t, s in saved.items()
        }
        stale = {t: chains for t, chains in stale.items() if chains}
        extra = missing_jumps(saved)
        # Switching from another mode: its chains and jumps go in this same restore.
        for table, saved_table in saved.items():
            for other in self.foreign:
                switched = owned_removal_lines(saved_table, other)
                if switched:
                    extra.setdefault(table, []).extend(switched)
        text = rs.to_restore_text(stale=stale, extra=extra)
        self.backend.restore(text)
        self._top_written.clear()
        self._remember_top_level(rs)
        written = {t: rs.rule_count(t) for t in rs.tables}
        owned = {c for t in rs.tables for c in rs.chains(t) if is_owned_chain(c)}
        return SyncResult(True, changed, owned, stale, written)


def missing_jumps(saved: Mapping[str, SavedTable]) -> dict[str, list[str]]:
    """Restore lines adding the jump rules that iptables-save does not show, per table.

    Upstream ensures them with one iptables call each; on a big table every call costs as
    much as reading the whole table, so here they ride along in the sync's single restore.
    """
    out: dict[str, list[str]] = {}
    for jump in JUMP_RULES:
        table = saved.get(jump.table)
        if table is None or not table.has_rule(jump.source_chain, jump.args()):
            line = f"{jump.position} {jump.source_chain} {join_args(jump.args())}"
            out.setdefault(jump.table, []).append(line)
    return out


def _top_level(rs: RuleSet) -> Iterator[tuple[str, str]]:
    """(table, chain) of every chain in ``rs`` that is not a per-service one."""
    for table in rs.tables:
        for chain in rs.chains(table):
            if not is_owned_chain(chain):
                yield table, chain
