"""The ReplicaSet controller: keeps `spec.replicas` pods matching the selector, owned by the set.

Pure pieces: `pod_from_template`, `claim` (adopt orphans that match, release pods that no longer
match), `plan` (how many to create, which to delete), `slow_start_batches` and `replica_status`.
The controller tracks expectations so that a burst of events never creates duplicates.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from knet.api.objects import (
    Obj,
    controller_ref,
    is_deleting,
    labels_of,
    make_controller_ref,
    meta,
    name_of,
    namespace_of,
    owner_refs,
    uid_of,
)
from knet.api.pods import is_active, is_available, is_ready
from knet.api.selectors import LabelSelector, SelectorError, selector_from_label_selector
from knet.client import NAMESPACE_INDEX, ApiError, is_not_found, object_key
from knet.client.recorder import NORMAL, WARNING
from knet.controllers.base import Controller, ControllerContext
from knet.controllers.deletionorder import deletion_order
from knet.controllers.expectations import Expectations

log = logging.getLogger("knet.controllers.replicaset")

BURST_REPLICAS = 500  # most pods created or deleted in one reconcile (upstream's burstReplicas)
RS_API_VERSION, RS_KIND = "apps/v1", "ReplicaSet"


# ---------------------------------------------------------------------------- pure


def selector_of(rs: Mapping[str, Any]) -> LabelSelector:
    """The set's selector; an unreadable one selects nothing (validation should have refused it)."""
    try:
        return selector_from_label_selector((rs.get("spec") or {}).get("selector"))
    except SelectorError:
        return LabelSelector.nothing()


def spec_replicas(obj: Mapping[str, Any]) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return value if isinstance(value, int) else 1


