"""The garbage collector: cascading deletion along ownerReferences.

- Background (the default): once an owner is gone, each dependent whose owners are all gone is
  deleted (a dependent that still has a living owner only loses the dangling reference).
- Foreground: an owner deleted with propagationPolicy=Foreground carries the
  "foregroundDeletion" finalizer; its dependents are deleted first, and the finalizer is
  removed when no dependent that blocks owner deletion is left.
- Orphan: an owner deleted with propagationPolicy=Orphan carries the "orphan" finalizer; its
  dependents lose their references to it, then the finalizer is removed.

Owners that the cache does not show are looked up with a live GET before anything is deleted,
so an informer that lags behind never makes the collector delete a dependent of a new owner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from knet.api import registry
from knet.api.objects import Obj, is_deleting, meta, name_of, namespace_of, owner_refs, uid_of
from knet.api.registry import ResourceInfo
from knet.client import ApiError, Informer, is_not_found, object_key
from knet.controllers.base import OWNER_INDEX, Controller, ControllerContext

log = logging.getLogger("knet.controllers.garbagecollector")

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
# Kinds that can be owners or dependents. Events are left out: nothing owns them and they are
# the most numerous objects in a cluster.
_SKIP = frozenset({"Event", "Namespace"})
_SEP = "|"


def gc_kinds() -> list[str]:
    return [r.kind for r in registry.RESOURCES if r.kind not in _SKIP]


def finalizers_of(obj: Mapping[str, Any]) -> list[str]:
    value = meta(obj).get("finalizers")
    return [f for f in value if isinstance(f, str)] if isinstance(value, list) else []


def owner_info(ref: Mapping[str, Any]) -> ResourceInfo | None:
    """The served resource an ownerReference names, or None (unknown kinds are never judged)."""
    kind = ref.get("kind")
    if not isinstance(kind, str):
        return None
    try:
        info = registry.by_kind(kind)
    except KeyError:
        return None
    api_version = ref.get("apiVersion")
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else None
    return info if group == info.group else None


OwnerState = Literal["solid", "dangling", "waiting"]


@dataclass
class Verdict:
    solid: list[Obj] = field(default_factory=list)
    dangling: list[Obj] = field(default_factory=list)
    waiting: list[Obj] = field(default_factory=list)  # owners in foreground deletion


@dataclass(frozen=True)
class Action:
    kind: Literal["none", "delete", "patch-refs"]
    policy: str | None = None
    refs: list[Obj] | None = None


def decide(obj: Mapping[str, Any], verdict: Verdict, has_dependents: bool) -> Action:
    """What to do with a dependent given the state of its owners (upstream attemptToDeleteItem).
    Pure."""
    if verdict.solid:
        if not verdict.dangling and not verdict.waiting:
            return Action("none")
        dangling = {r.get("uid") for r in verdict.dangling}
        waiting = {r.get("uid") for r in verdict.waiting}
        refs = []
        for r in owner_refs(obj):
            if r.get("uid") in dangling:
                continue
            if r.get("uid") in waiting and r.get("blockOwnerDeletion"):
                r = {**r, "blockOwnerDeletion": False}  # do not hold up the owner's deletion
            refs.append(r)
        return Action("patch-refs", refs=refs)
    if verdict.waiting:
        return Action("delete", policy="Foreground" if has_dependents else "Background")
    if verdict.dangling:
        finalizers = finalizers_of(obj)
        policy = "Orphan" if ORPHAN in finalizers else (
            "Foreground" if FOREGROUND in finalizers else "Background"
        )  # fmt: skip
        return Action("delete", policy=policy)
    return Action("none")


class GarbageCollector(Controller):
    name = "garbagecollector"
    workers = 4

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.informers: dict[str, Informer] = {}
        for kind in gc_kinds():
            inf = ctx.informer(kind)
            self.informers[kind] = inf
            inf.add_handler(self._adder(kind), self._updater(kind), self._deleter(kind))

    # ------------------------------------------------------------------ handlers

    def _item(self, kind: str, obj: Mapping[str, Any]) -> str:
        return f"{kind}{_SEP}{object_key(obj)}"

    def _adder(self, kind: str) -> Callable[[Obj], None]:
        def on_add(obj: Obj) -> None:
            if owner_refs(obj) or self._gc_finalizing(obj):
                self.queue.add(self._item(kind, obj))

        return on_add

    def _updater(self, kind: str) -> Callable[[Obj, Obj], None]:
        def on_update(old: Obj, new: Obj) -> None:
            resync = meta(old).get("resourceVersion") == meta(new).get("resourceVersion")
            changed = owner_refs(old) != owner_refs(new) or is_deleting(old) != is_deleting(new)
            if (owner_refs(new) and (resync or changed)) or self._gc_finalizing(new):
                self.queue.add(self._item(kind, new))

        return on_update

    def _deleter(self, kind: str) -> Callable[[Obj], None]:
        def on_delete(obj: Obj) -> None:
            # Its dependents may now be dangling; owners waiting on it may now be free to go.
            for dep_kind, dep in self._dependents(uid_of(obj)):
                self.queue.add(self._item(dep_kind, dep))
            for ref in owner_refs(obj):
                owner = self._cached_owner(obj, ref)
                if owner is not None and self._gc_finalizing(owner):
                    self.queue.add(self._item(str(ref["kind"]), owner))

        return on_delete

    @staticmethod
    def _gc_finalizing(obj: Mapping[str, Any]) -> bool:
        return is_deleting(obj) and bool({ORPHAN, FOREGROUND} & set(finalizers_of(obj)))

    def _dependents(self, uid: str) -> list[tuple[str, Obj]]:
        if not uid:
            return []
        return [
            (kind, dep)
            for kind, inf in self.informers.items()
            for dep in inf.cache.by_index(OWNER_INDEX, uid)
        ]

    def _owner_namespace(self, dependent: Mapping[str, Any], info: ResourceInfo) -> str | None:
        return namespace_of(dependent) or None if info.namespaced else None

    def _cached_owner(self, dependent: Mapping[str, Any], ref: Mapping[str, Any]) -> Obj | None:
        info = owner_info(ref)
        if info is None or info.kind not in self.informers or not ref.get("name"):
            return None
        namespace = self._owner_namespace(dependent, info)
        if info.namespaced and namespace is None:
            return None
        return self.informers[info.kind].cache.get_by_name(str(ref["name"]), namespace)

    # ------------------------------------------------------------------ owners

    async def _owner_state(self, dependent: Obj, ref: Obj) -> OwnerState:
        info = owner_info(ref)
        if info is None or (info.namespaced and not namespace_of(dependent)):
            return "solid"  # cannot be judged: never delete on a guess
        owner = self._cached_owner(dependent, ref)
        if owner is None or uid_of(owner) != ref.get("uid"):
            try:
                owner = await self.client.get(
                    info.kind, str(ref.get("name")), self._owner_namespace(dependent, info)
                )
            except ApiError as e:
                if is_not_found(e):
                    return "dangling"
                raise
            if uid_of(owner) != ref.get("uid"):
                return "dangling"
        if is_deleting(owner) and FOREGROUND in finalizers_of(owner):
            return "waiting"
        return "solid"

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, key: str) -> None:
        kind, _, obj_key = key.partition(_SEP)
        inf = self.informers.get(kind)
        obj = inf.cache.get(obj_key) if inf is not None else None
        if obj is None:
            return
        if is_deleting(obj):
            finalizers = finalizers_of(obj)
            if ORPHAN in finalizers:
                await self._orphan_dependents(kind, obj)
            elif FOREGROUND in finalizers:
                await self._delete_dependents_first(kind, obj)
            if FOREGROUND not in finalizers:
                return  # being deleted already; nothing more for us to do
        await self._attempt_to_delete(kind, obj)

    async def _attempt_to_delete(self, kind: str, obj: Obj) -> None:
        refs = owner_refs(obj)
        if not refs or (is_deleting(obj) and FOREGROUND not in finalizers_of(obj)):
            return
        verdict = Verdict()
        for ref in refs:
            state = await self._owner_state(obj, ref)
            getattr(verdict, state).append(ref)
        action = decide(obj, verdict, bool(self._dependents(uid_of(obj))))
        if action.kind == "patch-refs":
            await self._patch(kind, obj, {"ownerReferences": action.refs or None})
        elif action.kind == "delete" and not is_deleting(obj):
            log.info("deleting %s %s (%s)", kind, object_key(obj), action.policy)
            try:
                await self.client.delete(
                    kind,
                    name_of(obj),
                    namespace_of(obj) or None,
                    propagation_policy=action.policy,  # type: ignore[arg-type]
                    precondition_uid=uid_of(obj),
                )
            except ApiError as e:
                # Conflict: the uid precondition failed (a new object took the name) or a
                # write raced ours; either way look again, with backoff.
                if not is_not_found(e):
                    raise

    async def _orphan_dependents(self, kind: str, owner: Obj) -> None:
        uid = uid_of(owner)
        for dep_kind, dep in self._dependents(uid):
            refs = [r for r in owner_refs(dep) if r.get("uid") != uid]
            await self._patch(dep_kind, dep, {"ownerReferences": refs or None})
        await self._remove_finalizer(kind, owner, ORPHAN)

    async def _delete_dependents_first(self, kind: str, owner: Obj) -> None:
        blocking = 0
        for dep_kind, dep in self._dependents(uid_of(owner)):
            ref = next((r for r in owner_refs(dep) if r.get("uid") == uid_of(owner)), {})
            if ref.get("blockOwnerDeletion"):
                blocking += 1
            if not is_deleting(dep):
                self.queue.add(self._item(dep_kind, dep))
        if blocking == 0:
            await self._remove_finalizer(kind, owner, FOREGROUND)

    async def _remove_finalizer(self, kind: str, obj: Obj, finalizer: str) -> None:
        rest = [f for f in finalizers_of(obj) if f != finalizer]
        await self._patch(kind, obj, {"finalizers": rest or None})

    async def _patch(self, kind: str, obj: Obj, metadata: dict[str, Any]) -> None:
        body = {"metadata": {**metadata, "resourceVersion": meta(obj).get("resourceVersion")}}
        try:
            await self.client.patch(kind, name_of(obj), body, namespace=namespace_of(obj) or None)
        except ApiError as e:
            if not is_not_found(e):
                raise
