"""The disruption controller: keeps each PodDisruptionBudget's status (expectedPods,
currentHealthy, desiredHealthy, disruptionsAllowed, the DisruptionAllowed condition) in step
with the pods it selects. The arithmetic is knet.api.disruption's; the eviction subresource
spends what this loop computes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from knet.api.disruption import DELETION_TIMEOUT, compute_budget, pdb_status, selects
from knet.api.objects import Obj, namespace_of
from knet.api.times import rfc3339
from knet.client import NAMESPACE_INDEX, ApiError, is_not_found
from knet.controllers.base import Controller, ControllerContext

KIND = "PodDisruptionBudget"


class DisruptionController(Controller):
    name = "disruption"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.budgets = ctx.informer(KIND)
        self.pods = ctx.informer("Pod")
        self.budgets.add_handler(self.enqueue, lambda old, new: self.enqueue(new), None)
        self.pods.add_handler(self._on_pod, lambda old, new: self._on_pod(new), self._on_pod)

    def _on_pod(self, pod: Mapping[str, Any]) -> None:
        for pdb in self.budgets.cache.by_index(NAMESPACE_INDEX, namespace_of(pod)):
            if selects(pdb, pod):
                self.enqueue(pdb)

    async def reconcile(self, key: str) -> None:
        pdb = self.budgets.cache.get(key)
        if pdb is None:
            return
        now = datetime.now(UTC)
        pods = self.pods.cache.by_index(NAMESPACE_INDEX, namespace_of(pdb))
        budget = compute_budget(pdb, pods, now)
        status = pdb_status(pdb, budget, now, rfc3339(now))
        if status.get("disruptedPods"):
            # Evicted pods stop counting as disrupted after a while even if never deleted.
            self.enqueue_after(pdb, DELETION_TIMEOUT.total_seconds())
        if _same(pdb.get("status") or {}, status):
            return
        await self._write(pdb, status)

    async def _write(self, pdb: Obj, status: dict[str, Any]) -> None:
        # A whole-status PUT at the cached resourceVersion: a merge patch could not drop
        # disruptedPods entries, and a conflict just requeues with fresher numbers.
        body = {**pdb, "status": status}
        try:
            await self.client.replace_status(body)
        except ApiError as e:
            if not is_not_found(e):
                raise


def _same(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Equal but for condition timestamps (a rewrite only to bump one would loop)."""

    def strip(status: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(status)
        out["conditions"] = [
            {k: v for k, v in c.items() if k != "lastTransitionTime"}
            for c in status.get("conditions") or []
        ]
        return out

    return strip(old) == strip(new)
