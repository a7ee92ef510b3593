"""The mode-neutral provider interface: what the informer wiring drives, whatever the mode.

Every proxy mode (``kproxy/iptables``, ``kproxy/userspace``, and later ``kproxy/nftables``)
offers one provider object (``ProxyProvider``); ``kproxy.handlers.ChangeHandlers`` implements
its event half over the shared change trackers, a mode adds ``run``. Each mode is listed in
``kproxy.modes`` as a ``ProxyMode``: how to build its provider, how to clean up after it, and
what it owns in iptables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kproxy.cleanup import CleanupReport, OwnedRules
from kproxy.cli import Options
from kproxy.healthz import ProxyHealth
from kproxy.metrics import ProxyMetrics

Obj = Mapping[str, Any]


class ProxyProvider(Protocol):
    """Informer events in, rules (or listeners) out; every proxy mode implements it."""

    def on_service_add(self, obj: Obj) -> None: ...
    def on_service_update(self, old: Obj, new: Obj) -> None: ...
    def on_service_delete(self, obj: Obj) -> None: ...
    def on_services_synced(self) -> None: ...
    def on_endpoint_slice_add(self, obj: Obj) -> None: ...
    def on_endpoint_slice_update(self, old: Obj, new: Obj) -> None: ...
    def on_endpoint_slice_delete(self, obj: Obj) -> None: ...
    def on_endpoint_slices_synced(self) -> None: ...
    def on_endpoints_add(self, obj: Obj) -> None: ...
    def on_endpoints_update(self, old: Obj, new: Obj) -> None: ...
    def on_endpoints_delete(self, obj: Obj) -> None: ...
    def on_endpoints_synced(self) -> None: ...
    def on_node_add(self, obj: Obj) -> None: ...
    def on_node_update(self, old: Obj, new: Obj) -> None: ...
    def on_node_delete(self, obj: Obj) -> None: ...
    async def run(self) -> None: ...


@dataclass(frozen=True)
class ModeContext:
    """What a mode's ``build`` gets: the flags, the shared metrics and health, this node's IPs,
    and the rules of every *other* mode, which its full syncs remove (a mode switch)."""

    opts: Options
    metrics: ProxyMetrics
    health: ProxyHealth | None
    node_ips: tuple[str, ...]
    foreign: tuple[OwnedRules, ...] = ()


@dataclass(frozen=True)
class ProxyMode:
    """One entry of the mode registry (``kproxy.modes``), keyed by ``--proxy-mode``.

    ``owned`` is what the mode leaves in iptables (None if nothing): the other modes remove it
    in their full syncs when they take over. ``leftovers`` removes what it leaves outside
    iptables (nftables mode's table); whichever other mode starts next calls it once, as
    kube-proxy cleans up after the other modes at start-up. ``cleanup`` removes the mode's
    rules for ``kproxy --cleanup``.
    """

    name: str
    build: Callable[[ModeContext], Awaitable[ProxyProvider]]
    cleanup: Callable[[Options], CleanupReport]
    owned: OwnedRules | None = None
    leftovers: Callable[[Options], CleanupReport] | None = None
