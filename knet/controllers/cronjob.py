"""The CronJob controller: starts a Job at each time the schedule names
(knet/controllers/cronjobutil.py decides), with the concurrency policy, the starting deadline,
suspend, time zones and the history limits; then sleeps until the next time."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from knet.api.objects import Obj, controller_ref, meta, name_of, namespace_of, uid_of
from knet.api.times import rfc3339
from knet.client import NAMESPACE_INDEX, ApiError, is_not_found, object_key
from knet.client.recorder import NORMAL, WARNING
from knet.controllers import cronjobutil as cu
from knet.controllers.base import Controller, ControllerContext
from knet.controllers.jobutil import merge_patch

log = logging.getLogger("knet.controllers.cronjob")


class CronJobController(Controller):
    name = "cronjob"
    component = "cronjob-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.cronjobs = ctx.informer(cu.CJ_KIND)
        self.jobs = ctx.informer("Job")
        self.cronjobs.add_handler(self.enqueue, lambda _o, new: self.enqueue(new))
        self.jobs.add_handler(self._on_job, lambda _o, new: self._on_job(new), self._on_job)

    def _on_job(self, job: Obj) -> None:
        ref = controller_ref(job)
        if ref is not None and ref.get("kind") == cu.CJ_KIND:
            self.queue.add(f"{namespace_of(job)}/{ref.get('name')}")

    async def reconcile(self, key: str) -> None:
        cached = self.cronjobs.cache.get(key)
        if cached is None:
            return
        cj = copy.deepcopy(cached)
        now = datetime.now(UTC)
        jobs = [
            j
            for j in self.jobs.cache.by_index(NAMESPACE_INDEX, namespace_of(cj))
            if (controller_ref(j) or {}).get("uid") == uid_of(cj)
        ]
        status: Obj = copy.deepcopy(dict(cj.get("status") or {}))
        active = [
            j for j in jobs if not cu.is_job_finished(j) and not meta(j).get("deletionTimestamp")
        ]
        status["lastSuccessfulTime"] = cu.last_successful(jobs, status.get("lastSuccessfulTime"))
        when = cu.due(cj, now)
        spec = cj.get("spec") or {}
        if (
            when.scheduled is not None
            and not spec.get("suspend")
            and not meta(cj).get("deletionTimestamp")
        ):
            active = await self._start(cj, status, jobs, active, when, now)
        # A Job already listed keeps its reference as written (upstream adds and removes
        # entries; it does not rewrite them each time the Job's resourceVersion moves).
        listed = {r.get("uid"): r for r in status.get("active") or [] if isinstance(r, dict)}
        status["active"] = [listed.get(uid_of(j)) or cu.job_ref(j) for j in active] or None
        await self._clean_history(cj, jobs)
        await self._write_status(cj, status)
        if when.next_time is not None:
            delay = (when.next_time - now).total_seconds()
            self.queue.add_after(key, max(delay, 0.0) + 0.1)

    async def _start(
        self, cj: Obj, status: Obj, jobs: list[Obj], active: list[Obj], when: cu.Due, now: datetime
    ) -> list[Obj]:
        scheduled = when.scheduled
        assert scheduled is not None
        if when.missed > cu.MAX_MISSED:
            self.recorder.event(
                cj,
                WARNING,
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds"
                " or check clock skew",
            )
        if cu.too_late(cj, scheduled, now):
            self.recorder.event(
                cj, WARNING, "MissSchedule", f"Missed scheduled time to start a job: {scheduled}"
            )
            return active
        name = cu.job_name(cj, scheduled)
        if any(name_of(j) == name for j in jobs):
            status["lastScheduleTime"] = rfc3339(scheduled.astimezone(UTC))
            return active  # this time's Job exists already
        policy = (cj.get("spec") or {}).get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            return active  # it waits; the time stays due until a run is allowed
        if policy == "Replace":
            for job in active:
                await self._delete_job(cj, job, "SuccessfulDelete", f"Deleted job {name_of(job)}")
            active = []
        try:
            created = await self.client.create(cu.job_for(cj, scheduled))
        except ApiError as e:
            if e.code != 409:
                self.recorder.event(cj, WARNING, "FailedCreate", f"Error creating job: {e}")
                raise
            created = await self.client.get("Job", name, namespace_of(cj))
        else:
            self.recorder.event(cj, NORMAL, "SuccessfulCreate", f"Created job {name}")
        status["lastScheduleTime"] = rfc3339(scheduled.astimezone(UTC))
        return [*active, created]

    async def _clean_history(self, cj: Obj, jobs: list[Obj]) -> None:
        for job in cu.history_to_delete(cj, jobs):
            await self._delete_job(cj, job, "SuccessfulDelete", f"Deleted job {name_of(job)}")

    async def _delete_job(self, cj: Obj, job: Obj, reason: str, message: str) -> None:
        try:
            await self.client.delete(
                "Job", name_of(job), namespace_of(job), propagation_policy="Background"
            )
        except ApiError as e:
            if not is_not_found(e):
                raise
            return
        self.recorder.event(cj, NORMAL, reason, message)

    async def _write_status(self, cj: Obj, status: Mapping[str, Any]) -> None:
        wanted = {k: v for k, v in status.items() if v is not None}
        patch = merge_patch(dict(cj.get("status") or {}), wanted)
        if not patch:
            return
        try:
            await self.client.patch_status(
                cu.CJ_KIND, name_of(cj), {"status": patch}, namespace=namespace_of(cj)
            )
        except ApiError as e:
            if not is_not_found(e):
                raise
        log.debug("%s: status %s", object_key(cj), patch)
