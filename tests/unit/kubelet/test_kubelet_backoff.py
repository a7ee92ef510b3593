"""CrashLoopBackOff: a first restart at once, then doubling waits, capped, reset later."""

from __future__ import annotations

import pytest

from kubelet_lite.pods.backoff import CrashLoopBackoff


def test_first_restart_is_immediate_then_doubling_to_the_cap() -> None:
    b = CrashLoopBackoff(initial=10, maximum=40)
    assert b.remaining("c", event_time=0, now=0) is None
    waits = []
    t = 0.0
    for _ in range(5):
        waits.append(b.next("c", t))
        left = b.remaining("c", event_time=t, now=t)
        assert left == waits[-1]
        t += left + 1  # restarted when the wait ran out; crashes again a second later
    assert waits == [10, 20, 40, 40, 40]


def test_remaining_counts_down_from_the_finish_time() -> None:
    b = CrashLoopBackoff(initial=10, maximum=300)
    b.next("c", 100.0)
    assert b.remaining("c", event_time=105.0, now=108.0) == pytest.approx(7.0)
    assert b.remaining("c", event_time=105.0, now=116.0) is None


def test_entry_expires_after_twice_the_maximum() -> None:
    b = CrashLoopBackoff(initial=10, maximum=300)
    b.next("c", 0.0)
    b.next("c", 10.0)
    assert b.current("c") == 20
    assert b.remaining("c", event_time=700.0, now=700.0) is None  # 690 s > 2 x 300 s
    assert b.next("c", 700.0) == 10


def test_keys_are_independent_and_reset_forgets() -> None:
    b = CrashLoopBackoff(initial=1, maximum=8)
    b.next("a", 0.0)
    b.next("a", 1.0)
    assert b.current("a") == 2 and b.current("b") is None
    b.reset("a")
    assert b.current("a") is None


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        CrashLoopBackoff(initial=0)
    with pytest.raises(ValueError):
        CrashLoopBackoff(initial=10, maximum=5)
