"""BoundedFrequencyRunner against a fake clock: bursts, min interval, max interval, retry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from knet.client.clock import FakeClock
from kproxy.runner import BoundedFrequencyRunner, TokenBucket


class Harness:
    def __init__(self, min_interval: float, max_interval: float, burst: int = 2) -> None:
        self.clock = FakeClock(1000.0)
        self.calls: list[float] = []
        self.fail = False
        self.runner = BoundedFrequencyRunner(
            "test", self._fn, min_interval, max_interval, burst, self.clock
        )

    async def _fn(self) -> None:
        self.calls.append(self.clock.now())
        if self.fail:
            raise RuntimeError("boom")

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.settle()


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness(min_interval=1.0, max_interval=10.0, burst=2)
    task = asyncio.create_task(harness.runner.loop())
    await harness.settle()
    yield harness
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_run_requests_burst_then_coalesce_to_min_interval(h: Harness) -> None:
    h.runner.run()
    await h.settle()
    h.runner.run()
    await h.settle()
    assert h.calls == [1000.0, 1000.0]  # two back to back: the burst
    for _ in range(5):  # many requests now: coalesced into one run, a full interval later
        h.runner.run()
        await h.settle()
    assert len(h.calls) == 2
    await h.advance(0.5)
    assert len(h.calls) == 2
    await h.advance(0.5)
    assert h.calls == [1000.0, 1000.0, 1001.0]


async def test_runs_every_max_interval_without_requests(h: Harness) -> None:
    await h.advance(9.9)
    assert h.calls == []
    await h.advance(0.1)
    assert h.calls == [1010.0]
    await h.advance(10.0)
    assert h.calls == [1010.0, 1020.0]


async def test_a_run_resets_the_max_interval_timer(h: Harness) -> None:
    await h.advance(5.0)
    h.runner.run()
    await h.settle()
    assert h.calls == [1005.0]
    await h.advance(9.0)
    assert h.calls == [1005.0]
    await h.advance(1.0)
    assert h.calls == [1005.0, 1015.0]


async def test_retry_after_brings_the_next_run_forward(h: Harness) -> None:
    h.runner.run()
    await h.settle()
    h.runner.retry_after(3.0)
    await h.settle()
    await h.advance(2.9)
    assert h.calls == [1000.0]
    await h.advance(0.1)
    assert h.calls == [1000.0, 1003.0]


async def test_retry_requested_from_inside_the_run_is_honoured(h: Harness) -> None:
    async def failing() -> None:
        h.calls.append(h.clock.now())
        h.runner.retry_after(2.0)

    h.runner.fn = failing
    h.runner.run()
    await h.settle()
    await h.advance(2.0)
    assert h.calls == [1000.0, 1002.0]


async def test_a_failing_run_does_not_stop_the_loop(h: Harness) -> None:
    h.fail = True
    h.runner.run()
    await h.settle()
    h.runner.run()
    await h.settle()
    assert len(h.calls) == 2
    assert h.runner.runs == 2


async def test_request_during_a_run_causes_one_more_run() -> None:
    harness = Harness(min_interval=0.0, max_interval=60.0)
    gate = asyncio.Event()

    async def slow() -> None:
        harness.calls.append(harness.clock.now())
        await gate.wait()

    harness.runner.fn = slow
    task = asyncio.create_task(harness.runner.loop())
    try:
        harness.runner.run()
        await harness.settle()
        harness.runner.run()
        harness.runner.run()
        await harness.settle()
        assert len(harness.calls) == 1  # serialized: still inside the first run
        gate.set()
        await harness.settle()
        assert len(harness.calls) == 2  # both requests coalesced into one more run
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_token_bucket_refills_one_per_interval() -> None:
    bucket = TokenBucket(2.0, 2, now=0.0)
    assert bucket.try_accept(0.0) and bucket.try_accept(0.0)
    assert not bucket.try_accept(0.0)
    assert bucket.next_token_at(0.0) == 2.0
    assert not bucket.try_accept(1.9)
    assert bucket.try_accept(2.0)
    assert bucket.next_token_at(2.0) == 4.0


def test_bad_intervals_are_refused() -> None:
    async def noop() -> None:
        return None

    with pytest.raises(ValueError, match="min_interval"):
        BoundedFrequencyRunner("x", noop, 5.0, 1.0)
    with pytest.raises(ValueError):
        TokenBucket(1.0, 0, now=0.0)
