"""The Job controller: runs a Job's pods to completion (knet/controllers/jobutil.py decides).

Each pod carries the `batch.kubernetes.io/job-tracking` finalizer, so a finished pod stays until
the Job has counted it. Counting is upstream's two steps: the pod's uid goes to
`status.uncountedTerminatedPods`, the finalizer comes off, then the uid moves into the
`succeeded`/`failed` counters; a crash between the steps neither loses nor doubles a pod.
"""

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
    make_controller_ref,
    meta,
    name_of,
    namespace_of,
    uid_of,
)
from knet.api.pods import SUCCEEDED, is_ready, phase
from knet.api.times import rfc3339
from knet.client import NAMESPACE_INDEX, ApiError, is_not_found, object_key
from knet.client.recorder import NORMAL, WARNING
from knet.controllers import jobutil as ju
from knet.controllers.base import Controller, ControllerContext
from knet.controllers.deletionorder import deletion_order
from knet.controllers.expectations import Expectations
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
        # uids counted into status, per Job: a stale cache may still show their finalizer.
        self.counted: dict[str, set[str]] = {}
        self.last_failure: dict[str, datetime] = {}  # when a pod of the Job last failed
        self.jobs.add_handler(self.enqueue, lambda _o, new: self.enqueue(new), self._on_job_delete)
        self.pods.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)

    # ------------------------------------------------------------------ handlers

    def _on_job_delete(self, job: Obj) -> None:
        self.expectations.forget(object_key(job))
        self.counted.pop(object_key(job), None)
        self.last_failure.pop(object_key(job), None)

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
            self.expectations.forget(key)
            self.counted.pop(key, None)
            self.last_failure.pop(key, None)
            await self._release_orphans(key)
            return
        job = copy.deepcopy(cached)  # status writes refresh it; the cache's copy stays as is
        now = datetime.now(UTC)
        pods = await self._claim(job)
        if ju.is_finished(job):
            await self._remove_finalizers([p for p in pods if ju.has_tracking_finalizer(p)])
            await self._expire(job, now)
            return
        for attempt in (1, 2):
            try:
                status = await self._count(key, job, pods, now)
                await self._drive(key, job, status, pods, now)
                return
            except ApiError as e:
                # Our cache lags our own last status write: read the Job and go again, once.
                if e.code != 409 or attempt == 2:
                    raise
                job = await self.client.get(ju.JOB_KIND, name_of(job), namespace_of(job))

    async def _release_orphans(self, key: str) -> None:
        namespace = key.partition("/")[0]
        held = [
            p
            for p in self.pods.cache.by_index(NAMESPACE_INDEX, namespace)
            if ju.has_tracking_finalizer(p) and self._job_key(p) == key
        ]
        await self._remove_finalizers(held)

    async def _claim(self, job: Obj) -> list[Obj]:
        in_namespace = self.pods.cache.by_index(NAMESPACE_INDEX, namespace_of(job))
        claimed = claim(job, selector_of(job), in_namespace)
        ref = make_controller_ref(job, ju.JOB_API_VERSION, ju.JOB_KIND)
        for pod in claimed.adopt:
            await patch_owner_refs(self.ctx, pod, with_owner(pod, ref))
        return claimed.owned

    # ------------------------------------------------------------------ counting

    async def _count(self, key: str, job: Obj, pods: list[Obj], now: datetime) -> Obj:
        """Count finished pods into a new status (written here); returns it."""
        status = copy.deepcopy(dict(ju.status_of(job)))
        counted = self.counted.setdefault(key, set())
        counted &= {uid_of(p) for p in pods}  # forget pods that are gone
        uncounted = status.get("uncountedTerminatedPods") or {}
        pending_ok = list(uncounted.get("succeeded") or [])
        pending_failed = list(uncounted.get("failed") or [])
        done_indexes = ju.parse_indexes(status.get("completedIndexes"))
        ignored: list[Obj] = []
        policy_failure = ""
        for pod in pods:
            uid = uid_of(pod)
            finished = ju.is_pod_finished(pod) or is_deleting(pod)
            if not finished or not ju.has_tracking_finalizer(pod):
                continue
            if uid in counted or uid in pending_ok or uid in pending_failed:
                continue
            if phase(pod) == SUCCEEDED:
                index = ju.pod_index(pod)
                if ju.is_indexed(job):
                    if index is None or index in done_indexes:
                        ignored.append(pod)
                        continue
                    done_indexes.add(index)
                pending_ok.append(uid)
                continue
            action, message = ju.failure_policy_action(job, pod)
            if action == "Ignore":
                ignored.append(pod)
                continue
            if action == "FailJob" and not policy_failure:
                policy_failure = message
            pending_failed.append(uid)
        if ju.is_indexed(job):
            status["completedIndexes"] = ju.format_indexes(done_indexes)
        if policy_failure:
            status["_policyFailure"] = policy_failure
        if pending_ok or pending_failed:
            status["uncountedTerminatedPods"] = {"succeeded": pending_ok, "failed": pending_failed}
            await self._write_status(job, status)
        pending = set(pending_ok) | set(pending_failed)
        to_release = [p for p in pods if uid_of(p) in pending and ju.has_tracking_finalizer(p)]
        await self._remove_finalizers(to_release + ignored)
        counted.update(pending)
        counted.update(uid_of(p) for p in ignored)
        status["succeeded"] = int(status.get("succeeded") or 0) + len(pending_ok)
        status["failed"] = int(status.get("failed") or 0) + len(pending_failed)
        if pending_failed:
            self.last_failure[key] = now
        status["uncountedTerminatedPods"] = {}
        return status

    async def _remove_finalizers(self, pods: list[Obj]) -> None:
        async def one(pod: Obj) -> None:
            for _ in range(3):
                finalizers = list(meta(pod).get("finalizers") or [])
                if ju.TRACKING_FINALIZER not in finalizers:
                    return
                i = finalizers.index(ju.TRACKING_FINALIZER)
                ops = [
                    {"op": "test", "path": f"/metadata/finalizers/{i}", "value": finalizers[i]},
                    {"op": "remove", "path": f"/metadata/finalizers/{i}"},
                ]
                try:
                    await self.client.patch(
                        "Pod", name_of(pod), ops, namespace=namespace_of(pod), patch_type="json"
                    )
                    return
                except ApiError as e:
                    if is_not_found(e):
                        return
                    pod = await self.client.get("Pod", name_of(pod), namespace_of(pod))

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not (isinstance(r, ApiError) and is_not_found(r)):
                raise r

    # ------------------------------------------------------------------ driving pods

    async def _drive(self, key: str, job: Obj, status: Obj, pods: list[Obj], now: datetime) -> None:
        spec = ju.spec_of(job)
        policy_failure = str(status.pop("_policyFailure", ""))
        last_failure = self.last_failure.get(key)
        active = [p for p in pods if ju.is_pod_active(p)]
        terminating = [p for p in pods if is_deleting(p) and not ju.is_pod_finished(p)]
        conditions = list(status.get("conditions") or [])
        suspended = spec.get("suspend") is True
        if suspended:
            if not ju.has_condition(job, ju.SUSPENDED):
                conditions = ju.set_condition(
                    conditions, ju.SUSPENDED, "True", "JobSuspended", "Job suspended", now
                )
                status.pop("startTime", None)
                self.recorder.event(job, NORMAL, "Suspended", "Job suspended")
        else:
            if ju.has_condition(job, ju.SUSPENDED):
                conditions = ju.set_condition(
                    conditions, ju.SUSPENDED, "False", "JobResumed", "Job resumed", now
                )
                status.pop("startTime", None)
                self.recorder.event(job, NORMAL, "Resumed", "Job resumed")
            status.setdefault("startTime", rfc3339(now))
        check = dict(job, status=status)
        result = ju.outcome(
            check,
            int(status.get("succeeded") or 0),
            int(status.get("failed") or 0),
            ju.parse_indexes(status.get("completedIndexes")),
            policy_failure or self._target_message(job),
            now,
        )
        if result.kind or suspended:
            await self._delete_pods(key, job, active)
            active = []
        elif self.expectations.satisfied(key):
            active = await self._manage(key, job, status, active, last_failure, now)
        if result.kind:
            conditions = self._finish(job, status, conditions, result, active + terminating, now)
        status["conditions"] = conditions or None
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if is_ready(p))
        status["terminating"] = len(terminating)
        if status.get("conditions") is None:
            status.pop("conditions")
        await self._write_status(job, status)
        remaining = ju.deadline_remaining(check, now)
        if remaining is not None and not result.kind and not suspended:
            self.queue.add_after(key, remaining + 0.05)

    def _target_message(self, job: Obj) -> str:
        """A FailureTarget set by policy earlier keeps failing the Job (its pods are gone)."""
        for c in ju.status_of(job).get("conditions") or []:
            if c.get("type") == ju.FAILURE_TARGET and c.get("reason") == "PodFailurePolicy":
                return str(c.get("message") or "")
        return ""

    def _finish(
        self,
        job: Obj,
        status: Obj,
        conditions: list[Obj],
        result: ju.Outcome,
        left: list[Obj],
        now: datetime,
    ) -> list[Obj]:
        """The interim condition now; the terminal one once no pod of the Job is left running."""
        success = result.kind == "success"
        interim = ju.SUCCESS_CRITERIA_MET if success else ju.FAILURE_TARGET
        conditions = ju.set_condition(
            conditions, interim, "True", result.reason, result.message, now
        )
        if left:
            return conditions
        final = ju.COMPLETE if success else ju.FAILED_COND
        conditions = ju.set_condition(conditions, final, "True", result.reason, result.message, now)
        if success:
            status["completionTime"] = rfc3339(now)
            self.recorder.event(job, NORMAL, "Completed", "Job completed")
        else:
            self.recorder.event(job, WARNING, result.reason, result.message)
        return conditions

    async def _manage(
        self,
        key: str,
        job: Obj,
        status: Obj,
        active: list[Obj],
        last_failure: datetime | None,
        now: datetime,
    ) -> list[Obj]:
        spec = ju.spec_of(job)
        succeeded = int(status.get("succeeded") or 0)
        if ju.is_indexed(job):
            parallelism = spec.get("parallelism")
            want = parallelism if isinstance(parallelism, int) else 1
            completions = int(spec.get("completions") or 0)
            done = ju.parse_indexes(status.get("completedIndexes"))
            want = min(want, completions - len(done))
            to_start = ju.indexes_to_start(completions, done, active, max(0, want - len(active)))
        else:
            want = ju.want_active(job, succeeded)
            to_start = [-1] * max(0, want - len(active))
        if len(active) > max(want, 0):
            extra = deletion_order(active)[: len(active) - want]
            await self._delete_pods(key, job, extra)
            return [p for p in active if p not in extra]
        if not to_start:
            return active
        wait = self._backoff_wait(int(status.get("failed") or 0), last_failure, now)
        if wait > 0:
            self.queue.add_after(key, wait)
            return active
        await self._create_pods(key, job, [None if i < 0 else i for i in to_start])
        return active

    def _backoff_wait(self, failed: int, last_failure: datetime | None, now: datetime) -> float:
        if failed <= 0 or last_failure is None:
            return (
                0.0  # a failure before this process started: no wait (upstream's is in memory too)
            )
        delay = ju.backoff_delay(failed, self.backoff_base)
        return max(0.0, delay - (now - last_failure).total_seconds())

    async def _create_pods(self, key: str, job: Obj, indexes: list[int | None]) -> None:
        self.expectations.expect_creations(key, len(indexes))

        async def one(index: int | None) -> str:
            try:
                out = await self.client.create(ju.job_pod(job, index))
                return name_of(out)
            except BaseException:
                self.expectations.creation_observed(key)
                raise

        results = await asyncio.gather(*(one(i) for i in indexes), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for r in results:
            if isinstance(r, str):
                self.recorder.event(job, NORMAL, "SuccessfulCreate", f"Created pod: {r}")
        if errors:
            self.recorder.event(job, WARNING, "FailedCreate", f"Error creating: {errors[0]}")
            raise errors[0]

    async def _delete_pods(self, key: str, job: Obj, pods: list[Obj]) -> None:
        if not pods:
            return
        self.expectations.expect_deletions(key, [object_key(p) for p in pods])

        async def one(pod: Obj) -> None:
            try:
                await self.client.delete("Pod", name_of(pod), namespace_of(pod))
                self.recorder.event(job, NORMAL, "SuccessfulDelete", f"Deleted pod: {name_of(pod)}")
            except ApiError as e:
                self.expectations.deletion_observed(key, object_key(pod))
                if not is_not_found(e):
                    raise

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    # ------------------------------------------------------------------ status, TTL

    async def _write_status(self, job: Obj, status: Obj) -> None:
        wanted = {k: v for k, v in status.items() if not k.startswith("_")}
        patch = ju.merge_patch(ju.status_of(job), wanted)
        if not patch:
            return
        body = {"status": patch, "metadata": {"resourceVersion": meta(job).get("resourceVersion")}}
        updated = await self.client.patch_status(
            ju.JOB_KIND, name_of(job), body, namespace=namespace_of(job)
        )
        job["metadata"] = updated.get("metadata", job["metadata"])  # the next write's guard
        job["status"] = updated.get("status", wanted)

    async def _expire(self, job: Obj, now: datetime) -> None:
        remaining = ju.ttl_remaining(job, now)
        if remaining is None:
            return
        if remaining > 0:
            self.queue.add_after(object_key(job), remaining + 0.05)
            return
        try:
            await self.client.delete(
                ju.JOB_KIND,
                name_of(job),
                namespace_of(job),
                propagation_policy="Foreground",
                precondition_uid=uid_of(job),
            )
        except ApiError as e:
            if not is_not_found(e):
                raise
