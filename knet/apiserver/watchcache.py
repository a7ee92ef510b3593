"""The watch cache: one store watch per resource, fanned out to every client watch in memory.

As kube-apiserver's cacher: each resource's cache lists its prefix at a revision and watches the
store, keeping the current objects (decoded once) and a bounded ring of recent events. Unlike
upstream, the ring is first filled from the store's retained history, so a restart of the server
does not turn a client's resume into a 410.
Client watches replay from the ring and then follow it; a watch from a revision older than the ring
is `CompactedError` (410 Expired). Each client watch has a bounded queue and is ended when it
falls behind, so a slow client never blocks the cache or other watchers. The cache relists when
the store's history no longer covers it, which ends its client watches (they resume, or get 410).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

from knet.api.registry import ResourceInfo
from knet.api.selectors import FieldSelector, LabelSelector
from knet.apiserver.selection import matches
from knet.apiserver.stored import decode
from knet.storage import (
    CompactedError,
    Event,
    EventType,
    Store,
    StoreUnavailableError,
    Watch,
    WatchClosedError,
)

log = logging.getLogger("knet.apiserver.watchcache")

Obj = dict[str, Any]

# Events kept per resource for watches to resume from (upstream sizes this dynamically).
RING_SIZE = 10_000
# Events one client watch may have queued before it is ended as too slow.
WATCHER_QUEUE = 10_000
# Pause before re-watching when the store cannot be reached.
_RETRY_DELAY = 1.0


def decoded(ev: Event) -> Obj:
    """The event's object, decoded once for the cache and every watcher (`Event.cache`)."""
    obj = ev.cache.get("obj")
    if obj is None:
        obj = ev.cache["obj"] = decode(ev.kv)
    return obj


class CacheWatch(Watch):
    """One client watch on a cache: the ring's events after a revision, then live ones."""

    def __init__(
        self, owner: set[CacheWatch], prefix: str, after_revision: int, queue_size: int
    ) -> None:
        self._owner = owner
        self.prefix = prefix
        self.after_revision = after_revision
        self._queue_size = queue_size
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._ended: str | None = None

    def wants(self, ev: Event) -> bool:
        return ev.revision > self.after_revision and ev.kv.key.startswith(self.prefix)

    def replay(self, ev: Event) -> None:
        """Queue a ring event regardless of the bound: the ring itself is bounded."""
        if self.wants(ev):
            self._events.append(ev)
            self._ready.set()

    def offer(self, ev: Event) -> None:
        if self._ended is not None or not self.wants(ev):
            return
        if len(self._events) >= self._queue_size:
            self.end("watcher fell too far behind")
            return
        self._events.append(ev)
        self._ready.set()

    def end(self, reason: str) -> None:
        """Stop after what is queued; iteration then raises WatchClosedError."""
        if self._ended is None:
            self._ended = reason
        self._owner.discard(self)
        self._ready.set()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            if self._events:
                yield self._events.popleft()
                continue
            if self._ended is not None:
                raise WatchClosedError(self._ended)
            self._ready.clear()
            await self._ready.wait()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    def close(self) -> None:
        self.end("closed")


