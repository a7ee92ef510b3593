"""Leader election's decisions, as pure functions over the Lease record."""

from __future__ import annotations

import pytest

from knet.client.leaderelection import (
    LeaderElectionConfig,
    LeaderRecord,
    can_acquire,
    claim,
    released,
)


def held_by(holder: str | None, duration: int = 10) -> LeaderRecord:
    return LeaderRecord(holder, duration, "t0", "t0", transitions=3)


def test_free_own_or_expired_leases_can_be_acquired() -> None:
    assert can_acquire(held_by(None), "me", observed_at=100.0, now=100.0)
    assert can_acquire(held_by("me"), "me", observed_at=100.0, now=100.0)
    assert not can_acquire(held_by("other"), "me", observed_at=100.0, now=109.9)
    assert can_acquire(held_by("other"), "me", observed_at=100.0, now=110.0)


def test_renewal_keeps_acquire_time_and_transitions() -> None:
    renewed = claim(held_by("me"), "me", "t1", 10)
    assert (renewed.holder, renewed.acquire_time, renewed.renew_time) == ("me", "t0", "t1")
    assert renewed.transitions == 3


def test_takeover_counts_a_transition_and_restarts_acquire_time() -> None:
    taken = claim(held_by("other"), "me", "t1", 15)
    assert (taken.holder, taken.acquire_time, taken.renew_time) == ("me", "t1", "t1")
    assert (taken.transitions, taken.lease_duration_seconds) == (4, 15)
    first = claim(None, "me", "t1", 15)
    assert first.transitions == 0


def test_release_empties_the_holder_and_round_trips_through_a_lease() -> None:
    rec = released(held_by("me"), "t2")
    assert rec.holder is None and rec.lease_duration_seconds == 1 and rec.transitions == 3
    lease = {"spec": rec.spec()}
    assert "holderIdentity" not in lease["spec"]
    assert LeaderRecord.from_lease(lease) == rec
    full = claim(None, "me", "t1", 15)
    assert LeaderRecord.from_lease({"spec": full.spec()}) == full


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="lease_duration must be greater"):
        LeaderElectionConfig("l", lease_duration=5, renew_deadline=5, retry_period=1)
    with pytest.raises(ValueError, match="renew_deadline must exceed"):
        LeaderElectionConfig("l", lease_duration=5, renew_deadline=1, retry_period=1)
    with pytest.raises(ValueError, match="lease_name"):
        LeaderElectionConfig("")
