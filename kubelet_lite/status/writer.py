"""Writing pod statuses to the API server: only changes, only the newest, never two writes for
one pod at once (kubelet's status manager).

``set()`` records the status a pod should have; a writer task per pod sends it as a merge patch
of pods/<name>/status and, if the status changed again meanwhile, sends the newest one next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from knet.client import ApiClient, ApiConnectionError, ApiError
from kubelet_lite.status.pod_status import same_status, status_patch

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    namespace: str
    name: str
    desired: dict[str, Any]
    sent: dict[str, Any] | None = None
    task: asyncio.Task[None] | None = None


class StatusManager:
    def __init__(self, client: ApiClient, concurrency: int = 32) -> None:
        self.client = client
        self._pods: dict[str, _Entry] = {}
        self._sem = asyncio.Semaphore(concurrency)
        self._idle = asyncio.Event()
        self._idle.set()
        self.writes = 0

    def set(self, uid: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        entry = self._pods.get(uid)
        if entry is None:
            entry = self._pods[uid] = _Entry(namespace, name, dict(status))
        else:
            entry.desired = dict(status)
        if same_status(entry.desired, entry.sent):
            return
        if entry.task is None or entry.task.done():
            self._idle.clear()
            entry.task = asyncio.create_task(self._flush(uid, entry))

    def seed(self, uid: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """What the API server holds already (after a restart): no need to write it again."""
        entry = self._pods.setdefault(uid, _Entry(namespace, name, dict(status)))
        entry.sent = dict(status)

    def last_sent(self, uid: str) -> dict[str, Any] | None:
        entry = self._pods.get(uid)
        return entry.sent if entry is not None else None

    def forget(self, uid: str) -> None:
        entry = self._pods.pop(uid, None)
        if entry is not None and entry.task is not None:
            entry.task.cancel()
        self._update_idle()

    def _update_idle(self) -> None:
        if all(e.task is None or e.task.done() for e in self._pods.values()):
            self._idle.set()

    async def wait_idle(self) -> None:
        """Until no status write is pending (events wait for this: statuses go first)."""
        await self._idle.wait()

    async def _flush(self, uid: str, entry: _Entry) -> None:
        failures = 0
        try:
            while not same_status(entry.desired, entry.sent):
                want = entry.desired
                started = time.monotonic()
                try:
                    async with self._sem:
                        await self.client.patch_status(
                            "Pod",
                            entry.name,
                            {"metadata": {"uid": uid}, "status": status_patch(want)},
                            namespace=entry.namespace,
                        )
                    self.writes += 1
                    entry.sent = want
                    failures = 0
                    log.debug(
                        "status of %s/%s (%s) written in %.0f ms",
                        entry.namespace,
                        entry.name,
                        want.get("phase"),
                        (time.monotonic() - started) * 1000,
                    )
                except ApiError as exc:
                    if exc.code == 404:
                        log.debug("status of %s/%s: pod is gone", entry.namespace, entry.name)
                        entry.sent = want
                        return
                    failures += 1
                    log.warning(
                        "status of %s/%s not written (%s); retrying",
                        entry.namespace,
                        entry.name,
                        exc,
                    )
                    await asyncio.sleep(min(0.2 * 2**failures, 10.0))
                except ApiConnectionError as exc:
                    failures += 1
                    log.warning("status of %s/%s: %s; retrying", entry.namespace, entry.name, exc)
                    await asyncio.sleep(min(0.2 * 2**failures, 10.0))
        finally:
            entry.task = None
            self._update_idle()
