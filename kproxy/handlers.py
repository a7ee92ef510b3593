"""Informer event handlers shared by every proxy mode.

They only record changes in the trackers and ask for a sync; each mode's sync applies them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from kproxy.changes import EndpointsChangeTracker, ServiceChangeTracker
from kproxy.healthz import ProxyHealth
from kproxy.metrics import ProxyMetrics
from kproxy.provider import Obj


def _slice_service(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    return (str(meta.get("namespace") or ""), str(labels.get("kubernetes.io/service-name") or ""))


class ChangeHandlers(ABC):
    """Base of every mode's provider: the informer event methods of ``ProxyProvider`` over the
    change trackers given to ``__init__`` (which owns all the state used here).

    Contract for a mode: pass its trackers, metrics and health to ``__init__``; implement
    ``sync()`` (queue a sync); write nothing until ``initialized``; after draining the trackers
    call ``publish_pending()`` so the pending-change gauges follow.
    """

    def __init__(
        self,
        service_changes: ServiceChangeTracker,
        endpoint_changes: EndpointsChangeTracker,
        metrics: ProxyMetrics,
        health: ProxyHealth | None,
    ) -> None:
        self.service_changes = service_changes
        self.endpoint_changes = endpoint_changes
        self.metrics = metrics
        self.health = health
        self.services_synced = False
        self.endpoints_synced = False

    @abstractmethod
    def sync(self) -> None:
        """Ask for a sync (the mode's runner decides when it runs)."""

    @property
    def initialized(self) -> bool:
        """Both Services and endpoints have been listed: only then may rules be written."""
        return self.services_synced and self.endpoints_synced

    def publish_pending(self) -> None:
        """Set the pending-change gauges from the trackers (after a mode drained them)."""
        self._changed(False)

    def _changed(self, pending: bool) -> None:
        self.metrics.service_changes_pending.set(len(self.service_changes))
        self.metrics.endpoint_changes_pending.set(len(self.endpoint_changes))
        if pending and self.initialized:
            self.sync()

    def on_service_add(self, obj: Obj) -> None:
        self._changed(self.service_changes.update(None, obj))

    def on_service_update(self, old: Obj, new: Obj) -> None:
        self._changed(self.service_changes.update(old, new))

    def on_service_delete(self, obj: Obj) -> None:
        self._changed(self.service_changes.update(obj, None))

    def on_services_synced(self) -> None:
        self.services_synced = True
        if self.initialized:
            self.sync()

    def on_endpoint_slice_add(self, obj: Obj) -> None:
        self._changed(self.endpoint_changes.slice_update(obj))

    def on_endpoint_slice_update(self, old: Obj, new: Obj) -> None:
        if _slice_service(old) != _slice_service(new):
            self._changed(self.endpoint_changes.slice_moved(old, new))
        else:
            self._changed(self.endpoint_changes.slice_update(new))

    def on_endpoint_slice_delete(self, obj: Obj) -> None:
        self._changed(self.endpoint_changes.slice_update(obj, removed=True))

    def on_endpoint_slices_synced(self) -> None:
        self.endpoints_synced = True
        if self.initialized:
            self.sync()

    def on_endpoints_add(self, obj: Obj) -> None:
        self._changed(self.endpoint_changes.endpoints_update(None, obj))

    def on_endpoints_update(self, old: Obj, new: Obj) -> None:
        self._changed(self.endpoint_changes.endpoints_update(old, new))

    def on_endpoints_delete(self, obj: Obj) -> None:
        self._changed(self.endpoint_changes.endpoints_update(obj, None))

    def on_endpoints_synced(self) -> None:
        self.on_endpoint_slices_synced()

    def on_node_add(self, obj: Obj) -> None:
        if self.health is not None:
            self.health.sync_node(obj)

    def on_node_update(self, old: Obj, new: Obj) -> None:
        self.on_node_add(new)

    def on_node_delete(self, obj: Obj) -> None:
        if self.health is not None:
            self.health.sync_node(None)
