"""Leader election on a real Lease: one leader at a time; a standby takes over when the leader
dies (within the lease duration), at once when it steps down cleanly, and a leader that cannot
renew stops leading."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from knet.client import ApiClient, LeaderElectionConfig, LeaderElector
from knet.client.leaderelection import LeaderRecord
from knet.testing.apiserver import ApiServerProcess

LEASE = "kt-lease"


@dataclass
class Candidate:
    elector: LeaderElector
    task: asyncio.Task[None]
    leading: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    work_cancelled: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def client(apiserver: ApiServerProcess) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_url(apiserver.url) as c:
        yield c


def start_candidate(client: ApiClient, identity: str, cfg: LeaderElectionConfig) -> Candidate:
    leading, stopped, cancelled = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def work() -> None:
        leading.set()
        try:
            await asyncio.Event().wait()  # lead until cancelled
        except asyncio.CancelledError:
            cancelled.set()
            raise

    elector = LeaderElector(
        client,
        LeaderElectionConfig(
            cfg.lease_name,
            cfg.lease_namespace,
            identity,
            cfg.lease_duration,
            cfg.renew_deadline,
            cfg.retry_period,
            cfg.release_on_cancel,
        ),
        on_started_leading=work,
        on_stopped_leading=stopped.set,
    )
    task = asyncio.create_task(elector.run())
    return Candidate(elector, task, leading, stopped, cancelled)


async def first_leader(
    a: Candidate, b: Candidate, timeout: float = 20
) -> tuple[Candidate, Candidate]:
    waits = {asyncio.ensure_future(a.leading.wait()): a, asyncio.ensure_future(b.leading.wait()): b}
    done, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for p in pending:
        p.cancel()
    assert done, "nobody became leader"
    leader = waits[next(iter(done))]
    return leader, (b if leader is a else a)


async def stop(*candidates: Candidate) -> None:
    for c in candidates:
        c.task.cancel()
    for c in candidates:
        with contextlib.suppress(asyncio.CancelledError):
            await c.task


async def lease_record(client: ApiClient) -> LeaderRecord:
    return LeaderRecord.from_lease(await client.get("Lease", LEASE, "kube-system"))


async def test_standby_takes_over_within_the_lease_duration_when_the_leader_dies(
    client: ApiClient,
) -> None:
    cfg = LeaderElectionConfig(
        LEASE, lease_duration=2.0, renew_deadline=1.5, retry_period=0.25, release_on_cancel=False
    )
    a = start_candidate(client, "kt-a", cfg)
    b = start_candidate(client, "kt-b", cfg)
    try:
        leader, standby = await first_leader(a, b)
        await asyncio.sleep(cfg.lease_duration * 1.5)  # well past one lease duration ...
        assert not standby.leading.is_set(), "... a renewing leader keeps the lease"
        assert leader.elector.is_leader and not standby.elector.is_leader
        assert standby.elector.leader == leader.elector.identity
        before = await lease_record(client)
        assert before.holder == leader.elector.identity

        # The leader dies: it stops renewing and does not release (release_on_cancel=False).
        loop = asyncio.get_running_loop()
        died_at = loop.time()
        leader.task.cancel()
        await asyncio.gather(leader.task, return_exceptions=True)
        assert (await lease_record(client)).holder == leader.elector.identity, "not released"

        # Handover within the lease duration, plus the standby's (jittered) polling period and
        # the record's age when the leader died: the bound under test, with slack for CI.
        bound = cfg.lease_duration + 2 * cfg.retry_period * 1.2 + 1.0
        await asyncio.wait_for(standby.leading.wait(), timeout=bound + 5.0)
        took = loop.time() - died_at
        assert took <= bound, f"takeover took {took:.2f}s, more than {bound:.2f}s"
        after = await lease_record(client)
        assert after.holder == standby.elector.identity
        assert after.transitions == before.transitions + 1
        assert leader.work_cancelled.is_set() and leader.stopped.is_set()
    finally:
        await stop(a, b)


async def test_clean_stop_releases_so_the_standby_need_not_wait(client: ApiClient) -> None:
    # A lease far longer than the test's patience: only a release lets B in this soon.
    cfg = LeaderElectionConfig(LEASE, lease_duration=60.0, renew_deadline=10.0, retry_period=0.2)
    a = start_candidate(client, "kt-a", cfg)
    b = start_candidate(client, "kt-b", cfg)
    try:
        leader, standby = await first_leader(a, b)
        leader.task.cancel()
        await asyncio.gather(leader.task, return_exceptions=True)
        assert leader.stopped.is_set()
        await asyncio.wait_for(standby.leading.wait(), timeout=20)
        assert (await lease_record(client)).holder == standby.elector.identity
    finally:
        await stop(a, b)


async def test_leader_that_cannot_renew_stops_leading(apiserver: ApiServerProcess) -> None:
    cfg = LeaderElectionConfig(LEASE, lease_duration=3.0, renew_deadline=2.0, retry_period=0.25)
    async with ApiClient.from_url(apiserver.url) as client:
        a = start_candidate(client, "kt-a", cfg)
        try:
            await asyncio.wait_for(a.leading.wait(), 20)
            apiserver.kill()
            await asyncio.wait_for(a.stopped.wait(), 20)
            assert a.work_cancelled.is_set() and not a.elector.is_leader
            await asyncio.wait_for(a.task, 20)  # run() returns once leadership is lost
        finally:
            await stop(a)
