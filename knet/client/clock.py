"""Time as the work queue sees it: a real monotonic clock, or a fake one tests move by hand."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def timer(self, delay: float) -> asyncio.Future[None]:
        """A future that completes `delay` seconds from now; cancelling it stops the timer.
        Registered at once (not when first awaited), so a fake clock moved right after the
        call still fires it."""
        ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    def timer(self, delay: float) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(max(delay, 0.0), _fire, fut)
        fut.add_done_callback(lambda _: handle.cancel())
        return fut


class FakeClock:
    """Stands still until `advance()`; timers fire when it passes their deadline."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def timer(self, delay: float) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if delay <= 0:
            fut.set_result(None)
        else:
            heapq.heappush(self._timers, (self._now + delay, next(self._seq), fut))
        return fut

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds
        while self._timers and self._timers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._timers)
            _fire(fut)

    def pending_timers(self) -> int:
        return sum(1 for _, _, f in self._timers if not f.done())


def _fire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def sleep(clock: Clock, seconds: float) -> None:
    timer = clock.timer(seconds)
    try:
        await timer
    finally:
        timer.cancel()