class WatchCache:
    """The objects under one key prefix and a ring of their recent events, kept from the store."""

    def __init__(
        self,
        store: Store,
        prefix: str,
        *,
        ring_size: int = RING_SIZE,
        watcher_queue: int = WATCHER_QUEUE,
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.objects: dict[str, Obj] = {}
        self._ring: deque[Event] = deque(maxlen=ring_size)
        self._ring_size = ring_size
        self._watchers: set[CacheWatch] = set()
        self._watcher_queue = watcher_queue
        # Watches may start after `floor` or later: every change after it is in the ring.
        self.floor = 0
        # The revision `objects` are at; `_seen` is the last event read (behind it while the
        # ring is filled from the store's history after a list).
        self.revision = 0
        self._seen = 0
        self.relists = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._relist()
        self._task = asyncio.create_task(self._run(), name=f"watchcache {self.prefix}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._end_watchers("watch cache closed")

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    async def _relist(self) -> None:
        kvs, rev = await self.store.range(self.prefix)
        self.objects = {kv.key: decode(kv) for kv in kvs}
        self._ring.clear()
        self.revision = rev
        # The ring is then filled from the store's retained history up to the list's revision,
        # so a watch from before this (re)start resumes as it would from the store.
        # At most the last ring-size revisions of the whole store: a bounded read.
        self._restart_history(max(self.store.compacted_revision, rev - self._ring_size))
        self._end_watchers("watch cache relisted")
        self.relists += 1

    def _restart_history(self, floor: int) -> None:
        self._ring.clear()
        self.floor = self._seen = min(floor, self.revision)

    def _end_watchers(self, reason: str) -> None:
        # Their next event may be lost with the old history: end them; they resume or get 410.
        for w in list(self._watchers):
            w.end(reason)

    async def _run(self) -> None:
        """Follow the store; re-watch when the watch ends, relist when history is gone."""
        while True:
            try:
                watch = self.store.watch(self.prefix, self._seen)
                try:
                    async for ev in watch:
                        self.apply(ev)
                finally:
                    watch.close()
            except WatchClosedError:
                pass  # re-watch from the last event read
            except CompactedError as e:
                if self._seen < self.revision and e.compacted <= self.revision:
                    # Filling the ring, the history turned out shorter: keep what is left of it.
                    self._restart_history(e.compacted)
                    self._end_watchers("watch cache history compacted")
                else:
                    await self._relist_until_done()
            except StoreUnavailableError as e:
                log.warning("watch cache %s: store unavailable: %s", self.prefix, e)
                await asyncio.sleep(_RETRY_DELAY)

    async def _relist_until_done(self) -> None:
        while True:
            try:
                await self._relist()
                return
            except StoreUnavailableError as e:
                log.warning("watch cache %s: relist failed: %s", self.prefix, e)
                await asyncio.sleep(_RETRY_DELAY)

    def apply(self, ev: Event) -> None:
        """One store event: update the objects, append to the ring, hand to every watcher."""
        if ev.revision <= self._seen:
            return  # already seen (a re-watch overlaps by design)
        self._seen = ev.revision
        if ev.revision > self.revision:  # older ones are history the listed objects hold
            if ev.type is EventType.DELETE:
                self.objects.pop(ev.kv.key, None)
            else:
                self.objects[ev.kv.key] = decoded(ev)
            self.revision = ev.revision
        if self._ring.maxlen is not None and len(self._ring) == self._ring.maxlen:
            self.floor = self._ring[0].revision  # about to fall out of the window
        self._ring.append(ev)
        for w in list(self._watchers):
            w.offer(ev)

    def watch(self, prefix: str, after_revision: int) -> CacheWatch:
        """Every change under `prefix` after `after_revision`. CompactedError when the ring no
        longer holds all of them, or the store no longer does (the cache serves no more history
        than the store keeps, so clients see the same window with the cache on or off)."""
        oldest = max(self.floor, self.store.compacted_revision)
        if after_revision < oldest:
            raise CompactedError(after_revision, oldest)
        w = CacheWatch(self._watchers, prefix, after_revision, self._watcher_queue)
        for ev in self._ring:
            w.replay(ev)
        self._watchers.add(w)
        return w

    def list(
        self,
        info: ResourceInfo,
        prefix: str,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
    ) -> tuple[list[Obj], int]:
        """The objects under `prefix` that match, sorted by key as the store returns them, and
        the cache's revision."""
        items = [
            obj
            for key, obj in sorted(self.objects.items())
            if key.startswith(prefix) and matches(info, obj, labels, fields)
        ]
        return items, self.revision


class WatchCaches:
    """One WatchCache per resource prefix."""

    def __init__(self, store: Store, **options: int) -> None:
        self.store = store
        self._options = options
        self._caches: dict[str, WatchCache] = {}

    async def start(self, infos: Iterable[ResourceInfo]) -> None:
        for info in infos:
            prefix = info.key_prefix(None)
            if prefix not in self._caches:
                cache = WatchCache(self.store, prefix, **self._options)
                await cache.start()
                self._caches[prefix] = cache

    def get(self, info: ResourceInfo) -> WatchCache | None:
        return self._caches.get(info.key_prefix(None))

    def list(
        self,
        info: ResourceInfo,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
        resource_version: str | None,
        match: str | None,
    ) -> tuple[list[Obj], int] | None:
        """The list from memory when the request allows it (`list_from_cache`), else None."""
        cache = self.get(info)
        if cache is None or not list_from_cache(resource_version, match, cache.revision):
            return None
        return cache.list(info, info.key_prefix(namespace), labels, fields)

    async def close(self) -> None:
        for cache in self._caches.values():
            await cache.close()


def list_from_cache(resource_version: str | None, match: str | None, cache_revision: int) -> bool:
    """Whether a list may be served from the cache. resourceVersion=0 ("any") and
    NotOlderThan a revision the cache has reached may; unset or Exact read the store, a
    consistent read, as upstream before consistent lists from cache."""
    if match not in (None, "", "NotOlderThan"):
        return False
    if resource_version == "0":
        return True
    if match != "NotOlderThan" or not resource_version or not resource_version.isdigit():
        return False
    return int(resource_version) <= cache_revision
