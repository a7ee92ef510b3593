"""The Deployment controller: one ReplicaSet per pod template (named by its pod-template-hash,
numbered by the revision annotation), rolled by RollingUpdate (maxSurge / maxUnavailable) or
Recreate, with the status and conditions that `kubectl rollout status` reads.

The arithmetic lives in `deploymentutil`; this module reads caches and writes ReplicaSets.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from knet.api.objects import (
    Obj,
    controller_ref,
    is_deleting,
    labels_of,
    make_controller_ref,
    name_of,
    namespace_of,
    uid_of,
)
from knet.api.pods import FAILED, SUCCEEDED, phase
from knet.api.selectors import LabelSelector
from knet.client import (
    NAMESPACE_INDEX,
    ApiClient,
    ApiError,
    is_already_exists,
    is_not_found,
    object_key,
)
from knet.client.recorder import NORMAL, EventRecorder
from knet.controllers import deploymentutil as du
from knet.controllers.base import CONTROLLER_INDEX, Controller, ControllerContext
from knet.controllers.replicaset import (
    claim,
    patch_owner_refs,
    selector_of,
    with_owner,
    without_owner,
)

log = logging.getLogger("knet.controllers.deployment")

# How long a ReplicaSet write may stay unseen by our cache before we act on the cache anyway.
_WRITE_SEEN_TIMEOUT = 30.0


class DeploymentController(Controller):
    name = "deployment"
    workers = 2

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.deployments = ctx.informer("Deployment")
        self.sets = ctx.informer("ReplicaSet")
        self.pods = ctx.informer("Pod")
        self.writes = DeploymentWrites(self.client, self.recorder, self._note_write)
        # deployment key -> ReplicaSet name -> (replicas written, when): writes our cache must
        # show before we compute another step from it.
        self._written: dict[str, dict[str, tuple[int, float]]] = {}
        self.deployments.add_handler(
            self.enqueue, lambda _old, new: self.enqueue(new), self._on_deployment_delete
        )
        self.sets.add_handler(self._on_set, self._on_set_update, self._on_set)
        self.pods.add_handler(on_delete=self._on_pod_delete)

    # ------------------------------------------------------------------ handlers

    def _on_deployment_delete(self, d: Obj) -> None:
        self._written.pop(object_key(d), None)

    def _owner_key(self, rs: Mapping[str, Any]) -> str | None:
        ref = controller_ref(rs)
        if ref is None or ref.get("kind") != "Deployment" or not ref.get("name"):
            return None
        return f"{namespace_of(rs)}/{ref['name']}"

    def _matching(self, rs: Mapping[str, Any]) -> list[str]:
        return [
            object_key(d)
            for d in self.deployments.cache.by_index(NAMESPACE_INDEX, namespace_of(rs))
            if selector_of(d).matches(labels_of(rs))
        ]

    def _on_set(self, rs: Obj) -> None:
        key = self._owner_key(rs)
        if key is not None:
            self.queue.add(key)
        else:
            for k in self._matching(rs):
                self.queue.add(k)

    def _on_set_update(self, old: Obj, new: Obj) -> None:
        old_key = self._owner_key(old)
        if old_key is not None and old_key != self._owner_key(new):
            self.queue.add(old_key)
        self._on_set(new)

    def _on_pod_delete(self, pod: Obj) -> None:
        # Recreate waits for the old pods to be gone: their deletion is what it waits on.
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.sets.cache.get(f"{namespace_of(pod)}/{ref.get('name')}")
        key = self._owner_key(rs) if rs is not None else None
        if key is not None:
            d = self.deployments.cache.get(key)
            if d is not None and du.strategy_type(d) == "Recreate":
                self.queue.add(key)

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, key: str) -> None:
        d = self.deployments.cache.get(key)
        if d is None:
            return
        selector = selector_of(d)
        owned = await self._claim(d, selector)
        if not self._cache_caught_up(key, owned):
            # The informer will bring our last writes and requeue us; the timer is insurance.
            self.queue.add_after(key, 1.0)
            return
        if is_deleting(d):
            new_rs, _old = du.find_new_and_old(d, owned)
            await self.writes.write_status(d, owned, new_rs)
            return
        if selector.empty():
            return  # upstream refuses to act on a selector that selects everything
        paused = bool((d.get("spec") or {}).get("paused"))
        if paused or du.is_scaling_event(d, owned):
            await self._scale(key, d, owned)
        elif du.strategy_type(d) == "Recreate":
            await self._recreate(key, d, owned)
        else:
            await self._rolling(key, d, owned)

    async def _claim(self, d: Obj, selector: LabelSelector) -> list[Obj]:
        candidates = self.sets.cache.by_index(NAMESPACE_INDEX, namespace_of(d))
        claimed = claim(d, selector, candidates)
        ref = make_controller_ref(d, "apps/v1", "Deployment")
        for rs in claimed.adopt:
            await patch_owner_refs(self.ctx, rs, with_owner(rs, ref), kind="ReplicaSet")
        for rs in claimed.release:
            await patch_owner_refs(self.ctx, rs, without_owner(rs, uid_of(d)), kind="ReplicaSet")
        return claimed.owned

    def _cache_caught_up(self, key: str, owned: list[Obj]) -> bool:
        written = self._written.get(key)
        if not written:
            return True
        now = time.monotonic()
        by_name = {name_of(rs): rs for rs in owned}
        for rs_name, (want, stamp) in list(written.items()):
            rs = by_name.get(rs_name)
            if (rs is not None and du.replicas(rs) == want) or now - stamp > _WRITE_SEEN_TIMEOUT:
                del written[rs_name]
        return not written

    def _note_write(self, key: str, rs_name: str, replicas: int) -> None:
        self._written.setdefault(key, {})[rs_name] = (replicas, time.monotonic())

    # ------------------------------------------------------------------ strategies

    async def _rolling(self, key: str, d: Obj, owned: list[Obj]) -> None:
        new_rs, old = du.find_new_and_old(d, owned)
        if new_rs is None:
            await self.writes.create_new(key, d, old, du.new_rs_replicas(d, old, None))
            return
        new_rs = await self.writes.sync_revision(d, new_rs, old)
        everyone = [*old, new_rs]
        target = du.new_rs_replicas(d, everyone, new_rs)
        if target != du.replicas(new_rs):
            new_rs = await self.writes.scale_rs(key, d, new_rs, target)
            await self.writes.write_status(d, [*old, new_rs], new_rs)
            return
        downs = du.old_scale_down(d, old, new_rs)
        if downs:
            scale = self.writes.scale_rs
            old = [await scale(key, d, rs, downs[name_of(rs)]) if name_of(rs) in downs else rs
                   for rs in old]  # fmt: skip
            await self.writes.write_status(d, [*old, new_rs], new_rs)
            return
        if du.is_complete(d, d.get("status") or {}):
            await self.writes.clean_up(d, old)
        await self.writes.write_status(d, [*old, new_rs], new_rs)

    async def _recreate(self, key: str, d: Obj, owned: list[Obj]) -> None:
        new_rs, old = du.find_new_and_old(d, owned)
        active_old = [rs for rs in old if du.replicas(rs) > 0]
        if active_old:
            old = [await self.writes.scale_rs(key, d, rs, 0) if du.replicas(rs) > 0 else rs
                   for rs in old]  # fmt: skip
            await self.writes.write_status(d, owned if new_rs is None else [*old, new_rs], new_rs)
            return
        if self._old_pods_running(old):
            await self.writes.write_status(d, [*old, *([new_rs] if new_rs else [])], new_rs)
            return
        if new_rs is None:
            await self.writes.create_new(key, d, old, du.desired(d))
            return
        new_rs = await self.writes.sync_revision(d, new_rs, old)
        if du.replicas(new_rs) != du.desired(d):
            new_rs = await self.writes.scale_rs(key, d, new_rs, du.desired(d))
        elif du.is_complete(d, d.get("status") or {}):
            await self.writes.clean_up(d, old)
        await self.writes.write_status(d, [*old, new_rs], new_rs)

    def _old_pods_running(self, old: list[Obj]) -> bool:
        for rs in old:
            if du.status_int(rs, "replicas") > 0:
                return True
            for pod in self.pods.cache.by_index(CONTROLLER_INDEX, uid_of(rs)):
                if phase(pod) not in (SUCCEEDED, FAILED):
                    return True
        return False

    async def _scale(self, key: str, d: Obj, owned: list[Obj]) -> None:
        """A scaling event (or a paused Deployment): resize without rolling."""
        new_rs, old = du.find_new_and_old(d, owned)
        targets = du.proportional_scale(d, new_rs, old)
        everyone = [*old, *([new_rs] if new_rs is not None else [])]
        updated = [
            await self.writes.scale_rs(key, d, rs, targets[name_of(rs)]) if name_of(rs) in targets
            else rs
            for rs in everyone
        ]  # fmt: skip
        new_after = next((rs for rs in updated if new_rs is not None
                          and name_of(rs) == name_of(new_rs)), None)  # fmt: skip
        await self.writes.write_status(d, updated, new_after)


class DeploymentWrites:
    """What the Deployment controller writes: ReplicaSets created, scaled, renumbered and
    cleaned up, the Deployment's revision annotation and status, and the Events for them.
    ``note_write`` tells the controller which ReplicaSet sizes its cache must show next."""

    def __init__(
        self,
        client: ApiClient,
        recorder: EventRecorder,
        note_write: Callable[[str, str, int], None],
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.note_write = note_write

    async def create_new(self, key: str, d: Obj, old: list[Obj], replicas: int) -> None:
        status = d.get("status") or {}
        collisions = status.get("collisionCount") or 0
        body = du.new_replica_set(d, old, collisions)
        body["spec"]["replicas"] = replicas
        body["metadata"]["annotations"].update(du.replica_annotations(d))
        rs_name = body["metadata"]["name"]
        try:
            created = await self.client.create(body)
        except ApiError as e:
            if not is_already_exists(e):
                raise
            existing = await self.client.get("ReplicaSet", rs_name, namespace_of(d))
            ref = controller_ref(existing)
            if (
                ref is not None
                and ref.get("uid") == uid_of(d)
                and du.equal_ignore_hash(du.template_of(existing), du.template_of(d))
            ):
                return  # ours: the cache had not caught up
            # A hash collision with someone else's ReplicaSet: the next name is different.
            await self.client.patch_status(
                "Deployment",
                name_of(d),
                {"status": {"collisionCount": collisions + 1}},
                namespace=namespace_of(d),
            )
            raise
        self.note_write(key, rs_name, replicas)
        self.recorder.event(
            d, NORMAL, "ScalingReplicaSet", f"Scaled up replica set {rs_name} from 0 to {replicas}"
        )
        now = datetime.now(UTC)
        status = du.calculate_status(d, old, None, now)
        status = du.with_condition(
            status,
            du.progressing_condition(
                du.NEW_RS_CREATED, f'Created new replica set "{rs_name}"', now
            ),
        )
        await self.patch_status(d, status)
        await self.set_revision(d, du.revision(created))

    async def sync_revision(self, d: Obj, new_rs: Obj, old: list[Obj]) -> Obj:
        """The new ReplicaSet carries the highest revision (a rollback renumbers it), and the
        Deployment's revision annotation follows it."""
        top = du.max_revision(old)
        if du.revision(new_rs) <= top:
            wanted = str(top + 1)
            notes: dict[str, Any] = {du.REVISION: wanted}
            previous = du.annotations_of(new_rs).get(du.REVISION)
            if previous:
                history = du.annotations_of(new_rs).get(du.REVISION_HISTORY)
                notes[du.REVISION_HISTORY] = f"{history},{previous}" if history else previous
            new_rs = await self.client.patch(
                "ReplicaSet",
                name_of(new_rs),
                {"metadata": {"annotations": notes}},
                namespace=namespace_of(new_rs),
            )
        await self.set_revision(d, du.revision(new_rs))
        return new_rs

    async def set_revision(self, d: Obj, revision: int) -> None:
        if revision and du.annotations_of(d).get(du.REVISION) != str(revision):
            await self.client.patch(
                "Deployment",
                name_of(d),
                {"metadata": {"annotations": {du.REVISION: str(revision)}}},
                namespace=namespace_of(d),
            )

    async def scale_rs(self, key: str, d: Obj, rs: Obj, replicas: int) -> Obj:
        before = du.replicas(rs)
        notes = du.replica_annotations(d)
        if before == replicas and all(du.annotations_of(rs).get(k) == v for k, v in notes.items()):
            return rs
        out = await self.client.patch(
            "ReplicaSet",
            name_of(rs),
            {"metadata": {"annotations": notes}, "spec": {"replicas": replicas}},
            namespace=namespace_of(rs),
        )
        self.note_write(key, name_of(rs), replicas)
        if before != replicas:
            direction = "up" if replicas > before else "down"
            self.recorder.event(
                d,
                NORMAL,
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {name_of(rs)} from {before} to {replicas}",
            )
        return out

    async def clean_up(self, d: Obj, old: list[Obj]) -> None:
        for rs in du.to_clean_up(d, old):
            try:
                await self.client.delete("ReplicaSet", name_of(rs), namespace_of(rs))
            except ApiError as e:
                if not is_not_found(e):
                    raise

    async def write_status(self, d: Obj, everyone: list[Obj], new_rs: Obj | None) -> None:
        status = du.rollout_status(d, everyone, new_rs, datetime.now(UTC))
        await self.patch_status(d, status)

    async def patch_status(self, d: Obj, status: Obj) -> None:
        current = copy.deepcopy(d.get("status") or {})
        if all(current.get(k) == v for k, v in status.items()):
            return
        try:
            await self.client.patch_status(
                "Deployment", name_of(d), {"status": status}, namespace=namespace_of(d)
            )
        except ApiError as e:
            if not is_not_found(e):
                raise