def pod_from_template(owner: Mapping[str, Any], api_version: str, kind: str) -> Obj:
    """The pod a controller creates from its owner's template (upstream GetPodFromTemplate)."""
    template = (owner.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    pod_meta: Obj = {
        "generateName": f"{name_of(owner)}-",
        "namespace": namespace_of(owner),
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [make_controller_ref(owner, api_version, kind)],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        pod_meta["finalizers"] = list(tmeta["finalizers"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


@dataclass(frozen=True)
class Claim:
    owned: list[Obj]  # ours and matching (including those about to be adopted)
    adopt: list[Obj]  # orphans that match: add our controller reference
    release: list[Obj]  # ours but no longer matching: drop our reference


def claim(owner: Mapping[str, Any], selector: LabelSelector, pods: Iterable[Obj]) -> Claim:
    """Which pods the owner controls, as upstream's ControllerRefManager decides. An owner being
    deleted adopts nothing."""
    uid = uid_of(owner)
    owned: list[Obj] = []
    adopt: list[Obj] = []
    release: list[Obj] = []
    for pod in pods:
        ref = controller_ref(pod)
        matches = selector.matches(labels_of(pod))
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches:
                owned.append(pod)
            elif not is_deleting(owner):
                release.append(pod)
            continue
        if matches and not is_deleting(owner) and not is_deleting(pod):
            adopt.append(pod)
            owned.append(pod)
    return Claim(owned, adopt, release)


@dataclass(frozen=True)
class Plan:
    create: int = 0
    delete: list[Obj] = field(default_factory=list)


def plan(active: Sequence[Obj], replicas: int, burst: int = BURST_REPLICAS) -> Plan:
    """Create or delete to reach `replicas` active pods, at most `burst` at a time; the pods
    deleted are the ones upstream ranks first (unscheduled, not ready, newer...)."""
    diff = len(active) - replicas
    if diff < 0:
        return Plan(create=min(-diff, burst))
    if diff > 0:
        return Plan(delete=deletion_order(active)[: min(diff, burst)])
    return Plan()


def slow_start_batches(count: int, initial: int = 1) -> list[int]:
    """Batch sizes 1, 2, 4, ... summing to `count`: a failing create (quota, a bad template)
    is found after one request, not after hundreds."""
    out: list[int] = []
    size = max(initial, 1)
    left = count
    while left > 0:
        batch = min(size, left)
        out.append(batch)
        left -= batch
        size *= 2
    return out


def replica_status(
    rs: Mapping[str, Any], owned_active: Sequence[Obj], now: datetime
) -> dict[str, Any]:
    """status.{replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
    observedGeneration}; conditions are kept from the current status."""
    spec = rs.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = spec.get("minReadySeconds") or 0
    status: dict[str, Any] = {
        "replicas": len(owned_active),
        "fullyLabeledReplicas": sum(
            1
            for p in owned_active
            if all(labels_of(p).get(k) == v for k, v in template_labels.items())
        ),
        "readyReplicas": sum(1 for p in owned_active if is_ready(p)),
        "availableReplicas": sum(1 for p in owned_active if is_available(p, min_ready, now)),
        "observedGeneration": meta(rs).get("generation") or 1,
    }
    conditions = (rs.get("status") or {}).get("conditions")
    if conditions:
        status["conditions"] = conditions
    return status


def status_changed(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    have = dict(current or {})
    return any(have.get(k, 0 if k != "conditions" else None) != v for k, v in wanted.items())


# ---------------------------------------------------------------------------- I/O helpers


async def run_batches(
    count: int, create_one: Callable[[], Awaitable[None]]
) -> tuple[int, list[BaseException]]:
    """Run `create_one` `count` times in slow-start batches; stops after a batch with errors.
    Returns (how many were attempted, the errors)."""
    attempted = 0
    for size in slow_start_batches(count):
        results = await asyncio.gather(*(create_one() for _ in range(size)), return_exceptions=True)
        attempted += size
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            return attempted, errors
    return attempted, []


def with_owner(pod: Mapping[str, Any], ref: Obj) -> list[Obj]:
    return [*owner_refs(pod), ref]


def without_owner(pod: Mapping[str, Any], uid: str) -> list[Obj]:
    return [r for r in owner_refs(pod) if r.get("uid") != uid]


async def patch_owner_refs(
    ctx: ControllerContext, obj: Obj, refs: list[Obj], kind: str = "Pod"
) -> None:
    """Replace an object's ownerReferences, guarded by its resourceVersion (a stale cache gives
    409 Conflict and a retry, never a lost reference)."""
    body = {
        "metadata": {
            "ownerReferences": refs or None,
            "resourceVersion": meta(obj).get("resourceVersion"),
        }
    }
    try:
        await ctx.client.patch(kind, name_of(obj), body, namespace=namespace_of(obj))
    except ApiError as e:
        if not is_not_found(e):
            raise


# ---------------------------------------------------------------------------- the controller


class ReplicaSetController(Controller):
    name = "replicaset"
    workers = 4
    owner_kind = RS_KIND
    owner_api_version = RS_API_VERSION

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = ctx.informer(self.owner_kind)
        self.pods = ctx.informer("Pod")
        self.expectations = Expectations(clock=time.monotonic)
        self.sets.add_handler(self._on_set, self._on_set_update, self._on_set_delete)
        self.pods.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)

    # ------------------------------------------------------------------ handlers

    def selector(self, rs: Mapping[str, Any]) -> LabelSelector:
        """The pods this set selects (a ReplicationController overrides: equality selector)."""
        return selector_of(rs)

    def _on_set(self, rs: Obj) -> None:
        self.enqueue(rs)

    def _on_set_update(self, old: Obj, new: Obj) -> None:
        self.enqueue(new)

    def _on_set_delete(self, rs: Obj) -> None:
        self.expectations.forget(object_key(rs))

    def _owner_key(self, pod: Mapping[str, Any]) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != self.owner_kind or not ref.get("name"):
            return None
        return f"{namespace_of(pod)}/{ref['name']}"

    def _matching_owners(self, pod: Mapping[str, Any]) -> list[str]:
        out = []
        for rs in self.sets.cache.by_index(NAMESPACE_INDEX, namespace_of(pod)):
            if self.selector(rs).matches(labels_of(pod)):
                out.append(object_key(rs))
        return out

    def _on_pod_add(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if is_deleting(pod):
            # A pod seen first while being deleted (a restarted informer) counts as deleted.
            self._on_pod_delete(pod)
            return
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)
        elif controller_ref(pod) is None:
            for k in self._matching_owners(pod):
                self.queue.add(k)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return  # a resync
        old_key, new_key = self._owner_key(old), self._owner_key(new)
        if is_deleting(new) and not is_deleting(old) and new_key is not None:
            self.expectations.deletion_observed(new_key, object_key(new))
        if old_key is not None and old_key != new_key:
            self.queue.add(old_key)
        if new_key is not None:
            self.queue.add(new_key)
            rs = self.sets.cache.get(new_key)
            min_ready = ((rs or {}).get("spec") or {}).get("minReadySeconds") or 0
            if min_ready and is_ready(new) and not is_ready(old):
                self.queue.add_after(new_key, float(min_ready) + 0.5)
        elif controller_ref(new) is None and (
            labels_of(old) != labels_of(new) or controller_ref(old) is not None
        ):
            for k in self._matching_owners(new):
                self.queue.add(k)

    def _on_pod_delete(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, object_key(pod))
            self.queue.add(key)

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, key: str) -> None:
        rs = self.sets.cache.get(key)
        if rs is None:
            self.expectations.forget(key)
            return
        namespace = namespace_of(rs)
        selector = self.selector(rs)
        in_namespace = self.pods.cache.by_index(NAMESPACE_INDEX, namespace)
        candidates = [p for p in in_namespace if is_active(p)]
        claimed = claim(rs, selector, candidates)
        ref = make_controller_ref(rs, self.owner_api_version, self.owner_kind)
        for pod in claimed.adopt:
            await patch_owner_refs(self.ctx, pod, with_owner(pod, ref))
        for pod in claimed.release:
            await patch_owner_refs(self.ctx, pod, without_owner(pod, uid_of(rs)))
        error: BaseException | None = None
        if self.expectations.satisfied(key) and not is_deleting(rs):
            try:
                await self._manage(key, rs, claimed.owned)
            except (ApiError, OSError) as e:
                error = e
        await self._update_status(rs, claimed.owned)
        if error is not None:
            raise error

    async def _manage(self, key: str, rs: Obj, owned: list[Obj]) -> None:
        wanted = plan(owned, spec_replicas(rs))
        if wanted.create:
            await self._create(key, rs, wanted.create)
        elif wanted.delete:
            await self._delete(key, rs, wanted.delete)

    async def _create(self, key: str, rs: Obj, count: int) -> None:
        self.expectations.expect_creations(key, count)
        template = pod_from_template(rs, self.owner_api_version, self.owner_kind)

        async def create_one() -> None:
            try:
                await self.client.create(copy.deepcopy(template))
            except BaseException:
                self.expectations.creation_observed(key)  # this one will never be seen
                raise

        attempted, errors = await run_batches(count, create_one)
        if attempted < count:
            self.expectations.creations_failed(key, count - attempted)
        created = attempted - len(errors)
        if created:
            self.recorder.event(
                rs, NORMAL, "SuccessfulCreate", f"Created {created} pod(s) from {name_of(rs)}"
            )
        if errors:
            self.recorder.event(rs, WARNING, "FailedCreate", f"Error creating: {errors[0]}")
            raise errors[0]

    async def _delete(self, key: str, rs: Obj, pods: list[Obj]) -> None:
        self.expectations.expect_deletions(key, [object_key(p) for p in pods])

        async def delete_one(pod: Obj) -> None:
            try:
                await self.client.delete("Pod", name_of(pod), namespace_of(pod))
                self.recorder.event(rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {name_of(pod)}")
            except BaseException as e:
                self.expectations.deletion_observed(key, object_key(pod))
                if not is_not_found(e):
                    raise

        results = await asyncio.gather(*(delete_one(p) for p in pods), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def _update_status(self, rs: Obj, owned: list[Obj]) -> None:
        now = datetime.now(UTC)
        active = [p for p in owned if is_active(p)]
        wanted = replica_status(rs, active, now)
        if status_changed(rs.get("status"), wanted):
            try:
                await self.client.patch_status(
                    self.owner_kind, name_of(rs), {"status": wanted}, namespace=namespace_of(rs)
                )
            except ApiError as e:
                if not is_not_found(e):
                    raise
        min_ready = (rs.get("spec") or {}).get("minReadySeconds") or 0
        if min_ready and wanted["readyReplicas"] != wanted["availableReplicas"]:
            self.queue.add_after(object_key(rs), float(min_ready))
