"""Informers → the record index: Services, EndpointSlices and Namespaces, each listed then
watched (resumed, relisted on 410) by `knet.client`'s shared informers. Handlers write the index
at once, so a change is answered as soon as its watch event arrives."""

from __future__ import annotations

from knet.client import Informer, SharedInformerFactory
from knet.client.cache import Obj
from knet.dns.records import RecordIndex


def attach(factory: SharedInformerFactory, index: RecordIndex) -> list[Informer]:
    services = factory.informer("Service")
    services.add_handler(
        on_add=index.upsert_service,
        on_update=lambda _old, new: index.upsert_service(new),
        on_delete=index.delete_service,
    )
    slices = factory.informer("EndpointSlice")
    slices.add_handler(
        on_add=index.upsert_slice,
        on_update=lambda old, new: _slice_moved(index, old, new),
        on_delete=index.delete_slice,
    )
    namespaces = factory.informer("Namespace")
    namespaces.add_handler(
        on_add=index.upsert_namespace,
        on_update=lambda _old, new: index.upsert_namespace(new),
        on_delete=index.delete_namespace,
    )
    return [services, slices, namespaces]


def _slice_moved(index: RecordIndex, old: Obj, new: Obj) -> None:
    # A slice relabelled to another Service leaves its old one.
    index.delete_slice(old)
    index.upsert_slice(new)
