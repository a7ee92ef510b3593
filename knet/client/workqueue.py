"""A work queue for controllers, with client-go's guarantees.

- De-duplication: a key added many times before a worker takes it is processed once.
- One worker per key: a key being processed is not handed to another worker; if it is added
  again meanwhile, it is queued once more when the first worker calls `done()`, so the change
  that caused the add is never lost.
- Delays: `add_after` queues a key later (the earliest of several delays wins).
- Rate-limited requeue: `add_rate_limited` delays a key exponentially longer each time it fails
  again, until `forget` says it succeeded.

Usage in a worker:

    key = await queue.get()
    try:
        await reconcile(key)
        queue.forget(key)
    except Exception:
        queue.add_rate_limited(key)
    finally:
        queue.done(key)

`process_items` is that loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

from knet.client.clock import Clock, RealClock

log = logging.getLogger("knet.client.workqueue")

T = TypeVar("T", bound=Hashable)
T_contra = TypeVar("T_contra", bound=Hashable, contravariant=True)


class ShutDownError(Exception):
    """The queue was shut down and has nothing left to hand out."""


class RateLimiter(Protocol[T_contra]):
    def when(self, item: T_contra) -> float:
        """Delay before `item` is retried; counts one more failure."""
        ...

    def forget(self, item: T_contra) -> None: ...

    def num_requeues(self, item: T_contra) -> int: ...


class ExponentialBackoff(Generic[T]):
    """base * 2**failures per item, capped at `max_delay` (client-go: 5 ms up to 1000 s)."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        if base_delay <= 0 or max_delay < base_delay:
            raise ValueError("need 0 < base_delay <= max_delay")
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[T, int] = {}

    def when(self, item: T) -> float:
        n = self._failures.get(item, 0)
        self._failures[item] = n + 1
        if n >= 64:  # 2**n would only overflow the cap anyway
            return self.max_delay
        return min(self.base_delay * 2.0**n, self.max_delay)

    def forget(self, item: T) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: T) -> int:
        return self._failures.get(item, 0)


class WorkQueue(Generic[T]):
    def __init__(
        self,
        *,
        rate_limiter: RateLimiter[T] | None = None,
        clock: Clock | None = None,
        name: str = "",
    ) -> None:
        self.name = name
        self._limiter: RateLimiter[T] = rate_limiter or ExponentialBackoff()
        self._clock: Clock = clock or RealClock()
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()  # wants processing (queued, or re-added while processing)
        self._processing: set[T] = set()
        self._waiting: dict[T, float] = {}  # delayed item -> when it is due
        self._heap: list[tuple[float, int, T]] = []  # stale entries skipped via _waiting
        self._seq = itertools.count()
        self._getters: list[asyncio.Future[None]] = []
        self._shutting_down = False

    # ------------------------------------------------------------------ adding

    def add(self, item: T) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return  # done() queues it again
        self._queue.append(item)
        self._wake()

    def add_after(self, item: T, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        due = self._clock.now() + delay
        current = self._waiting.get(item)
        if current is not None and current <= due:
            return
        self._waiting[item] = due
        heapq.heappush(self._heap, (due, next(self._seq), item))
        self._wake()  # a getter may need to sleep for less now

    def add_rate_limited(self, item: T) -> None:
        self.add_after(item, self._limiter.when(item))

    def forget(self, item: T) -> None:
        """The item succeeded: its next failure starts the backoff from the beginning."""
        self._limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self._limiter.num_requeues(item)

    # ------------------------------------------------------------------ taking

    async def get(self) -> T:
        """The next item, waiting for one; raises `ShutDownError` once shut down and drained."""
        while True:
            self._promote_due()
            if self._queue:
                item = self._queue.popleft()
                self._dirty.discard(item)
                self._processing.add(item)
                return item
            if self._shutting_down:
                raise ShutDownError(f"work queue {self.name!r} is shut down")
            await self._wait(self._next_due_in())

    def done(self, item: T) -> None:
        """The worker finished with `item`; if it was added meanwhile, queue it again."""
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake()

    def shut_down(self) -> None:
        """Refuse new items; getters drain what is queued, then get `ShutDownError`. Delayed
        items are dropped."""
        self._shutting_down = True
        self._waiting.clear()
        self._heap.clear()
        self._wake()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Items ready to be handed out now."""
        self._promote_due()
        return len(self._queue)

    def waiting(self) -> int:
        """Items delayed for later."""
        return len(self._waiting)

    def processing(self) -> int:
        return len(self._processing)

    # ------------------------------------------------------------------ internals

    def _promote_due(self) -> None:
        now = self._clock.now()
        while self._heap and self._heap[0][0] <= now:
            due, _, item = heapq.heappop(self._heap)
            if self._waiting.get(item) == due:
                del self._waiting[item]
                self.add(item)

    def _next_due_in(self) -> float | None:
        while self._heap:
            due, _, item = self._heap[0]
            if self._waiting.get(item) == due:
                return max(due - self._clock.now(), 0.0)
            heapq.heappop(self._heap)  # stale: superseded by an earlier due time
        return None

    async def _wait(self, timeout: float | None) -> None:
        # Every change wakes every getter, which then looks again: simple, and no wake-up can be
        # lost between a getter and an add.
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._getters.append(woken)
        timer = self._clock.timer(timeout) if timeout is not None else None
        try:
            if timer is None:
                await woken
            else:
                await asyncio.wait({woken, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if timer is not None:
                timer.cancel()
            woken.cancel()
            if woken in self._getters:
                self._getters.remove(woken)

    def _wake(self) -> None:
        getters, self._getters = self._getters, []
        for fut in getters:
            if not fut.done():
                fut.set_result(None)


async def process_items(
    queue: WorkQueue[T],
    handler: Callable[[T], Awaitable[None]],
    *,
    max_retries: int | None = None,
) -> None:
    """A worker: hand items to `handler` until the queue shuts down. A failure requeues the item
    with backoff; after `max_retries` failures in a row it is dropped (logged)."""
    while True:
        try:
            item = await queue.get()
        except ShutDownError:
            return
        try:
            await handler(item)
            queue.forget(item)
        except asyncio.CancelledError:
            raise
        except Exception:
            if max_retries is not None and queue.num_requeues(item) >= max_retries:
                log.exception("%s: dropping %r after %d retries", queue.name, item, max_retries)
                queue.forget(item)
            else:
                log.warning("%s: %r failed; requeued", queue.name, item, exc_info=True)
                queue.add_rate_limited(item)
        finally:
            queue.done(item)
