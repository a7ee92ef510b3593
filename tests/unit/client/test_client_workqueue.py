"""WorkQueue semantics on a fake clock: dedupe, one worker per key, delays, backoff, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from knet.client.clock import FakeClock
from knet.client.workqueue import ExponentialBackoff, ShutDownError, WorkQueue, process_items


async def settle() -> None:
    """Let every runnable task take its turn (a fake clock never does this for us)."""
    for _ in range(5):
        await asyncio.sleep(0)


def make_queue(clock: FakeClock | None = None) -> WorkQueue[str]:
    return WorkQueue(clock=clock or FakeClock(), rate_limiter=ExponentialBackoff(0.01, 1.0))


async def test_adds_of_one_key_are_deduplicated() -> None:
    q = make_queue()
    for key in ["a", "b", "a", "a", "c", "b"]:
        q.add(key)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]
    assert len(q) == 0


async def test_key_readded_while_processing_is_requeued_after_done() -> None:
    q = make_queue()
    q.add("a")
    assert await q.get() == "a"
    q.add("a")  # a change arrives while a worker holds "a"
    q.add("a")
    assert len(q) == 0, "must not be handed to a second worker while processing"
    q.done("a")
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert len(q) == 0


async def test_done_without_readd_does_not_requeue() -> None:
    q = make_queue()
    q.add("a")
    await q.get()
    q.done("a")
    assert len(q) == 0 and q.processing() == 0


async def test_get_waits_for_an_add() -> None:
    q = make_queue()
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 5) == "x"


async def test_add_after_is_due_only_when_the_clock_gets_there() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add_after("late", 10.0)
    getter = asyncio.create_task(q.get())
    await settle()
    clock.advance(9.9)
    await settle()
    assert not getter.done()
    assert q.waiting() == 1
    clock.advance(0.2)
    assert await asyncio.wait_for(getter, 5) == "late"
    assert q.waiting() == 0


async def test_add_after_keeps_the_earliest_due_time() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add_after("k", 10.0)
    q.add_after("k", 2.0)
    q.add_after("k", 5.0)
    clock.advance(2.0)
    assert len(q) == 1
    assert await q.get() == "k"
    q.done("k")
    clock.advance(100.0)
    assert len(q) == 0, "superseded delays must not fire again"


async def test_shorter_delay_added_while_a_getter_sleeps_wakes_it_sooner() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add_after("slow", 100.0)
    getter = asyncio.create_task(q.get())
    await settle()
    q.add_after("fast", 1.0)
    await settle()
    clock.advance(1.0)
    assert await asyncio.wait_for(getter, 5) == "fast"


async def test_add_after_zero_is_immediate() -> None:
    q = make_queue()
    q.add_after("now", 0)
    assert len(q) == 1


async def test_rate_limited_requeue_backs_off_exponentially_until_forgotten() -> None:
    clock = FakeClock()
    # Binary fractions, so the fake clock's sums are exact.
    q: WorkQueue[str] = WorkQueue(clock=clock, rate_limiter=ExponentialBackoff(0.25, 100.0))
    for expected in [0.25, 0.5, 1.0, 2.0]:
        q.add_rate_limited("k")
        clock.advance(expected / 2)
        assert len(q) == 0, f"due only after {expected}s"
        clock.advance(expected / 2)
        assert len(q) == 1
        assert await q.get() == "k"
        q.done("k")
    assert q.num_requeues("k") == 4
    q.forget("k")
    assert q.num_requeues("k") == 0
    q.add_rate_limited("k")
    clock.advance(0.25)
    assert len(q) == 1, "after forget the backoff starts over"


def test_exponential_backoff_is_capped() -> None:
    limiter: ExponentialBackoff[str] = ExponentialBackoff(base_delay=1.0, max_delay=30.0)
    got = [limiter.when("k") for _ in range(8)]
    assert got == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert limiter.when("other") == 1.0, "backoff is per item"
    for _ in range(200):
        limiter.when("k")
    assert limiter.when("k") == 30.0


def test_exponential_backoff_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        ExponentialBackoff(base_delay=0)
    with pytest.raises(ValueError):
        ExponentialBackoff(base_delay=2, max_delay=1)


async def test_shutdown_drains_then_raises() -> None:
    q = make_queue()
    q.add("a")
    q.add_after("later", 5.0)
    q.shut_down()
    q.add("ignored")
    assert await q.get() == "a"
    with pytest.raises(ShutDownError):
        await q.get()


async def test_shutdown_wakes_waiting_getters() -> None:
    q = make_queue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle()
    q.shut_down()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, ShutDownError) for r in results)


async def test_many_workers_each_key_once_at_a_time() -> None:
    q = make_queue()
    active: set[str] = set()
    readded: set[str] = set()
    seen: list[str] = []
    overlap: list[str] = []

    async def handle(key: str) -> None:
        if key in active:
            overlap.append(key)
        active.add(key)
        await asyncio.sleep(0)
        if key not in readded:  # a change arrives mid-processing, once per key
            readded.add(key)
            q.add(key)
        seen.append(key)
        await asyncio.sleep(0)
        active.discard(key)

    for i in range(20):
        q.add(f"k{i % 5}")
    workers = [asyncio.create_task(process_items(q, handle)) for _ in range(4)]
    while len(q) or q.processing():
        await asyncio.sleep(0)
    q.shut_down()
    await asyncio.wait_for(asyncio.gather(*workers), 5)
    assert overlap == []
    assert sorted(seen) == sorted([f"k{i}" for i in range(5)] * 2)


async def test_process_items_requeues_failures_and_drops_after_max_retries() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    calls: list[str] = []

    async def failing(key: str) -> None:
        calls.append(key)
        raise RuntimeError("boom")

    q.add("bad")
    worker = asyncio.create_task(process_items(q, failing, max_retries=3))
    for _ in range(50):
        await settle()
        clock.advance(1.0)
    assert calls == ["bad"] * 4, "first try plus three retries"
    assert q.num_requeues("bad") == 0, "dropped items are forgotten"
    assert q.waiting() == 0 and len(q) == 0
    q.shut_down()
    await asyncio.wait_for(worker, 5)
