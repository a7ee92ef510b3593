"""The Job controller's writes: pods created and deleted (with expectations and Events), the
tracking finalizer taken off, the status patched under the Job's resourceVersion, and the
deletion of a finished Job whose TTL has passed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from knet.api.objects import Obj, meta, name_of, namespace_of, uid_of
from knet.client import ApiClient, ApiError, is_not_found, object_key
from knet.client.recorder import NORMAL, WARNING, EventRecorder
from knet.controllers import jobutil as ju
from knet.controllers.expectations import Expectations


@dataclass
class JobWrites:
    client: ApiClient
    recorder: EventRecorder
    expectations: Expectations

    async def create_pods(self, key: str, job: Obj, indexes: list[int | None]) -> None:
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

    async def delete_pods(self, key: str, job: Obj, pods: list[Obj]) -> None:
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

    async def remove_finalizers(self, pods: list[Obj]) -> None:
        """Take the tracking finalizer off each pod: a JSON patch that tests the entry first,
        so no resourceVersion is needed; a pod that changed is read again."""

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

    async def write_status(self, job: Obj, status: Obj) -> None:
        """Patch the status under the Job's resourceVersion (a stale Job is a 409), then keep
        the answer in `job`, the guard of the next write."""
        patch = ju.merge_patch(ju.status_of(job), status)
        if not patch:
            return
        body = {"status": patch, "metadata": {"resourceVersion": meta(job).get("resourceVersion")}}
        updated = await self.client.patch_status(
            ju.JOB_KIND, name_of(job), body, namespace=namespace_of(job)
        )
        job["metadata"] = updated.get("metadata", job["metadata"])
        job["status"] = updated.get("status", status)

    async def delete_expired(self, job: Obj) -> None:
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
