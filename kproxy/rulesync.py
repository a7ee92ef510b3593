"""What the rule-writing modes (iptables, nftables) share around their sync: the service and
endpoint maps the trackers feed, the bounded-frequency runner, the full-sync flag, the conntrack
work and trigger times a sync leaves for its write, and a watchdog beside the runner (iptables'
canary chains, nftables' table check). Each mode supplies ``sync_proxy_rules`` and ``watchdog``.
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from knet.client.clock import Clock, RealClock
from kproxy.changes import (
    EndpointsChangeTracker,
    EndpointsMap,
    ServiceChangeTracker,
    ServicePortMap,
)
from kproxy.config import ProxyConfig
from kproxy.conntrack import Conntrack, FlowFilter
from kproxy.handlers import ChangeHandlers
from kproxy.healthz import ProxyHealth
from kproxy.metrics import ProxyMetrics
from kproxy.runner import BoundedFrequencyRunner

T = TypeVar("T")

# Upstream's proxyutil.FullSyncPeriod.
FULL_SYNC_PERIOD = 3600.0
BURST_SYNCS = 2


class RuleSyncProvider(ChangeHandlers):
    # Names of the runner and of the two tasks ``run`` starts (the mode's own, for logs).
    task_prefix = "kproxy"

    def __init__(
        self,
        config: ProxyConfig,
        *,
        metrics: ProxyMetrics | None,
        health: ProxyHealth | None,
        conntrack: Conntrack | None,
        clock: Clock | None,
        full_sync_period: float,
        burst_syncs: int,
        offload: bool,
        wall_clock: Callable[[], float],
    ) -> None:
        super().__init__(
            ServiceChangeTracker(),
            EndpointsChangeTracker(config.node_name, start_time=wall_clock()),
            metrics if metrics is not None else ProxyMetrics(),
            health,
        )
        self.config = config
        self.conntrack = conntrack
        self.clock = clock or RealClock()
        self.full_sync_period = full_sync_period
        # Blocking kernel work runs in a thread so the informers and health server stay
        # responsive during a long write; tests may run it inline.
        self.offload = offload
        # Wall-clock time, for comparing with the trigger-time annotations.
        self.wall_clock = wall_clock
        self.services = ServicePortMap()
        self.endpoints = EndpointsMap()
        self.runner = BoundedFrequencyRunner(
            f"{self.task_prefix}-sync-runner",
            self.sync_proxy_rules,
            config.min_sync_period,
            max(full_sync_period, config.min_sync_period),
            burst_syncs,
            self.clock,
        )
        self.need_full_sync = True
        self.last_full_sync: float | None = None
        self.sync_failures = 0
        # Conntrack work and endpoint-change trigger times from syncs whose rules are not
        # written yet.
        self._pending_flows: list[FlowFilter] = []
        self._pending_triggers: list[float] = []
        self._io_lock = asyncio.Lock()

    @abstractmethod
    async def sync_proxy_rules(self) -> None:
        """One sync: apply the pending changes and write the rules (full when needed)."""

    @abstractmethod
    async def watchdog(self) -> None:
        """Runs beside the runner until cancelled: notices rules someone else removed."""

    def stopped(self) -> None:
        """Called once ``run`` ends (a mode releases what it holds open)."""

    def sync(self) -> None:
        """Ask for a sync (upstream's Sync()): health learns a change is queued."""
        self.metrics.last_queued_timestamp.set(time.time())
        if self.health is not None:
            self.health.queued_update()
        self.runner.run()

    def force_full_sync(self) -> None:
        self.need_full_sync = True
        self.sync()

    async def run(self) -> None:
        """Run the sync loop and the watchdog until cancelled."""
        tasks = [
            asyncio.create_task(self.runner.loop(), name=f"{self.task_prefix}-sync-runner"),
            asyncio.create_task(self.watchdog(), name=f"{self.task_prefix}-watchdog"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.stopped()

    async def _offload(self, fn: Callable[..., T], *args: Any) -> T:
        if self.offload:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)
