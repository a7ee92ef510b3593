"""The DaemonSet controller: one pod on every node that should run it
(knet/controllers/daemonsetutil.py decides), rolling updates or OnDelete, and the template
history as ControllerRevisions (knet/controllers/history.py), which `kubectl rollout
history|undo ds` read and apply."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Mapping
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
    uid_of,
)
from knet.client import NAMESPACE_INDEX, ApiError, is_not_found, object_key
from knet.client.recorder import NORMAL, WARNING
from knet.controllers import daemonsetutil as du
from knet.controllers import history
from knet.controllers.base import Controller, ControllerContext
from knet.controllers.expectations import Expectations
from knet.controllers.jobutil import merge_patch
from knet.controllers.replicaset import claim, patch_owner_refs, selector_of, with_owner
from knet.controllers.revisions import ensure_revision, names_for_hashes, prune_revisions

log = logging.getLogger("knet.controllers.daemonset")


class DaemonSetController(Controller):
    name = "daemonset"
    component = "daemonset-controller"
    workers = 2

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = ctx.informer(du.DS_KIND)
        self.pods = ctx.informer("Pod")
        self.nodes = ctx.informer("Node")
        self.revisions = ctx.informer("ControllerRevision")
        self.expectations = Expectations(clock=time.monotonic)
        self.sets.add_handler(self.enqueue, lambda _o, new: self.enqueue(new), self._forget)
        self.pods.add_handler(self._on_pod, self._on_pod_update, self._on_pod_delete)
        self.nodes.add_handler(self._on_node, self._on_node_update, self._on_node)

    # ------------------------------------------------------------------ handlers

    def _forget(self, ds: Obj) -> None:
        self.expectations.forget(object_key(ds))

    def _owner_key(self, pod: Mapping[str, Any]) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != du.DS_KIND:
            return None
        return f"{namespace_of(pod)}/{ref.get('name')}"

    def _on_pod(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)
        elif controller_ref(pod) is None:
            for ds in self.sets.cache.by_index(NAMESPACE_INDEX, namespace_of(pod)):
                if selector_of(ds).matches(labels_of(pod)):
                    self.enqueue(ds)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        key = self._owner_key(new)
        if key is None:
            return
        if is_deleting(new) and not is_deleting(old):
            self.expectations.deletion_observed(key, object_key(new))
        self.queue.add(key)
        ds = self.sets.cache.get(key)
        min_ready = int(((ds or {}).get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready:
            self.queue.add_after(key, float(min_ready) + 0.5)

    def _on_pod_delete(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, object_key(pod))
            self.queue.add(key)

    def _on_node(self, _node: Obj) -> None:
        for ds in self.sets.cache.list():
            self.enqueue(ds)

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        def shape(n: Obj) -> tuple[Any, ...]:
            spec = n.get("spec") or {}
            return (labels_of(n), spec.get("taints"), spec.get("unschedulable"))

        if shape(old) != shape(new):
            self._on_node(new)

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, key: str) -> None:
        cached = self.sets.cache.get(key)
        if cached is None:
            self.expectations.forget(key)
            return
        ds = copy.deepcopy(cached)
        now = datetime.now(UTC)
        eligible = sorted(name_of(n) for n in self.nodes.cache.list() if du.should_run(ds, n))
        revisions = history.owned_by(
            ds, self.revisions.cache.by_index(NAMESPACE_INDEX, namespace_of(ds))
        )
        current = await ensure_revision(self.client, ds, revisions, du.DS_API_VERSION, du.DS_KIND)
        current_hash = labels_of(current).get(history.REVISION_HASH_LABEL, "")
        pods = await self._claim(ds)
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            by_node.setdefault(du.pod_node(pod), []).append(pod)
        error: BaseException | None = None
        if self.expectations.satisfied(key) and not is_deleting(ds):
            try:
                await self._manage(key, ds, eligible, by_node, current_hash, now)
            except (ApiError, OSError) as e:
                error = e
        await self._write_status(ds, du.daemon_status(ds, eligible, by_node, current_hash, now))
        hashes = {history.pod_revision_hash(p) for p in pods}
        live = {name_of(current)} | names_for_hashes(revisions, hashes)
        await prune_revisions(self.client, ds, revisions, live)
        if error is not None:
            raise error

    async def _claim(self, ds: Obj) -> list[Obj]:
        in_namespace = self.pods.cache.by_index(NAMESPACE_INDEX, namespace_of(ds))
        claimed = claim(ds, selector_of(ds), in_namespace)
        ref = make_controller_ref(ds, du.DS_API_VERSION, du.DS_KIND)
        for pod in claimed.adopt:
            await patch_owner_refs(self.ctx, pod, with_owner(pod, ref))
        return claimed.owned

    async def _manage(
        self,
        key: str,
        ds: Obj,
        eligible: list[str],
        by_node: dict[str, list[Obj]],
        current_hash: str,
        now: datetime,
    ) -> None:
        nodes = du.plan_nodes(eligible, by_node)
        create, delete = list(nodes.create), list(nodes.delete)
        strategy = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type")
        if strategy != "OnDelete":
            step = du.rolling_update(ds, eligible, by_node, current_hash, now)
            create += [n for n in step.create if n and n not in create]
            delete += step.delete
        unique: dict[str, Obj] = {uid_of(p): p for p in delete}
        await asyncio.gather(
            self._create(key, ds, create, current_hash),
            self._delete(key, ds, list(unique.values())),
        )

    async def _create(self, key: str, ds: Obj, nodes: list[str], current_hash: str) -> None:
        if not nodes:
            return
        self.expectations.expect_creations(key, len(nodes))

        async def one(node: str) -> None:
            try:
                pod = await self.client.create(du.daemon_pod(ds, node, current_hash))
            except BaseException:
                self.expectations.creation_observed(key)
                raise
            self.recorder.event(ds, NORMAL, "SuccessfulCreate", f"Created pod: {name_of(pod)}")

        results = await asyncio.gather(*(one(n) for n in nodes), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self.recorder.event(ds, WARNING, "FailedCreate", f"Error creating: {errors[0]}")
            raise errors[0]

    async def _delete(self, key: str, ds: Obj, pods: list[Obj]) -> None:
        if not pods:
            return
        self.expectations.expect_deletions(key, [object_key(p) for p in pods])

        async def one(pod: Obj) -> None:
            try:
                await self.client.delete("Pod", name_of(pod), namespace_of(pod))
            except ApiError as e:
                self.expectations.deletion_observed(key, object_key(pod))
                if not is_not_found(e):
                    raise
                return
            self.recorder.event(ds, NORMAL, "SuccessfulDelete", f"Deleted pod: {name_of(pod)}")

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    # ------------------------------------------------------------------ status

    async def _write_status(self, ds: Obj, wanted: Obj) -> None:
        have = dict(ds.get("status") or {})
        patch = merge_patch(
            have, {**{k: v for k, v in have.items() if k == "conditions"}, **wanted}
        )
        if not patch:
            return
        try:
            await self.client.patch_status(
                du.DS_KIND, name_of(ds), {"status": patch}, namespace=namespace_of(ds)
            )
        except ApiError as e:
            if not is_not_found(e):
                raise
