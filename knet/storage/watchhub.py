"""Watch fan-out shared by the stores.

The hub runs on the event loop. A store publishes each committed event once, in revision
order; the hub keeps the most recent ones in a ring and hands each to the matching watchers'
bounded queues. A new watch is assembled, synchronously and so without a gap, from three parts
served in order:

1. backfill: revisions older than the ring, fetched lazily from the store's durable log;
2. backlog: a copy of the ring's events after the requested revision;
3. live: everything published after registration.

A watcher whose live queue is full is ended with WatchClosedError instead of blocking the
publisher, so one slow reader never stalls writers or other watchers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from itertools import islice

from knet.storage.interface import CompactedError, Event, StoreError, Watch, WatchClosedError

Backfill = Callable[[str, int, int, int], Awaitable[Sequence[Event]]]
"""`(prefix, after, upto, limit)`: at most `limit` events for keys under `prefix` with
`after < revision <= upto`, oldest first. Raises CompactedError if that history is gone."""

BACKFILL_PAGE = 500


class HubWatch(Watch):
    """A watch fed by a `WatchHub`. Use `WatchHub.open` to make one."""

    def __init__(
        self,
        hub: WatchHub,
        prefix: str,
        after_revision: int,
        backlog: deque[Event],
        backfill: tuple[Backfill, int] | None,
        queue_size: int,
    ) -> None:
        self.prefix = prefix
        self._hub: WatchHub | None = hub
        self._cursor = after_revision  # revision of the last event handed out (or the start)
        self._backfill = backfill  # (fetch, last revision it must cover)
        self._backfill_page: deque[Event] = deque()
        self._backlog = backlog
        self._queue: deque[Event] = deque()
        self._queue_size = queue_size
        self._wakeup = asyncio.Event()
        self._error: StoreError | None = None
        self._closed = False

    def __aiter__(self) -> HubWatch:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._error is not None:
                raise self._error
            event = await self._next_replayed()
            if event is None and self._queue:
                event = self._queue.popleft()
            if event is not None:
                if event.revision <= self._cursor:
                    raise AssertionError(
                        f"watch order broken: {event.revision} after {self._cursor}"
                    )
                self._cursor = event.revision
                return event
            if self._backfill is None:
                self._wakeup.clear()
                await self._wakeup.wait()

    async def _next_replayed(self) -> Event | None:
        """The next backfill or backlog event, or None when replay is done (or the watch
        ended while a page was being fetched)."""
        if self._backfill_page:
            return self._backfill_page.popleft()
        if self._backfill is not None:
            fetch, upto = self._backfill
            page = await fetch(self.prefix, self._cursor, upto, BACKFILL_PAGE)
            if self._closed or self._error is not None:
                return None
            if page:
                self._backfill_page.extend(page)
                return self._backfill_page.popleft()
            self._backfill = None
        if self._backlog:
            return self._backlog.popleft()
        return None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._release()
        if self._hub is not None:
            self._hub.remove(self)
            self._hub = None

    # Hub side.

    def offer(self, event: Event) -> bool:
        """Queue a live event; False if the queue is full (the hub then ends this watch)."""
        if len(self._queue) >= self._queue_size:
            return False
        self._queue.append(event)
        self._wakeup.set()
        return True

    def end(self, error: StoreError) -> None:
        if self._closed or self._error is not None:
            return
        self._error = error
        self._hub = None
        self._release()

    def _release(self) -> None:
        # Drop buffered events now: an ended watch must not pin memory until it is iterated.
        self._backfill = None
        self._backfill_page.clear()
        self._backlog.clear()
        self._queue.clear()
        self._wakeup.set()

    @property
    def last_revision(self) -> int:
        return self._cursor


class WatchHub:
    def __init__(self, *, revision: int, ring_size: int, queue_size: int) -> None:
        if ring_size < 0 or queue_size < 1:
            raise ValueError(f"bad watch hub sizes: ring {ring_size}, queue {queue_size}")
        self._revision = revision
        self._ring: deque[Event] = deque(maxlen=ring_size)
        self._queue_size = queue_size
        self._by_prefix: dict[str, set[HubWatch]] = {}

    @property
    def revision(self) -> int:
        """The revision of the last published event."""
        return self._revision

    def publish(self, event: Event) -> None:
        if event.revision != self._revision + 1:
            # Revisions are contiguous; anything else means a store published out of order.
            raise AssertionError(f"event {event.revision} published after {self._revision}")
        self._revision = event.revision
        self._ring.append(event)
        key = event.kv.key
        for prefix, watchers in list(self._by_prefix.items()):
            if not key.startswith(prefix):
                continue
            for watcher in list(watchers):
                if event.revision > watcher.last_revision and not watcher.offer(event):
                    self.remove(watcher)
                    watcher.end(
                        WatchClosedError(
                            f"watch on {prefix!r} fell {self._queue_size} events behind; "
                            f"watch again after revision {watcher.last_revision}"
                        )
                    )

    def trim(self, upto_revision: int) -> None:
        """Forget ring events at or before `upto_revision` (compaction)."""
        while self._ring and self._ring[0].revision <= upto_revision:
            self._ring.popleft()

    def open(self, prefix: str, after_revision: int, backfill: Backfill | None) -> HubWatch:
        ring_first = self._ring[0].revision if self._ring else self._revision + 1
        skip = max(0, after_revision + 1 - ring_first)
        backlog = deque(e for e in islice(self._ring, skip, None) if e.kv.key.startswith(prefix))
        older: tuple[Backfill, int] | None = None
        if after_revision < ring_first - 1:
            if backfill is None:
                raise CompactedError(after_revision, ring_first - 1)
            older = (backfill, ring_first - 1)
        watcher = HubWatch(self, prefix, after_revision, backlog, older, self._queue_size)
        self._by_prefix.setdefault(prefix, set()).add(watcher)
        return watcher

    def remove(self, watcher: HubWatch) -> None:
        watchers = self._by_prefix.get(watcher.prefix)
        if watchers is None:
            return
        watchers.discard(watcher)
        if not watchers:
            del self._by_prefix[watcher.prefix]

    def close_all(self, reason: str) -> None:
        watchers = [w for group in self._by_prefix.values() for w in group]
        self._by_prefix.clear()
        for watcher in watchers:
            watcher.end(WatchClosedError(reason))

    @property
    def watcher_count(self) -> int:
        return sum(len(group) for group in self._by_prefix.values())
