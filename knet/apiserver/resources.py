"""The API's object semantics over the store: get, list, create, update, patch, delete.

Handlers parse HTTP; this module decides what happens to objects. It raises `ApiError` for every
refusal, so nothing but a Kubernetes Status ever reaches a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pydantic

from knet.api import registry
from knet.api.registry import ResourceInfo
from knet.api.selectors import FieldSelector, LabelSelector
from knet.api.times import rfc3339
from knet.apiserver import errors, strategy
from knet.apiserver.allocators import ClusterIPAllocator, PortAllocator
from knet.apiserver.errors import ApiError
from knet.apiserver.models import model_for
from knet.apiserver.request import MAX_DEPTH, exceeds_depth
from knet.apiserver.service_alloc import ServiceAllocations
from knet.apiserver.validation import validate_object
from knet.storage import (
    EventType,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    RevisionMismatchError,
    Store,
    StoreError,
)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-node-lease", "kube-public")
_GENERATE_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # upstream's alphabet: no vowels, no look-alikes


def decode(kv: KeyValue) -> dict[str, Any]:
    obj: dict[str, Any] = orjson.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
    return obj


def encode(obj: dict[str, Any]) -> bytes:
    # Patches can deepen an object past what its List could be written as; refuse that here,
    # where every write passes.
    if exceeds_depth(obj, MAX_DEPTH):
        raise errors.ApiError(
            422, "Invalid", f"the object would be nested more than {MAX_DEPTH} levels deep"
        )
    meta = obj.get("metadata", {})
    rv = meta.pop("resourceVersion", None)
    try:
        return orjson.dumps(obj)
    finally:
        if rv is not None:
            meta["resourceVersion"] = rv


def object_fields(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, str]:
    """The values a field selector sees, by dotted path (absent fields read as "")."""
    out: dict[str, str] = {}
    for path in info.selectable_fields:
        cur: Any = obj
        for part in path.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if path == "source" and info.kind == "Event":
            cur = (obj.get("source") or {}).get("component")
        if isinstance(cur, bool):
            out[path] = "true" if cur else "false"
        elif cur is None:
            out[path] = ""
        else:
            out[path] = str(cur)
    return out


def matches(
    info: ResourceInfo,
    obj: dict[str, Any],
    labels: LabelSelector | None,
    fields: FieldSelector | None,
) -> bool:
    if labels is not None and not labels.matches(obj.get("metadata", {}).get("labels") or {}):
        return False
    return fields is None or fields.matches(object_fields(info, obj))


def _generated_name(prefix: str) -> str:
    return prefix[:58] + "".join(secrets.choice(_GENERATE_SUFFIX) for _ in range(5))


def _terminating(ns: dict[str, Any]) -> bool:
    return bool(ns.get("metadata", {}).get("deletionTimestamp")) or (
        (ns.get("status") or {}).get("phase") == "Terminating"
    )


def _stored(obj: dict[str, Any], kv: KeyValue) -> dict[str, Any]:
    """The object as just written: what we encoded, with the revision the store gave it."""
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
    return obj


ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"


def gc_finalizers(finalizers: list[str], policy: str | None) -> list[str]:
    """The finalizers an object being deleted with `policy` carries (None keeps them)."""
    wanted = {"Orphan": ORPHAN_FINALIZER, "Foreground": FOREGROUND_FINALIZER}.get(policy or "")
    if policy is None:
        return finalizers
    out = [f for f in finalizers if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)]
    if wanted is not None:
        out.append(wanted)
    return out


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None


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
        # Namespace name -> terminating?, kept by a store watch so creates need no extra read.
        self._namespaces: dict[str, bool] = {}
        self._ns_task: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self._ns_task is not None:
            self._ns_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ns_task

    async def _follow_namespaces(self) -> None:
        prefix = registry.by_kind("Namespace").key_prefix(None)
        while True:
            kvs, rev = await self.store.range(prefix)
            self._namespaces = {
                decode(kv)["metadata"]["name"]: _terminating(decode(kv)) for kv in kvs
            }
            try:
                async for ev in self.store.watch(prefix, rev):
                    obj = decode(ev.kv)
                    name = obj["metadata"]["name"]
                    if ev.type is EventType.DELETE:
                        self._namespaces.pop(name, None)
                    else:
                        self._namespaces[name] = _terminating(obj)
            except StoreError:
                continue  # fell behind or compacted: list again

    # ------------------------------------------------------------------ start-up

    async def bootstrap(self) -> None:
        """Rebuild allocators from stored Services; make sure the system namespaces exist."""
        svc = registry.by_kind("Service")
        kvs, _ = await self.store.range(svc.key_prefix(None))
        self.services.restore(decode(kv) for kv in kvs)
        self._ns_task = asyncio.create_task(self._follow_namespaces())
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

    # ------------------------------------------------------------------ admission helpers

    async def _check_namespace(self, info: ResourceInfo, namespace: str | None, name: str) -> None:
        if not info.namespaced:
            return
        assert namespace is not None
        known = self._namespaces.get(namespace)
        if known is False:
            return  # active, as the namespace watch last saw it: the common case, no store read
        ns_info = registry.by_kind("Namespace")
        kv = await self.store.get(ns_info.key(None, namespace))
        if kv is None:
            raise errors.namespace_not_found(namespace)
        if _terminating(decode(kv)):
            raise errors.forbidden(
                f'{info.qualified} "{name}" is forbidden: unable to create new '
                f"content in namespace {namespace} because it is being terminated",
                {"group": info.group, "kind": info.plural},
            )

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
        await self._check_namespace(info, namespace, meta["name"])
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
            new = mutate(copy.deepcopy(current))
            self.typecheck(info, new)
            strategy.prepare_for_update(info, new, current, subresource)
            # Binding is the one write allowed to set a pod's nodeName, which the update rules
            # forbid; it is checked as an object, not as a spec change.
            self.validate(info, new, None if subresource == "binding" else current)
            new["metadata"].pop("resourceVersion", None)
            current_cmp = copy.deepcopy(current)
            current_cmp["metadata"].pop("resourceVersion", None)
            if new == current_cmp or dry_run:
                # A no-op write stores nothing and keeps the resourceVersion, as upstream.
                new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                return new
            if self._finalized(new):
                return await self._delete_now(info, namespace, name, kv.mod_revision, new)
            try:
                out = await self._store_update(
                    info, key, new, current, kv.mod_revision, subresource
                )
            except RevisionMismatchError:
                continue
            except KeyNotFoundError:
                raise errors.not_found(info, name) from None
            return _stored(new, out)

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

    @staticmethod
    def _finalized(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        return (
            bool(meta.get("deletionTimestamp"))
            and not meta.get("finalizers")
            # A Namespace also waits for its spec.finalizers (emptied through /finalize).
            and not (obj.get("spec") or {}).get("finalizers")
            and (meta.get("deletionGracePeriodSeconds") in (None, 0))
        )

    async def delete(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        options: DeleteOptions,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        key = info.key(namespace, name)
        if info.kind == "Namespace" and name in SYSTEM_NAMESPACES:
            # The system namespaces always exist (upstream's NamespaceLifecycle admission).
            raise errors.forbidden(
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                {"name": name, "group": "", "kind": "namespaces"},
            )
        while True:
            kv = await self.store.get(key)
            if kv is None:
                raise errors.not_found(info, name)
            obj = decode(kv)
            meta = obj["metadata"]
            if options.precondition_uid and options.precondition_uid != meta.get("uid"):
                raise errors.conflict(info, name)
            if options.precondition_rv and options.precondition_rv != meta.get("resourceVersion"):
                raise errors.conflict(info, name)
            if dry_run:
                return obj
            graceful = self._graceful_seconds(info, obj, options)
            old_finalizers = list(meta.get("finalizers") or [])
            # The propagation policy becomes a finalizer the garbage collector acts on, as
            # upstream: "orphan" (dependents lose their ownerReferences first) or
            # "foregroundDeletion" (dependents are deleted first).
            finalizers = gc_finalizers(old_finalizers, options.propagation_policy)
            if finalizers != old_finalizers:
                if finalizers:
                    meta["finalizers"] = finalizers
                else:
                    meta.pop("finalizers", None)
            pending = list(finalizers)
            if info.kind == "Namespace" and (obj.get("spec") or {}).get("finalizers"):
                pending.append("kubernetes")  # the namespace controller empties it first
            if not pending and not graceful:
                try:
                    return await self._delete_now(info, namespace, name, kv.mod_revision, obj)
                except ApiError as e:
                    if e.reason == "Conflict":
                        continue  # written since we read it: judge the delete again, as upstream
                    raise
            # Graceful or finalized deletion: mark it, and let its owner (kubelet, controllers)
            # finish the job.
            shorter = graceful is not None and graceful < (
                meta.get("deletionGracePeriodSeconds") or 0
            )
            if meta.get("deletionTimestamp") and not shorter:
                if finalizers == old_finalizers:
                    return obj
            else:
                stamp = datetime.now(UTC) + timedelta(seconds=graceful or 0)
                meta["deletionTimestamp"] = rfc3339(stamp)
                meta["deletionGracePeriodSeconds"] = graceful or 0
            if info.kind == "Namespace":
                obj.setdefault("status", {})["phase"] = "Terminating"
            meta.pop("resourceVersion", None)
            try:
                out = await self.store.update(
                    key, encode(obj), expected_mod_revision=kv.mod_revision
                )
            except RevisionMismatchError:
                continue
            except KeyNotFoundError:
                raise errors.not_found(info, name) from None
            return decode(out)

    @staticmethod
    def _graceful_seconds(
        info: ResourceInfo, obj: dict[str, Any], options: DeleteOptions
    ) -> int | None:
        """Pods bound to a node end gracefully: the kubelet stops them, then deletes for good."""
        if info.kind != "Pod":
            return None
        spec = obj.get("spec") or {}
        phase = (obj.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return None
        if options.grace_period_seconds is not None:
            return max(options.grace_period_seconds, 0)
        grace = spec.get("terminationGracePeriodSeconds", 30)
        return grace if isinstance(grace, int) else 30

    async def _delete_now(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        mod_revision: int,
        obj: dict[str, Any],
    ) -> dict[str, Any]:
        try:
            out = await self.store.delete(
                info.key(namespace, name), expected_mod_revision=mod_revision
            )
        except KeyNotFoundError:
            raise errors.not_found(info, name) from None
        except RevisionMismatchError:
            raise errors.conflict(info, name) from None
        if info.kind == "Service":
            await self.services.deleted(decode(out))
        return decode(out)


Mutator = Callable[[dict[str, Any]], dict[str, Any]]
AsyncMutator = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
