"""Events, as client-go's recorder writes them: core/v1 Events about an object, with repeats of
the same (object, reason, message) folded into one Event whose count goes up.

Writing an Event never blocks or fails the loop that emits it: events go out in background tasks
(a few at a time) and a failure is only logged, as upstream treats events as best effort.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from knet.api.objects import meta
from knet.api.times import now_rfc3339
from knet.client import ApiClient, ApiConnectionError, ApiError, is_not_found

log = logging.getLogger("knet.controllers.recorder")

NORMAL, WARNING = "Normal", "Warning"
_CACHE_SIZE = 4096  # folded-event memory, as upstream's LRU


def object_reference(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The involvedObject for `obj`, with the uid that `kubectl describe` filters events by."""
    m = meta(obj)
    ref: dict[str, Any] = {
        "kind": obj.get("kind"),
        "apiVersion": obj.get("apiVersion"),
        "name": m.get("name"),
        "uid": m.get("uid"),
        "resourceVersion": m.get("resourceVersion"),
    }
    if m.get("namespace"):
        ref["namespace"] = m["namespace"]
    return {k: v for k, v in ref.items() if v}


def event_body(
    involved: Mapping[str, Any], event_type: str, reason: str, message: str, component: str
) -> dict[str, Any]:
    """A new Event (count 1) about the object `involved` references. Pure but for the clock."""
    stamp = now_rfc3339()
    namespace = involved.get("namespace") or "default"
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {
            "name": f"{involved.get('name', 'event')}.{time.time_ns():x}",
            "namespace": namespace,
        },
        "involvedObject": dict(involved),
        "reason": reason,
        "message": message,
        "type": event_type,
        "source": {"component": component},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "reportingComponent": component,
        "reportingInstance": f"{component}-{socket.gethostname()}",
    }


class EventRecorder:
    def __init__(self, client: ApiClient, component: str, concurrency: int = 8) -> None:
        self.client = client
        self.component = component
        self._limit = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        # (uid, reason, message) -> (namespace, event name, count) of the Event already written
        self._seen: OrderedDict[tuple[str, str, str], tuple[str, str, int]] = OrderedDict()

    def event(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        """Record an event about `obj` (a wire dict with kind, apiVersion and metadata)."""
        involved = object_reference(obj)
        task = asyncio.create_task(self._write(involved, event_type, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(
        self, involved: dict[str, Any], event_type: str, reason: str, message: str
    ) -> None:
        key = (str(involved.get("uid") or involved.get("name")), reason, message)
        async with self._limit:
            try:
                seen = self._seen.get(key)
                if seen is not None:
                    namespace, name, count = seen
                    try:
                        await self.client.patch(
                            "Event",
                            name,
                            {"count": count + 1, "lastTimestamp": now_rfc3339()},
                            namespace=namespace,
                        )
                        self._remember(key, (namespace, name, count + 1))
                        return
                    except ApiError as e:
                        if not is_not_found(e):
                            raise
                body = event_body(involved, event_type, reason, message, self.component)
                created = await self.client.create(body)
                m = meta(created)
                self._remember(key, (str(m.get("namespace")), str(m.get("name")), 1))
            except (ApiError, ApiConnectionError) as e:
                log.warning("could not record event %s %s: %s", reason, involved.get("name"), e)

    def _remember(self, key: tuple[str, str, str], value: tuple[str, str, int]) -> None:
        self._seen[key] = value
        self._seen.move_to_end(key)
        while len(self._seen) > _CACHE_SIZE:
            self._seen.popitem(last=False)

    async def flush(self) -> None:
        """Wait for the events in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
