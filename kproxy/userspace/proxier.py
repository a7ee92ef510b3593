"""The userspace proxier: informer events -> trackers -> listeners, chooser and portal rules.

Each sync applies the pending changes, opens a listener per new service port (on the port the
rules of a previous kproxy used, if any, so a restart keeps them valid), updates the chooser's
endpoints, and rewrites the portal chains in one restore. A listener without endpoints is
closed, so its REDIRECTed connections are refused at once. Full syncs (the first, after a
failure, and every sync period) also read the kernel's tables, add missing jump rules and
remove iptables mode's chains, in that same restore.

On shutdown the hold chain is filled (new connections to the listeners are dropped and
retransmitted rather than refused), the listeners close, and connections in flight get a grace
period to finish, so a restart costs clients a SYN retransmit, not an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from knet.client.clock import Clock, RealClock
from kproxy.backend.base import BackendError, RulesBackend
from kproxy.changes import (
    EndpointsChangeTracker,
    EndpointsMap,
    ServiceChangeTracker,
    ServicePortMap,
)
from kproxy.cleanup import OwnedRules, owned_removal_lines
from kproxy.config import ProxyConfig
from kproxy.handlers import ChangeHandlers
from kproxy.healthz import ProxyHealth
from kproxy.kernelstate import scan_save
from kproxy.metrics import ProxyMetrics
from kproxy.rules.parse import join_args
from kproxy.runner import BoundedFrequencyRunner
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName
from kproxy.userspace.chooser import Chooser
from kproxy.userspace.copy import COPIERS
from kproxy.userspace.listeners import TcpListener, UdpListener
from kproxy.userspace.portals import USERSPACE_JUMPS, Portal, listen_ports_from_save, render_portals

log = logging.getLogger("kproxy.userspace")

PROTOCOLS = ("TCP", "UDP")
DEFAULT_UDP_TIMEOUT = 5.0
SHUTDOWN_GRACE = 5.0
Listener = TcpListener | UdpListener


@dataclass(frozen=True)
class UserspaceOptions:
    """``port_range`` (inclusive) None: the kernel picks free ports."""

    port_range: tuple[int, int] | None = None
    udp_timeout: float = DEFAULT_UDP_TIMEOUT
    copier: str = "splice"

    def __post_init__(self) -> None:
        if self.port_range is not None:
            lo, hi = self.port_range
            if not 0 < lo <= hi < 65536:
                raise ValueError(f"port range {lo}-{hi} must be within 1..65535, low to high")
        if self.udp_timeout <= 0:
            raise ValueError("udp_timeout must be positive")
        if self.copier not in COPIERS:
            raise ValueError(f"copier {self.copier!r} must be one of {sorted(COPIERS)}")


def usable_endpoints(eps: tuple[EndpointInfo, ...]) -> list[str]:
    """Ready endpoints; if none, serving-but-terminating ones (upstream's fallback)."""
    ready = [ep.endpoint for ep in eps if ep.ready]
    return ready or [ep.endpoint for ep in eps if ep.serving and ep.terminating]


class UserspaceProxier(ChangeHandlers):
    def __init__(
        self,
        config: ProxyConfig,
        backend: RulesBackend,
        options: UserspaceOptions | None = None,
        *,
        metrics: ProxyMetrics | None = None,
        health: ProxyHealth | None = None,
        clock: Clock | None = None,
        foreign: Sequence[OwnedRules] = (),
    ) -> None:
        super().__init__(
            ServiceChangeTracker(),
            EndpointsChangeTracker(config.node_name),
            metrics if metrics is not None else ProxyMetrics(),
            health,
        )
        self.config = config
        self.backend = backend
        self.options = options or UserspaceOptions()
        self.clock = clock or RealClock()
        # Other modes' rules, removed by full syncs (a mode switch); from the mode registry.
        self.foreign = tuple(foreign)
        self.services = ServicePortMap()
        self.endpoints = EndpointsMap()
        self.chooser = Chooser()
        self.listeners: dict[ServicePortName, Listener] = {}
        self.runner = BoundedFrequencyRunner(
            "userspace-sync", self.sync_proxy_rules, config.min_sync_period, config.sync_period
        )
        self.need_full_sync = True
        self.last_full_sync: float | None = None
        self.sync_failures = 0
        self._previous_ports: dict[tuple[str, str], int] | None = None
        self._written: list[Portal] | None = None
        self._lock = asyncio.Lock()

    def sync(self) -> None:
        self.metrics.last_queued_timestamp.set(time.time())
        if self.health is not None:
            self.health.queued_update()
        self.runner.run()

    async def run(self) -> None:
        try:
            await self.runner.loop()
        finally:
            await self.shutdown()

    # -- listeners -----------------------------------------------------------------------------

    def _candidate_ports(self, spn: ServicePortName) -> Iterator[int]:
        previous = (self._previous_ports or {}).get((str(spn), spn.protocol))
        if previous is not None:
            yield previous
        if self.options.port_range is None:
            yield 0
            return
        taken = {lst.port for lst in self.listeners.values()}
        lo, hi = self.options.port_range
        for port in range(lo, hi + 1):
            if port not in taken:
                yield port

    def _new_listener(self, spn: ServicePortName, info: ServicePortInfo) -> Listener | None:
        for port in self._candidate_ports(spn):
            listener: Listener
            if info.protocol == "TCP":
                copier = COPIERS[self.options.copier]
                listener = TcpListener(spn, port, self.chooser, copier, self.clock.now)
            else:
                listener = UdpListener(
                    spn, port, self.chooser, self.options.udp_timeout, self.clock.now
                )
            try:
                listener.open()  # proves the port is free; closed again if no endpoints
            except OSError as e:
                log.debug("port %d for %s unavailable: %s", port, spn, e)
                continue
            return listener
        log.error("no free port for %s in the proxy port range", spn)
        return None

    def _reconcile(self) -> list[Listener]:
        """Listeners and chooser follow the maps; returns listeners to close after the rules
        stop pointing at them."""
        retired = []
        for spn in [s for s in self.listeners if s not in self.services]:
            retired.append(self.listeners.pop(spn))
            self.chooser.remove(spn)
        for spn, info in self.services.items():
            if info.protocol not in PROTOCOLS:
                continue  # SCTP: not proxied in userspace
            endpoints = usable_endpoints(self.endpoints.get(spn, ()))
            self.chooser.update(spn, endpoints, info.session_affinity_timeout)
            listener = self.listeners.get(spn)
            if listener is None:
                listener = self._new_listener(spn, info)
                if listener is None:
                    continue
                self.listeners[spn] = listener
            if isinstance(listener, UdpListener):
                listener.keep_endpoints(set(endpoints))
            if endpoints:
                try:
                    listener.open()
                except OSError as e:
                    log.error("cannot reopen port %d for %s: %s", listener.port, spn, e)
            else:
                listener.close()
        self.chooser.expire(self.clock.now())
        return retired

    def portals(self) -> list[Portal]:
        return [
            Portal(spn, self.services[spn], lst.port)
            for spn, lst in self.listeners.items()
            if spn in self.services
        ]

    # -- the sync ------------------------------------------------------------------------------

    async def sync_proxy_rules(self) -> None:
        if not self.initialized:
            log.info("not syncing until Services and endpoints have been listed")
            return
        async with self._lock:
            await self._sync_locked()

    async def _sync_locked(self) -> None:
        started = time.perf_counter()
        if self._previous_ports is None:
            try:
                nat = await asyncio.to_thread(self.backend.save, "nat")
                self._previous_ports = dict(listen_ports_from_save(nat))
            except BackendError as e:
                log.warning("cannot read previous portal rules: %s", e)
                self._previous_ports = {}
        self.services.apply(self.service_changes.drain())
        self.endpoints.apply(self.endpoint_changes.drain())
        self.publish_pending()
        retired = self._reconcile()
        now = self.clock.now()
        full = (
            self.need_full_sync
            or self.last_full_sync is None
            or now - self.last_full_sync >= self.config.sync_period
        )
        portals = self.portals()
        try:
            if full or portals != self._written:
                await asyncio.to_thread(self._write, portals, full)
        except BackendError as e:
            self.sync_failures += 1
            self.metrics.restore_failures.inc()
            log.error("failed to write portal rules: %s", e)
            self.need_full_sync = True
            self.runner.retry_after(self.config.sync_period)
            return
        finally:
            for listener in retired:
                listener.close()
        self._written = portals
        if full:
            self.need_full_sync = False
            self.last_full_sync = now
        seconds = time.perf_counter() - started
        self.metrics.observe_sync(seconds, full=full)
        self.metrics.last_timestamp.set(time.time())
        if self.health is not None:
            self.health.updated()
        log.info(
            "synced iptables rules (%s, userspace, %d portals) in %.3fs",
            "full" if full else "partial",
            len(portals),
            seconds,
        )

    def _write(self, portals: list[Portal], full: bool, *, hold: bool = False) -> None:
        """Render and restore (blocking; runs in a worker thread)."""
        extra: dict[str, list[str]] = {}
        if full:
            for table in ("filter", "nat", "mangle"):  # mangle: iptables mode's canary
                saved = scan_save(self.backend.save(table), table)
                lines = [x for owned in self.foreign for x in owned_removal_lines(saved, owned)]
                for jump in USERSPACE_JUMPS:
                    if jump.table == table and not saved.has_rule(jump.source_chain, jump.args()):
                        lines.append(
                            f"{jump.position} {jump.source_chain} {join_args(jump.args())}"
                        )
                extra[table] = lines
        self.backend.restore(render_portals(portals, hold=hold, extra=extra))

    # -- shutdown ------------------------------------------------------------------------------

    async def shutdown(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Hold new connections in the kernel, stop listening, let relayed ones finish."""
        portals = self._written
        if portals:
            try:
                await asyncio.to_thread(self._write, portals, False, hold=True)
                # Connections that completed their handshake before the hold are still in
                # the accept queues: let the accept loops take them.
                await asyncio.sleep(0.05)
            except BackendError as e:
                log.warning("cannot install the restart hold: %s", e)
        for listener in self.listeners.values():
            listener.close()
        active = {
            task
            for lst in self.listeners.values()
            if isinstance(lst, TcpListener)
            for task in lst.connections
        }
        if active:
            log.info("waiting up to %.0fs for %d connections to finish", grace, len(active))
            _, pending = await asyncio.wait(active, timeout=grace)
            for task in pending:
                task.cancel()
        self.listeners.clear()
