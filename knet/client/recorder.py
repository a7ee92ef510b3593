"""core/v1 Events about objects, as client-go's recorder writes them (``kubectl describe`` shows
them), for every component: controllers, the scheduler, the kubelet.

Recording never blocks or fails the caller: events wait in a bounded queue (dropped and counted
when it is full) and go out from a few background workers, after whatever ``wait_turn`` waits
for (the kubelet lets its pod status writes go first). A repeat of the same event about the same
object within ten minutes bumps the count of the Event already written instead of adding
another, as client-go's correlator does. Writes are best effort: failures are only logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from knet.api.times import rfc3339
from knet.client.errors import ApiConnectionError, ApiError
from knet.client.rest import ApiClient

log = logging.getLogger("knet.client.recorder")

NORMAL = "Normal"
WARNING = "Warning"
REPEAT_WINDOW = 600.0  # seconds within which a repeat bumps the count
MAX_NAME = 253
MAX_MESSAGE = 1024
_REMEMBERED = 4096  # correlated events kept, oldest forgotten first (upstream's LRU)


@dataclass(frozen=True)
class EventSource:
    """Who records: ``source.component`` / ``reportingComponent``; ``host`` is ``source.host``
    (the kubelet's node); ``instance`` is ``reportingInstance`` (default: the host, else
    component-hostname)."""

    component: str
    host: str = ""
    instance: str = ""

    @property
    def reporting_instance(self) -> str:
        return self.instance or self.host or f"{self.component}-{socket.gethostname()}"


def object_reference(
    obj: Mapping[str, Any],
    field_path: str | None = None,
    *,
    kind: str | None = None,
    api_version: str | None = None,
) -> dict[str, Any]:
    """The involvedObject for ``obj``, with the uid ``kubectl describe`` filters events by.
    ``kind``/``api_version`` stand in for objects read from lists, which carry neither."""
    meta = obj.get("metadata") or {}
    ref: dict[str, Any] = {
        "kind": kind or obj.get("kind"),
        "apiVersion": api_version or obj.get("apiVersion"),
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
        "fieldPath": field_path,
    }
    return {k: v for k, v in ref.items() if v}


def event_object(
    involved: Mapping[str, Any],
    etype: str,
    reason: str,
    message: str,
    source: EventSource,
    now: float,
    suffix: str | None = None,
) -> dict[str, Any]:
    """A new Event (count 1) about ``involved``; cluster-scoped objects' go to "default"."""
    if etype not in (NORMAL, WARNING):
        raise ValueError(f"event type must be Normal or Warning, not {etype!r}")
    suffix = suffix or f"{time.time_ns():x}"[-12:] + secrets.token_hex(2)
    base = str(involved.get("name") or "event")[: MAX_NAME - len(suffix) - 1]
    stamp = rfc3339(now)
    origin = {"component": source.component}
    if source.host:
        origin["host"] = source.host
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{base}.{suffix}",
            "namespace": involved.get("namespace") or "default",
        },
        "involvedObject": dict(involved),
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "source": origin,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "type": etype,
        "eventTime": None,
        "reportingComponent": source.component,
        "reportingInstance": source.reporting_instance,
    }


@dataclass
class _Sent:
    name: str
    namespace: str
    count: int
    at: float


Key = tuple[str, str, str, str, str, str]
_Item = tuple[Key, dict[str, Any], str, str, str]


class EventRecorder:
    def __init__(
        self,
        client: ApiClient,
        source: EventSource | str,
        *,
        wait_turn: Callable[[], Awaitable[None]] | None = None,
        max_queue: int = 2000,
        concurrency: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.source = source if isinstance(source, EventSource) else EventSource(source)
        self.wait_turn = wait_turn
        self.clock = clock
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(max_queue)
        self._sent: OrderedDict[Key, _Sent] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        self._concurrency = concurrency
        self._closed = False
        self.dropped = 0

    def event(
        self,
        obj: Mapping[str, Any],
        etype: str,
        reason: str,
        message: str,
        field_path: str | None = None,
    ) -> None:
        """Queue an event about ``obj`` (a wire dict with kind, apiVersion and metadata).
        Never blocks; drops the event if the queue is full. Starts the workers if need be."""
        self._record(object_reference(obj, field_path), etype, reason, message)

    def pod_event(
        self,
        pod: Mapping[str, Any],
        etype: str,
        reason: str,
        message: str,
        field_path: str | None = None,
    ) -> None:
        """`event` about a Pod that may come from a list (no kind or apiVersion of its own)."""
        involved = object_reference(pod, field_path, kind="Pod", api_version="v1")
        self._record(involved, etype, reason, message)

    def _record(self, involved: dict[str, Any], etype: str, reason: str, message: str) -> None:
        key: Key = (
            str(involved.get("namespace") or ""),
            str(involved.get("uid") or involved.get("name")),
            str(involved.get("fieldPath") or ""),
            etype,
            reason,
            message,
        )
        if self._closed:
            self.dropped += 1
            return
        self.start()
        try:
            self._queue.put_nowait((key, involved, etype, reason, message))
        except asyncio.QueueFull:
            self.dropped += 1
        log.debug("event %s %s: %s", reason, involved.get("name"), message)

    def start(self) -> None:
        """Start the background writers (once; `event` calls it too)."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run()) for _ in range(self._concurrency)]

    async def flush(self) -> None:
        """Wait until every queued event has been written (or failed)."""
        await self._queue.join()

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Give queued events up to ``flush_timeout`` seconds, then stop the writers; later
        events are dropped."""
        self._closed = True
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), flush_timeout)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []

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
        now = self.clock()
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
        ev = event_object(involved, etype, reason, message, self.source, now)
        created = await self.client.create(ev, namespace=ev["metadata"]["namespace"])
        meta = created.get("metadata") or {}
        self._sent[key] = _Sent(str(meta.get("name")), str(meta.get("namespace")), 1, now)
        self._sent.move_to_end(key)
        while len(self._sent) > _REMEMBERED:
            self._sent.popitem(last=False)
