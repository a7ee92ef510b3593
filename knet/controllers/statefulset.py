"""The StatefulSet controller: pods `<set>-<ordinal>` with stable names, hostnames and
subdomains, created and removed in order (OrderedReady) or all at once (Parallel), updated
highest ordinal first down to the partition, with the templates kept as ControllerRevisions
(knet/controllers/statefulsetutil.py and history.py decide). PersistentVolumeClaims are made
from volumeClaimTemplates when the API serves that kind; nothing provisions volumes for them.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from knet.api import registry
from knet.api.objects import (
    Obj,
    controller_ref,
    is_deleting,
    labels_of,
    make_controller_ref,
    name_of,
    namespace_of,
)
from knet.client import NAMESPACE_INDEX, ApiError, is_not_found, object_key
from knet.client.recorder import NORMAL, WARNING
from knet.controllers import history
from knet.controllers import statefulsetutil as su
from knet.controllers.base import Controller, ControllerContext
from knet.controllers.jobutil import merge_patch
from knet.controllers.replicaset import claim, patch_owner_refs, selector_of, with_owner
from knet.controllers.revisions import ensure_revision, prune_revisions

log = logging.getLogger("knet.controllers.statefulset")


def _serves_claims() -> bool:
    try:
        registry.by_kind("PersistentVolumeClaim")
    except KeyError:
        return False
    return True


class StatefulSetController(Controller):
    name = "statefulset"
    component = "statefulset-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = ctx.informer(su.STS_KIND)
        self.pods = ctx.informer("Pod")
        self.revisions = ctx.informer("ControllerRevision")
        self.sets.add_handler(self.enqueue, lambda _o, new: self.enqueue(new))
        self.pods.add_handler(self._on_pod, lambda _o, new: self._on_pod(new), self._on_pod)

    def _on_pod(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is not None and ref.get("kind") == su.STS_KIND:
            self.queue.add(f"{namespace_of(pod)}/{ref.get('name')}")
        elif ref is None:
            for sts in self.sets.cache.by_index(NAMESPACE_INDEX, namespace_of(pod)):
                if selector_of(sts).matches(labels_of(pod)):
                    self.enqueue(sts)

    async def reconcile(self, key: str) -> None:
        cached = self.sets.cache.get(key)
        if cached is None:
            return
        sts = copy.deepcopy(cached)
        now = datetime.now(UTC)
        revisions = history.owned_by(
            sts, self.revisions.cache.by_index(NAMESPACE_INDEX, namespace_of(sts))
        )
        update_rev = await ensure_revision(
            self.client, sts, revisions, su.STS_API_VERSION, su.STS_KIND
        )
        by_name = {name_of(r): r for r in revisions}
        by_name[name_of(update_rev)] = update_rev
        update = name_of(update_rev)
        current = str((sts.get("status") or {}).get("currentRevision") or "")
        if current not in by_name:
            current = update
        pods = await self._claim(sts)
        by_ordinal: dict[int, Obj] = {}
        for pod in pods:
            ordinal = su.ordinal_of(sts, pod)
            if ordinal is not None:
                by_ordinal[ordinal] = pod
        error: BaseException | None = None
        if not is_deleting(sts):
            try:
                await self._step(sts, by_ordinal, by_name, current, update)
            except (ApiError, OSError) as e:
                error = e
        await self._write_status(sts, su.set_status(sts, pods, current, update, now))
        live = {current, update} | {su.pod_revision(p) for p in pods}
        await prune_revisions(self.client, sts, revisions, live)
        if error is not None:
            raise error
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready:
            self.queue.add_after(key, float(min_ready))

    async def _claim(self, sts: Obj) -> list[Obj]:
        in_namespace = self.pods.cache.by_index(NAMESPACE_INDEX, namespace_of(sts))
        claimed = claim(sts, selector_of(sts), in_namespace)
        ref = make_controller_ref(sts, su.STS_API_VERSION, su.STS_KIND)
        for pod in claimed.adopt:
            await patch_owner_refs(self.ctx, pod, with_owner(pod, ref))
        return claimed.owned

    async def _step(
        self,
        sts: Obj,
        pods: Mapping[int, Obj],
        revisions: Mapping[str, Obj],
        current: str,
        update: str,
    ) -> None:
        step = su.next_step(sts, pods, current, update)
        for ordinal in step.create:
            revision = su.wanted_revision(sts, ordinal, current, update)
            template = su.template_of_revision(revisions[revision])
            await self._create(sts, ordinal, template, revision)
        for pod in step.delete:
            try:
                await self.client.delete("Pod", name_of(pod), namespace_of(pod))
            except ApiError as e:
                if not is_not_found(e):
                    raise
                continue
            self.recorder.event(
                sts,
                NORMAL,
                "SuccessfulDelete",
                f"delete Pod {name_of(pod)} in StatefulSet {name_of(sts)} successful",
            )

    async def _create(self, sts: Obj, ordinal: int, template: Obj, revision: str) -> None:
        with_claims = _serves_claims()
        for pvc in su.claims_for(sts, ordinal) if with_claims else []:
            try:
                await self.client.create(pvc)
            except ApiError as e:
                if e.code != 409:
                    raise
        pod = su.stateful_pod(sts, ordinal, template, revision, with_claims=with_claims)
        try:
            await self.client.create(pod)
        except ApiError as e:
            if e.code == 409:
                return  # created already; the informer has not shown it yet
            self.recorder.event(
                sts,
                WARNING,
                "FailedCreate",
                f"create Pod {name_of(pod)} in StatefulSet {name_of(sts)} failed error: {e}",
            )
            raise
        self.recorder.event(
            sts,
            NORMAL,
            "SuccessfulCreate",
            f"create Pod {name_of(pod)} in StatefulSet {name_of(sts)} successful",
        )

    async def _write_status(self, sts: Obj, wanted: Obj) -> None:
        have = dict(sts.get("status") or {})
        keep = {k: v for k, v in have.items() if k == "conditions"}
        patch = merge_patch(have, {**keep, **wanted})
        if not patch:
            return
        try:
            await self.client.patch_status(
                su.STS_KIND, name_of(sts), {"status": patch}, namespace=namespace_of(sts)
            )
        except ApiError as e:
            if not is_not_found(e):
                raise
        log.debug("%s: status %s", object_key(sts), patch)
