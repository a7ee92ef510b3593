"""The Job controller: runs a Job's pods to completion (knet/controllers/jobutil.py decides,
knet/controllers/jobwrites.py writes).

Each pod carries the `batch.kubernetes.io/job-tracking` finalizer, so a finished pod stays until
the Job has counted it. Counting is upstream's two steps: the pod's uid goes to
`status.uncountedTerminatedPods`, the finalizer comes off, then the uid moves into the
`succeeded`/`failed` counters; a crash between the steps neither loses nor doubles a pod.
"""

from __future__ import annotations

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
    make_controller_ref,
    name_of,
    namespace_of,
    uid_of,
)
from knet.api.pods import is_ready
from knet.api.times import rfc3339
from knet.client import NAMESPACE_INDEX, ApiError, object_key
from knet.client.recorder import NORMAL, WARNING
from knet.controllers import jobutil as ju
from knet.controllers.base import Controller, ControllerContext
from knet.controllers.deletionorder import deletion_order
from knet.controllers.expectations import Expectations
from knet.controllers.jobwrites import JobWrites
from knet.controllers.replicaset import claim, patch_owner_refs, selector_of, with_owner

log = logging.getLogger("knet.controllers.job")


class JobController(Controller):
    name = "job"
    workers = 4
    backoff_base = ju.BACKOFF_BASE  # tests shorten it

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.jobs = ctx.informer("Job")
        self.pods = ctx.informer("Pod")
        self.expectations = Expectations(clock=time.monotonic)
        self.writes = JobWrites(ctx.client, self.recorder, self.expectations)
        # uids counted into status, per Job: a stale cache may still show their finalizer.
        self.counted: dict[str, set[str]] = {}
        self.last_failure: dict[str, datetime] = {}  # when a pod of the Job last failed
        self.jobs.add_handler(self.enqueue, lambda _o, new: self.enqueue(new), self._on_job_delete)
        self.pods.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)

    # ------------------------------------------------------------------ handlers

    def _forget(self, key: str) -> None:
        self.expectations.forget(key)
        self.counted.pop(key, None)
        self.last_failure.pop(key, None)

    def _on_job_delete(self, job: Obj) -> None:
        self._forget(object_key(job))
        self.enqueue(job)  # its pods' finalizers come off

    def _job_key(self, pod: Mapping[str, Any]) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != ju.JOB_KIND:
            return None
        return f"{namespace_of(pod)}/{ref.get('name')}"

    def _on_pod_add(self, pod: Obj) -> None:
        key = self._job_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        key = self._job_key(new)
        if key is None:
            return
        if is_deleting(new) and not is_deleting(old):
            self.expectations.deletion_observed(key, object_key(new))
        self.queue.add(key)

    def _on_pod_delete(self, pod: Obj) -> None:
        key = self._job_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, object_key(pod))
            self.queue.add(key)

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, key: str) -> None:
        cached = self.jobs.cache.get(key)
        if cached is None or is_deleting(cached):
            # The Job is gone or going: its pods must not stay held by our finalizer.
            self._forget(key)
            await self.writes.remove_finalizers(self._held_pods(key))
            return
        job = copy.deepcopy(cached)  # status writes refresh it; the cache's copy stays as is
        now = datetime.now(UTC)
        pods = await self._claim(job)
        if ju.is_finished(job):
            await self.writes.remove_finalizers([p for p in pods if ju.has_tracking_finalizer(p)])
            await self._expire(job, now)
            return
        for attempt in (1, 2):
            try:
                status, policy_failure = await self._count(key, job, pods, now)
                await self._drive(key, job, status, policy_failure, pods, now)
                return
            except ApiError as e:
                # Our cache lags our own last status write: read the Job and go again, once.
                if e.code != 409 or attempt == 2:
                    raise
                job = await self.client.get(ju.JOB_KIND, name_of(job), namespace_of(job))

    def _held_pods(self, key: str) -> list[Obj]:
        namespace = key.partition("/")[0]
        return [
            p
            for p in self.pods.cache.by_index(NAMESPACE_INDEX, namespace)
            if ju.has_tracking_finalizer(p) and self._job_key(p) == key
        ]

    async def _claim(self, job: Obj) -> list[Obj]:
        in_namespace = self.pods.cache.by_index(NAMESPACE_INDEX, namespace_of(job))
        claimed = claim(job, selector_of(job), in_namespace)
        ref = make_controller_ref(job, ju.JOB_API_VERSION, ju.JOB_KIND)
        for pod in claimed.adopt:
            await patch_owner_refs(self.ctx, pod, with_owner(pod, ref))
        return claimed.owned

    async def _count(self, key: str, job: Obj, pods: list[Obj], now: datetime) -> tuple[Obj, str]:
        """Count finished pods: record them as uncounted, release them, then add them to the
        counters of the status returned (written later with the rest)."""
        counted = self.counted.setdefault(key, set())
        counted &= {uid_of(p) for p in pods}  # forget pods that are gone
        t = ju.tally(job, pods, counted)
        status = copy.deepcopy(dict(ju.status_of(job)))
        if ju.is_indexed(job):
            status["completedIndexes"] = ju.format_indexes(t.done_indexes)
        if t.new:
            status["uncountedTerminatedPods"] = {"succeeded": t.succeeded, "failed": t.failed}
            await self.writes.write_status(job, status)
        pending = set(t.succeeded) | set(t.failed)
        held = [p for p in pods if uid_of(p) in pending and ju.has_tracking_finalizer(p)]
        await self.writes.remove_finalizers(held + t.ignored)
        counted.update(pending)
        counted.update(uid_of(p) for p in t.ignored)
        status["succeeded"] = int(status.get("succeeded") or 0) + len(t.succeeded)
        status["failed"] = int(status.get("failed") or 0) + len(t.failed)
        if t.failed:
            self.last_failure[key] = now
        status["uncountedTerminatedPods"] = {}
        return status, t.policy_failure

    # ------------------------------------------------------------------ driving pods

    def _suspension(self, job: Obj, status: Obj, now: datetime) -> bool:
        """Keep the Suspended condition and startTime in step with spec.suspend."""
        suspended = ju.spec_of(job).get("suspend") is True
        conditions = list(status.get("conditions") or [])
        if suspended and not ju.has_condition(job, ju.SUSPENDED):
            reason, message, value = "JobSuspended", "Job suspended", "True"
        elif not suspended and ju.has_condition(job, ju.SUSPENDED):
            reason, message, value = "JobResumed", "Job resumed", "False"
        else:
            if not suspended:
                status.setdefault("startTime", rfc3339(now))
            return suspended
        status["conditions"] = ju.set_condition(
            conditions, ju.SUSPENDED, value, reason, message, now
        )
        status.pop("startTime", None)
        if not suspended:
            status["startTime"] = rfc3339(now)
        self.recorder.event(job, NORMAL, "Suspended" if suspended else "Resumed", message)
        return suspended

    async def _drive(
        self, key: str, job: Obj, status: Obj, policy_failure: str, pods: list[Obj], now: datetime
    ) -> None:
        active = [p for p in pods if ju.is_pod_active(p)]
        terminating = [p for p in pods if is_deleting(p) and not ju.is_pod_finished(p)]
        suspended = self._suspension(job, status, now)
        check = dict(job, status=status)
        result = ju.outcome(
            check,
            int(status.get("succeeded") or 0),
            int(status.get("failed") or 0),
            ju.parse_indexes(status.get("completedIndexes")),
            policy_failure or ju.policy_target_message(job),
            now,
        )
        if result.kind or suspended:
            await self.writes.delete_pods(key, job, active)
            active = []
        elif self.expectations.satisfied(key):
            active = await self._manage(key, job, status, active, now)
        if result.kind:
            conditions, final = ju.finish_conditions(
                status.get("conditions") or [], result, bool(active or terminating), now
            )
            status["conditions"] = conditions
            if final and result.kind == "success":
                status["completionTime"] = rfc3339(now)
                self.recorder.event(job, NORMAL, "Completed", "Job completed")
            elif final:
                self.recorder.event(job, WARNING, result.reason, result.message)
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if is_ready(p))
        status["terminating"] = len(terminating)
        await self.writes.write_status(job, status)
        remaining = ju.deadline_remaining(check, now)
        if remaining is not None and not result.kind and not suspended:
            self.queue.add_after(key, remaining + 0.05)

    async def _manage(
        self, key: str, job: Obj, status: Obj, active: list[Obj], now: datetime
    ) -> list[Obj]:
        """Create or delete pods toward the number that should run; returns those left."""
        spec = ju.spec_of(job)
        if ju.is_indexed(job):
            parallelism = spec.get("parallelism")
            completions = int(spec.get("completions") or 0)
            done = ju.parse_indexes(status.get("completedIndexes"))
            want = min(parallelism if isinstance(parallelism, int) else 1, completions - len(done))
            to_start = ju.indexes_to_start(completions, done, active, max(0, want - len(active)))
        else:
            want = ju.want_active(job, int(status.get("succeeded") or 0))
            to_start = [-1] * max(0, want - len(active))
        if len(active) > max(want, 0):
            extra = deletion_order(active)[: len(active) - want]
            await self.writes.delete_pods(key, job, extra)
            return [p for p in active if p not in extra]
        if not to_start:
            return active
        wait = self._backoff_wait(key, int(status.get("failed") or 0), now)
        if wait > 0:
            self.queue.add_after(key, wait)
            return active
        await self.writes.create_pods(key, job, [None if i < 0 else i for i in to_start])
        return active

    def _backoff_wait(self, key: str, failed: int, now: datetime) -> float:
        """Seconds before a failed pod may be replaced. The last failure's time is kept in
        memory, as upstream's is: a restarted controller replaces at once."""
        last = self.last_failure.get(key)
        if failed <= 0 or last is None:
            return 0.0
        delay = ju.backoff_delay(failed, self.backoff_base)
        return max(0.0, delay - (now - last).total_seconds())

    async def _expire(self, job: Obj, now: datetime) -> None:
        remaining = ju.ttl_remaining(job, now)
        if remaining is None:
            return
        if remaining > 0:
            self.queue.add_after(object_key(job), remaining + 0.05)
            return
        await self.writes.delete_expired(job)
