"""core/v1 Events about pods, as kubelet records them (``kubectl describe pod`` shows them).

Events go out from a background queue, after pod status writes (which matter more to the rest
of the cluster), and repeats of the same event within ten minutes bump the count of the one
already written instead of adding another, as client-go's correlator does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from knet.client import ApiClient, ApiConnectionError, ApiError

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
COMPONENT = "kubelet"
REPEAT_WINDOW = 600.0  # seconds within which a repeat bumps the count
MAX_NAME = 253
MAX_MESSAGE = 1024


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def involved_pod(pod: Mapping[str, Any], field_path: str | None = None) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    ref: dict[str, Any] = {
        "kind": "Pod",
        "apiVersion": "v1",
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
    }
    if meta.get("resourceVersion"):
        ref["resourceVersion"] = meta["resourceVersion"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


def event_object(
    involved: Mapping[str, Any],
    etype: str,
    reason: str,
    message: str,
    node_name: str,
    now: float,
    suffix: str | None = None,
) -> dict[str, Any]:
    """A new Event (count 1) about ``involved``."""
    if etype not in (NORMAL, WARNING):
        raise ValueError(f"event type must be Normal or Warning, not {etype!r}")
    suffix = suffix or f"{time.time_ns():x}"[-12:] + secrets.token_hex(2)
    base = str(involved.get("name") or "event")[: MAX_NAME - len(suffix) - 1]
    stamp = rfc3339(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{base}.{suffix}", "namespace": involved.get("namespace")},
        "involvedObject": dict(involved),
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "source": {"component": COMPONENT, "host": node_name},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "type": etype,
        "eventTime": None,
        "reportingComponent": COMPONENT,
        "reportingInstance": node_name,
    }


@dataclass
class _Sent:
    name: str
    namespace: str
    count: int
    at: float


Key = tuple[str, str, str, str, str, str]


class EventRecorder:
    def __init__(
        self,
        client: ApiClient,
        node_name: str,
        *,
        wait_turn: Callable[[], Awaitable[None]] | None = None,
        max_queue: int = 2000,
        concurrency: int = 4,
    ) -> None:
        self.client = client
        self.node_name = node_name
        self.wait_turn = wait_turn
        self._queue: asyncio.Queue[tuple[Key, dict[str, Any], str, str, str]] = asyncio.Queue(
            max_queue
        )
        self._sent: OrderedDict[Key, _Sent] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        self._concurrency = concurrency
        self.dropped = 0

    def pod_event(
        self,
        pod: Mapping[str, Any],
        etype: str,
        reason: str,
        message: str,
        field_path: str | None = None,
    ) -> None:
        """Queue an event about ``pod`` (never blocks; drops it if the queue is full)."""
        involved = involved_pod(pod, field_path)
        key: Key = (
            str(involved.get("namespace")),
            str(involved.get("uid")),
            field_path or "",
            etype,
            reason,
            message,
        )
        try:
            self._queue.put_nowait((key, involved, etype, reason, message))
        except asyncio.QueueFull:
            self.dropped += 1
        log.debug("event %s %s: %s", reason, involved.get("name"), message)

    def start(self) -> None:
        for _ in range(self._concurrency):
            self._tasks.append(asyncio.create_task(self._run()))

    async def close(self, flush_timeout: float = 2.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), flush_timeout)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def _run(self) -> None:
        while True:
            key, involved, etype, reason, message = await self._queue.get()
            try:
                if self.wait_turn is not None:
                    await self.wait_turn()
                await self._send(key, involved, etype, reason, message)
            except (ApiError, ApiConnectionError) as exc:
                log.warning("event %s for %s not recorded: %s", reason, involved.get("name"), exc)
            except Exception:
                log.exception("event %s for %s not recorded", reason, involved.get("name"))
            finally:
                self._queue.task_done()

    async def _send(
        self, key: Key, involved: dict[str, Any], etype: str, reason: str, message: str
    ) -> None:
        now = time.time()
        prev = self._sent.get(key)
        if prev is not None and now - prev.at < REPEAT_WINDOW:
            prev.count += 1
            prev.at = now
            self._sent.move_to_end(key)
            try:
                await self.client.patch(
                    "Event",
                    prev.name,
                    {"count": prev.count, "lastTimestamp": rfc3339(now)},
                    namespace=prev.namespace,
                )
                return
            except ApiError as exc:
                if exc.code != 404:
                    raise
        ev = event_object(involved, etype, reason, message, self.node_name, now)
        created = await self.client.create(ev, namespace=str(involved.get("namespace")))
        meta = created.get("metadata") or {}
        self._sent[key] = _Sent(str(meta.get("name")), str(meta.get("namespace")), 1, now)
        while len(self._sent) > 4096:
            self._sent.popitem(last=False)
