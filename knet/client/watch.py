"""list-then-watch: a stream of changes that survives disconnects, restarts and expired history.

LIST, yield an ADDED per object and a `Synced` marker, then WATCH from the list's
resourceVersion. When a watch ends (server timeout, broken connection, server restart) the next
one resumes from the last resourceVersion seen, bookmarks included, so nothing is missed and
nothing repeats. When the server no longer has that version (410 Expired) we relist and yield
the difference to what we had yielded before (DELETED for what vanished, ADDED for what is new,
MODIFIED for what changed), then `Synced` again. A consumer that applies the events in order
therefore always holds exactly the server's state as of the last event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from knet.client.cache import object_key
from knet.client.errors import ApiConnectionError, ApiError, ExpiredError, is_retryable
from knet.client.events import (
    ADDED,
    BOOKMARK,
    DELETED,
    MODIFIED,
    Synced,
    WatchEvent,
    WatchProtocolError,
)
from knet.client.rest import ApiClient, Selector

log = logging.getLogger("knet.client.watch")

Obj = dict[str, Any]


@dataclass(frozen=True)
class Backoff:
    """Exponential delay between failed attempts, with jitter so that many clients that lost
    the same server do not come back in lockstep."""

    initial: float = 0.1
    maximum: float = 5.0
    factor: float = 2.0
    jitter: float = 0.2  # up to this fraction added at random

    def delay(self, failures: int) -> float:
        """Delay before the next attempt after `failures` consecutive failures (>= 1)."""
        base = min(self.maximum, self.initial * self.factor ** max(failures - 1, 0))
        return base * (1.0 + self.jitter * random.random())


def _rv(obj: Mapping[str, Any]) -> str | None:
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return rv if isinstance(rv, str) else None


def relist_diff(
    known: Mapping[str, Obj], listed: Iterable[Obj]
) -> tuple[list[WatchEvent], dict[str, Obj]]:
    """Events that take a consumer holding `known` to the `listed` state, and that state by key.

    Deletions come first (carrying the last object we knew), then additions and changes in list
    order. An object whose resourceVersion did not change yields nothing."""
    now: dict[str, Obj] = {}
    for obj in listed:
        now[object_key(obj)] = obj
    events = [WatchEvent(DELETED, old) for key, old in known.items() if key not in now]
    for key, obj in now.items():
        old = known.get(key)
        if old is None:
            events.append(WatchEvent(ADDED, obj))
        elif _rv(old) != _rv(obj):
            events.append(WatchEvent(MODIFIED, obj))
    return events, now


def apply_event(known: dict[str, Obj], event: WatchEvent) -> None:
    if event.type == DELETED:
        known.pop(object_key(event.object), None)
    elif event.type in (ADDED, MODIFIED):
        known[object_key(event.object)] = event.object


async def list_then_watch(
    client: ApiClient,
    kind: str,
    namespace: str | None = None,
    *,
    label_selector: Selector | None = None,
    field_selector: str | None = None,
    watch_timeout: int = 300,
    backoff: Backoff | None = None,
) -> AsyncGenerator[WatchEvent | Synced, None]:
    """Yields ADDED / MODIFIED / DELETED events and a `Synced` after every (re)list, forever.

    Connection errors and server-side errors (5xx, 429) are retried with backoff; other API
    errors (a bad selector, an unknown resource) are raised, as retrying cannot fix them."""
    backoff = backoff or Backoff()
    loop = asyncio.get_running_loop()
    known: dict[str, Obj] = {}
    rv: str | None = None  # None: (re)list before watching
    failures = 0
    where = f"{kind} in {namespace}" if namespace else kind
    while True:
        try:
            if rv is None:
                items, rv = await client.list(
                    kind, namespace, label_selector=label_selector, field_selector=field_selector
                )
                events, known = relist_diff(known, items)
                failures = 0
                for ev in events:
                    yield ev
                yield Synced(rv)
            started, seen_any = loop.time(), False
            stream = client.watch(
                kind,
                namespace,
                resource_version=rv,
                label_selector=label_selector,
                field_selector=field_selector,
                timeout_seconds=watch_timeout,
            )
            # aclosing: if our consumer stops mid-stream, the HTTP response closes now, not
            # whenever the abandoned generator is garbage-collected.
            async with contextlib.aclosing(stream):
                async for ev in stream:
                    seen_any, failures = True, 0
                    rv = ev.resource_version or rv
                    if ev.type == BOOKMARK:
                        continue
                    apply_event(known, ev)
                    yield ev
            # The server ended the stream (its timeout): resume at once, unless streams keep
            # ending empty right away, which would otherwise spin.
            if not seen_any and loop.time() - started < 1.0:
                failures += 1
                await asyncio.sleep(backoff.delay(failures))
        except ExpiredError as e:
            log.info("watch of %s expired at %s (%s); relisting", where, rv, e.message)
            rv = None
        except (ApiConnectionError, WatchProtocolError, ApiError) as e:
            if isinstance(e, ApiError) and not is_retryable(e):
                raise
            failures += 1
            delay = backoff.delay(failures)
            log.warning("watch of %s failed (%s); retrying in %.2fs", where, e, delay)
            await asyncio.sleep(delay)
