"""The API's object semantics over the store: get, list, create, update, patch, delete.

Handlers parse HTTP; this module decides what happens to objects. It raises `ApiError` for every
refusal, so nothing but a Kubernetes Status ever reaches a client.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pydantic

from knet.api import registry
from knet.api.registry import ResourceInfo
from knet.api.selectors import FieldSelector, LabelSelector
from knet.apiserver import deletion, errors, strategy
from knet.apiserver.allocators import ClusterIPAllocator, PortAllocator
from knet.apiserver.deletion import SYSTEM_NAMESPACES, DeleteOptions
from knet.apiserver.errors import ApiError
from knet.apiserver.models import model_for
from knet.apiserver.namespaces import NamespaceAdmission
from knet.apiserver.offload import maybe_offload
from knet.apiserver.selection import matches, object_fields
from knet.apiserver.service_alloc import ServiceAllocations
from knet.apiserver.stored import decode, encode
from knet.apiserver.validation import validate_object
from knet.storage import (
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    RevisionMismatchError,
    Store,
)

if TYPE_CHECKING:
    from knet.apiserver.watchcache import WatchCaches

__all__ = ["Resources", "matches", "object_fields"]

_GENERATE_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # upstream's alphabet: no vowels, no look-alikes


def _generated_name(prefix: str) -> str:
    return prefix[:58] + "".join(secrets.choice(_GENERATE_SUFFIX) for _ in range(5))


def _stored(obj: dict[str, Any], kv: KeyValue) -> dict[str, Any]:
    """The object as just written: what we encoded, with the revision the store gave it."""
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
    return obj


class Resources:
    """Object semantics for every resource in the registry, over one store."""

    def __init__(
        self,
        store: Store,
        cluster_ips: ClusterIPAllocator,
        node_ports: PortAllocator,
    ) -> None:
        self.store = store
        self.services = ServiceAllocations(cluster_ips, node_ports)
        self.namespaces = NamespaceAdmission(store)
        # Set by the app when --watch-cache is on: serves watches and resourceVersion=0 lists.
        self.watch_cache: WatchCaches | None = None

    async def close(self) -> None:
        await self.namespaces.close()

    # ------------------------------------------------------------------ start-up

    async def bootstrap(self) -> None:
        """Rebuild allocators from stored Services; make sure the system namespaces exist."""
        svc = registry.by_kind("Service")
        kvs, _ = await self.store.range(svc.key_prefix(None))
        self.services.restore(decode(kv) for kv in kvs)
        self.namespaces.start()
        ns = registry.by_kind("Namespace")
        for name in SYSTEM_NAMESPACES:
            if await self.store.get(ns.key(None, name)) is None:
                try:
                    await self.create(ns, None, {"metadata": {"name": name}})
                except ApiError as e:
                    if e.reason != "AlreadyExists":
                        raise

    # ------------------------------------------------------------------ reads

    async def get(self, info: ResourceInfo, namespace: str | None, name: str) -> dict[str, Any]:
        kv = await self.store.get(info.key(namespace, name))
        if kv is None:
            raise errors.not_found(info, name)
        return decode(kv)

    async def list_objects(
        self,
        info: ResourceInfo,
        namespace: str | None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        kvs, rev = await self.store.range(info.key_prefix(namespace))
        items = []
        for kv in kvs:
            obj = decode(kv)
            if matches(info, obj, labels, fields):
                items.append(obj)
        return items, rev

    def list_cached(
        self,
        info: ResourceInfo,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
        resource_version: str | None,
        match: str | None,
    ) -> tuple[list[dict[str, Any]], int] | None:
        """The list from the watch cache when the request allows it, else None (read the store)."""
        if self.watch_cache is None:
            return None
        return self.watch_cache.list(info, namespace, labels, fields, resource_version, match)

    # ------------------------------------------------------------------ admission helpers

    @staticmethod
    def typecheck(info: ResourceInfo, obj: dict[str, Any]) -> None:
        """Reject bodies whose field types are wrong (400, as upstream's decoder does)."""
        model = model_for(info.kind)
        if model is None:
            return
        try:
            model.model_validate(obj)
        except pydantic.ValidationError as e:
            # Missing required fields are validation's to report (422 with the field path);
            # here only wrong types are refused, as upstream's decoder refuses them (400).
            wrong = [err for err in e.errors() if err["type"] != "missing"]
            if not wrong:
                return
            first = wrong[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise errors.bad_request(
                f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: '
                f"{loc}: {first['msg']}"
            ) from None

    @staticmethod
    def validate(info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        causes = validate_object(info.kind, obj, old=old)
        if causes:
            name = obj.get("metadata", {}).get("name") or ""
            raise errors.invalid(info, name, causes)

    # ------------------------------------------------------------------ create

    async def create(
        self,
        info: ResourceInfo,
        namespace: str | None,
        obj: dict[str, Any],
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        self.typecheck(info, obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if info.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
        generate = not meta.get("name") and isinstance(meta.get("generateName"), str)
        if generate:
            meta["name"] = _generated_name(meta["generateName"])
        strategy.prepare_for_create(info, obj, namespace)
        self.validate(info, obj, None)
        await self.namespaces.admit(info, namespace, meta["name"])
        if dry_run:
            return obj
        # A generated name can collide (5 random characters); upstream retries a few times.
        attempts = 8 if generate else 1
        for attempt in range(attempts):
            try:
                return _stored(obj, await self._store_create(info, namespace, obj))
            except KeyExistsError:
                if attempt + 1 == attempts:
                    raise errors.already_exists(info, meta["name"]) from None
                meta["name"] = _generated_name(meta["generateName"])
        raise AssertionError("unreachable")

    async def _store_create(
        self, info: ResourceInfo, namespace: str | None, obj: dict[str, Any]
    ) -> KeyValue:
        key = info.key(namespace, obj["metadata"]["name"])
        if info.kind != "Service":
            # No lock here: concurrent creates must reach the store together to share a commit.
            return await self.store.create(key, encode(obj))
        return await self.services.create(obj, lambda: self.store.create(key, encode(obj)))

    # ------------------------------------------------------------------ update / patch

    async def update(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        obj: dict[str, Any],
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PUT: the body's resourceVersion, if any, must be the current one (else 409)."""
        self.typecheck(info, obj)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if meta.get("name") not in (None, name):
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the URL ({name})"
            )
        wanted_rv = meta.get("resourceVersion")

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            if wanted_rv and str(wanted_rv) != current["metadata"]["resourceVersion"]:
                raise errors.conflict(info, name)
            return copy.deepcopy(obj)

        return await self.guaranteed_update(
            info, namespace, name, mutate, subresource=subresource, dry_run=dry_run
        )

    async def guaranteed_update(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Read, mutate, compare-and-swap; retry when another writer got there first.

        A client's stale resourceVersion is a 409 raised by `mutate`; the store's CAS only hides
        races between concurrent requests, as upstream's GuaranteedUpdate does."""
        key = info.key(namespace, name)
        while True:
            kv = await self.store.get(key)
            if kv is None:
                raise errors.not_found(info, name)
            current = decode(kv)
            # A large object's copy, patch and checks run off the event loop.
            new = await maybe_offload(
                len(kv.value), self._mutated, info, current, mutate, subresource
            )
            new["metadata"].pop("resourceVersion", None)
            current_cmp = copy.deepcopy(current)
            current_cmp["metadata"].pop("resourceVersion", None)
            if new == current_cmp or dry_run:
                # A no-op write stores nothing and keeps the resourceVersion, as upstream.
                new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                return new
            if deletion.finalized(new):
                return await deletion.delete_now(
                    self.store, self.services, info, namespace, name, kv.mod_revision, new
                )
            try:
                out = await self._store_update(
                    info, key, new, current, kv.mod_revision, subresource
                )
            except RevisionMismatchError:
                continue
            except KeyNotFoundError:
                raise errors.not_found(info, name) from None
            return _stored(new, out)

    def _mutated(
        self,
        info: ResourceInfo,
        current: dict[str, Any],
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        subresource: str | None,
    ) -> dict[str, Any]:
        """The object `mutate` makes of a copy of `current`, defaulted and checked."""
        new = mutate(copy.deepcopy(current))
        self.typecheck(info, new)
        strategy.prepare_for_update(info, new, current, subresource)
        # Binding is the one write allowed to set a pod's nodeName, which the update rules
        # forbid; it is checked as an object, not as a spec change.
        self.validate(info, new, None if subresource == "binding" else current)
        return new

    async def _store_update(
        self,
        info: ResourceInfo,
        key: str,
        new: dict[str, Any],
        current: dict[str, Any],
        mod_revision: int,
        subresource: str | None,
    ) -> KeyValue:
        if info.kind != "Service" or subresource is not None:
            return await self.store.update(key, encode(new), expected_mod_revision=mod_revision)
        return await self.services.update(
            new,
            current,
            lambda: self.store.update(key, encode(new), expected_mod_revision=mod_revision),
        )

    # ------------------------------------------------------------------ delete

    async def delete(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        options: DeleteOptions,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        return await deletion.delete(
            self.store, self.services, info, namespace, name, options, dry_run=dry_run
        )


Mutator = Callable[[dict[str, Any]], dict[str, Any]]
AsyncMutator = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
