"""Userspace mode's endpoint chooser: round-robin, ClientIP affinity (fake clock), retries."""

from __future__ import annotations

import pytest

from kproxy.userspace.chooser import Chooser, NoEndpoints

EPS = ("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")


def test_round_robin_cycles_through_every_endpoint() -> None:
    c = Chooser()
    c.update("svc", EPS)
    picks = [c.next("svc", f"10.1.0.{i}", now=0.0) for i in range(6)]
    assert picks == [*EPS, *EPS]


def test_no_endpoints_raises() -> None:
    c = Chooser()
    with pytest.raises(NoEndpoints):
        c.next("unknown", "10.1.0.1", 0.0)
    c.update("svc", ())
    with pytest.raises(NoEndpoints):
        c.next("svc", "10.1.0.1", 0.0)


def test_excluded_endpoints_are_skipped_and_all_failed_raises() -> None:
    c = Chooser()
    c.update("svc", EPS)
    assert c.next("svc", "10.1.0.1", 0.0, exclude={EPS[0]}) == EPS[1]
    assert c.next("svc", "10.1.0.1", 0.0, exclude={EPS[2]}) == EPS[0]
    with pytest.raises(NoEndpoints):
        c.next("svc", "10.1.0.1", 0.0, exclude=set(EPS))


def test_affinity_sticks_per_client_and_expires_after_idle_timeout() -> None:
    c = Chooser()
    c.update("svc", EPS, affinity_seconds=10)
    a = c.next("svc", "10.1.0.1", now=0.0)
    b = c.next("svc", "10.1.0.2", now=0.0)
    assert a != b
    # Each use refreshes the timer: 9s gaps never expire it.
    for t in (9.0, 18.0, 27.0):
        assert c.next("svc", "10.1.0.1", now=t) == a
    # Idle for longer than the timeout: a fresh round-robin pick (the next in line, not a).
    assert c.next("svc", "10.1.0.1", now=27.0 + 10.5) != a


def test_affinity_moves_when_the_endpoint_fails_or_goes_away() -> None:
    c = Chooser()
    c.update("svc", EPS, affinity_seconds=100)
    a = c.next("svc", "10.1.0.1", 0.0)
    b = c.next("svc", "10.1.0.1", 1.0, exclude={a})
    assert b != a
    assert c.next("svc", "10.1.0.1", 2.0) == b  # the retry's pick is the new affinity
    c.update("svc", tuple(e for e in EPS if e != b), affinity_seconds=100)
    assert c.next("svc", "10.1.0.1", 3.0) != b


def test_turning_affinity_off_spreads_again_and_expire_forgets() -> None:
    c = Chooser()
    c.update("svc", EPS, affinity_seconds=100)
    first = c.next("svc", "10.1.0.1", 0.0)
    assert {c.next("svc", "10.1.0.1", 1.0) for _ in range(5)} == {first}
    c.update("svc", EPS, affinity_seconds=None)
    assert {c.next("svc", "10.1.0.1", 2.0) for _ in range(3)} == set(EPS)
    c.update("svc", EPS, affinity_seconds=5)
    c.next("svc", "10.1.0.9", 0.0)
    c.expire(now=100.0)
    assert c._ports["svc"].affinity == {}


def test_update_keeps_the_round_robin_position() -> None:
    c = Chooser()
    c.update("svc", EPS)
    assert c.next("svc", "x", 0.0) == EPS[0]
    c.update("svc", EPS[:2])
    assert c.next("svc", "x", 0.0) == EPS[1]
    assert c.endpoints("svc") == EPS[:2]
    c.remove("svc")
    assert c.endpoints("svc") == ()
