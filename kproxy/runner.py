"""When to sync: kube-proxy's BoundedFrequencyRunner, on asyncio.

Runs of ``fn`` are serialized and rate limited: at most ``burst_runs`` back to back, after
which a token bucket lets one through per ``min_interval``; requests that arrive in between are
coalesced into the next allowed run. ``fn`` runs at least once per ``max_interval`` even with no
request, and ``retry_after(d)`` brings the next run forward to ``d`` from now (after a failure).
``run()`` never blocks: it only marks a run as wanted.

Time comes from an injectable clock (``knet.client.clock``) so tests drive it by hand.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from knet.client.clock import Clock, RealClock

log = logging.getLogger("kproxy.runner")


class TokenBucket:
    """``burst`` tokens, refilled at one per ``interval`` seconds (0: unlimited)."""

    def __init__(self, interval: float, burst: int, now: float) -> None:
        if interval < 0 or burst < 1:
            raise ValueError("the interval must be >= 0 and the burst >= 1")
        self.interval = interval
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def _refill(self, now: float) -> None:
        if self.interval > 0 and now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) / self.interval)
        self._stamp = max(self._stamp, now)

    def try_accept(self, now: float) -> bool:
        if self.interval == 0:
            return True
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def next_token_at(self, now: float) -> float:
        """When the next token will be there (``now`` if one is)."""
        if self.interval == 0:
            return now
        self._refill(now)
        return now + max(0.0, 1 - self._tokens) * self.interval


class BoundedFrequencyRunner:
    def __init__(
        self,
        name: str,
        fn: Callable[[], Awaitable[None]],
        min_interval: float,
        max_interval: float,
        burst_runs: int = 2,
        clock: Clock | None = None,
    ) -> None:
        if min_interval < 0 or max_interval <= 0 or min_interval > max_interval:
            raise ValueError(
                f"{name}: need 0 <= min_interval ({min_interval}) <= max_interval ({max_interval})"
            )
        self.name = name
        self.fn = fn
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.clock = clock or RealClock()
        self.runs = 0  # completed runs of fn
        self._limiter = TokenBucket(min_interval, burst_runs, self.clock.now())
        self._wanted = False  # run() was called since the last run started
        self._retry_at: float | None = None
        self._deadline = math.inf  # next time fn must run without being asked
        self._wakeup = asyncio.Event()

    def run(self) -> None:
        """Ask for a run as soon as the rate limit allows (coalesced with other requests)."""
        self._wanted = True
        self._wakeup.set()

    def retry_after(self, interval: float) -> None:
        """Make sure fn runs again within ``interval`` (used after a failed run)."""
        at = self.clock.now() + max(interval, 0.0)
        self._retry_at = at if self._retry_at is None else min(self._retry_at, at)
        self._wakeup.set()

    async def loop(self) -> None:
        """Serve run requests until cancelled."""
        self._deadline = self.clock.now() + self.max_interval
        while True:
            await self._sleep_until_needed()
            now = self.clock.now()
            if self._retry_at is not None:
                self._deadline = min(self._deadline, self._retry_at)
                self._retry_at = None
            if self._wanted or now >= self._deadline:
                await self._try_run(now)

    async def _sleep_until_needed(self) -> None:
        delay = self._deadline - self.clock.now()
        if delay <= 0 or self._wakeup.is_set():
            self._wakeup.clear()
            return
        timer = self.clock.timer(delay)
        woken: asyncio.Future[Any] = asyncio.ensure_future(self._wakeup.wait())
        waits: set[asyncio.Future[Any]] = {timer, woken}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            woken.cancel()
        self._wakeup.clear()

    async def _try_run(self, now: float) -> None:
        if not self._limiter.try_accept(now):
            # Too soon: come back when the bucket has a token (requests keep coalescing).
            self._deadline = min(self._deadline, self._limiter.next_token_at(now))
            return
        self._wanted = False
        try:
            await self.fn()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: run failed", self.name)
        self.runs += 1
        self._deadline = self.clock.now() + self.max_interval
