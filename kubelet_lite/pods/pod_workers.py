"""Per-pod workers: every pod's work runs in its own task, one step at a time, so that the
steps for one pod (sync, restart, terminate) never interleave while pods proceed in parallel.

Updates coalesce: a worker always works on the newest version of its pod, and an update that
changes nothing the kubelet acts on (our own status writes coming back) does not wake it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

log = logging.getLogger(__name__)

FINISHED_MEMORY = 4096
RETRY_DELAY = 1.0


class PodSyncer(Protocol):
    """What a worker drives (sync.PodSync)."""

    def update(self, pod: dict[str, Any]) -> None: ...

    async def adopt(self) -> None: ...

    async def sync(self) -> None: ...

    async def terminate(self, api_deleted: bool) -> bool: ...

    def detach(self) -> None: ...


def pod_uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


def trigger_key(pod: Mapping[str, Any]) -> tuple[Any, ...]:
    """What, when changed, needs the worker: the spec (generation) and deletion."""
    meta = pod.get("metadata") or {}
    return (
        meta.get("generation"),
        meta.get("deletionTimestamp"),
        meta.get("deletionGracePeriodSeconds"),
    )


def is_terminating(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


class _Worker:
    def __init__(self, owner: PodWorkers, uid: str, pod: dict[str, Any], syncer: PodSyncer) -> None:
        self.owner = owner
        self.uid = uid
        self.pod = pod
        self.syncer = syncer
        self.deleted = False
        self.wanted = asyncio.Event()
        self.wanted.set()
        self.key = trigger_key(pod)
        self.timer: asyncio.TimerHandle | None = None
        self.task = asyncio.create_task(self.run(), name=f"pod-{uid}")

    def update(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        self.syncer.update(pod)
        key = trigger_key(pod)
        if key != self.key:
            self.key = key
            self.wanted.set()

    def wake_later(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        if self.timer is not None and not self.timer.cancelled() and self.timer.when() <= due:
            return
        if self.timer is not None:
            self.timer.cancel()
        self.timer = loop.call_at(due, self.wanted.set)

    async def run(self) -> None:
        await self.owner.started.wait()
        try:
            await self.syncer.adopt()
        except Exception:
            log.exception("pod %s: adopting its records failed", self.uid)
        while True:
            await self.wanted.wait()
            self.wanted.clear()
            self.owner._busy(+1)
            try:
                if self.deleted or is_terminating(self.pod):
                    if await self.syncer.terminate(self.deleted):
                        break
                    self.wake_later(RETRY_DELAY)
                else:
                    await self.syncer.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pod %s: sync failed; retrying", self.uid)
                self.wake_later(RETRY_DELAY)
            finally:
                self.owner._busy(-1)
        self.owner._finished(self.uid)


class PodWorkers:
    def __init__(self, make_syncer: Callable[[dict[str, Any]], PodSyncer]) -> None:
        self.make_syncer = make_syncer
        self.started = asyncio.Event()
        self._workers: dict[str, _Worker] = {}
        self._finished_uids: OrderedDict[str, None] = OrderedDict()
        self._running = 0
        self.idle = asyncio.Event()  # no worker is in the middle of a step
        self.idle.set()

    def _busy(self, delta: int) -> None:
        self._running += delta
        if self._running:
            self.idle.clear()
        else:
            self.idle.set()

    def __contains__(self, uid: object) -> bool:
        return uid in self._workers

    def __len__(self) -> int:
        return len(self._workers)

    def uids(self) -> list[str]:
        return list(self._workers)

    def start(self) -> None:
        """Let the workers run (after the startup clean-up)."""
        self.started.set()

    def update(self, pod: dict[str, Any]) -> None:
        uid = pod_uid(pod)
        if not uid or uid in self._finished_uids:
            return
        worker = self._workers.get(uid)
        if worker is None:
            self._workers[uid] = _Worker(self, uid, pod, self.make_syncer(pod))
        else:
            worker.update(pod)

    def deleted(self, pod: dict[str, Any]) -> None:
        worker = self._workers.get(pod_uid(pod))
        if worker is not None:
            worker.deleted = True
            worker.wanted.set()

    def wake(self, uid: str) -> None:
        worker = self._workers.get(uid)
        if worker is not None:
            worker.wanted.set()

    def wake_later(self, uid: str, delay: float) -> None:
        worker = self._workers.get(uid)
        if worker is not None:
            worker.wake_later(delay)

    def wake_all(self) -> None:
        for worker in self._workers.values():
            worker.wanted.set()

    def _finished(self, uid: str) -> None:
        self._workers.pop(uid, None)
        self._finished_uids[uid] = None
        while len(self._finished_uids) > FINISHED_MEMORY:
            self._finished_uids.popitem(last=False)

    async def stop(self) -> None:
        """Stop every worker; the pods' processes keep running (a restart adopts them)."""
        workers = list(self._workers.values())
        for w in workers:
            w.task.cancel()
            if w.timer is not None:
                w.timer.cancel()
        for w in workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await w.task
            w.syncer.detach()
        self._workers.clear()
