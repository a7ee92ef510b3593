"""The register linearizability checker: histories that must pass and ones that must fail."""

from __future__ import annotations

from knet.testing.linearizability import Kind, Op, Outcome, State, check_history, check_key, step

OK, FAIL, UNKNOWN = Outcome.OK, Outcome.FAIL, Outcome.UNKNOWN


def op(
    kind: Kind,
    start: float,
    end: float | None,
    outcome: Outcome = OK,
    *,
    value: str | None = None,
    expected: int | None = None,
    version: int | None = None,
    client: str = "c",
    key: str = "k",
) -> Op:
    return Op(client, key, kind, start, end, outcome, value, expected, version)


def create(start: float, end: float | None, version: int | None, value: str, **kw: object) -> Op:
    outcome = kw.pop("outcome", OK if version is not None else UNKNOWN)
    return op(Kind.CREATE, start, end, outcome, value=value, version=version, **kw)  # type: ignore[arg-type]


def cas(
    start: float, end: float | None, expected: int, version: int | None, value: str, **kw: object
) -> Op:
    outcome = kw.pop("outcome", OK if version is not None else UNKNOWN)
    return op(Kind.CAS, start, end, outcome, value=value, expected=expected, version=version, **kw)  # type: ignore[arg-type]


def read(start: float, end: float, value: str | None, version: int | None, **kw: object) -> Op:
    return op(Kind.READ, start, end, value=value, version=version, **kw)  # type: ignore[arg-type]


def test_sequential_history_is_linearizable() -> None:
    h = [
        create(0, 1, 5, "a"),
        cas(2, 3, 5, 7, "b"),
        read(4, 5, "b", 7),
        cas(6, 7, 5, None, "c", outcome=FAIL),  # stale precondition: a conflict
        op(Kind.DELETE, 8, 9, version=9),
        read(10, 11, None, None),
    ]
    assert check_key("k", h).ok


def test_concurrent_operations_may_take_either_order() -> None:
    # The read overlaps the CAS: seeing the old value is fine, and so is the new one.
    base = [create(0, 1, 5, "a"), cas(2, 6, 5, 7, "b")]
    assert check_key("k", [*base, read(3, 4, "a", 5)]).ok
    assert check_key("k", [*base, read(3, 4, "b", 7)]).ok


def test_stale_read_after_acknowledged_write_is_rejected() -> None:
    # The CAS was acknowledged before the read began: reading the old value is a lost write.
    h = [create(0, 1, 5, "a"), cas(2, 3, 5, 7, "b"), read(4, 5, "a", 5)]
    verdict = check_key("k", h)
    assert not verdict.ok
    assert "not linearizable" in verdict.detail


def test_lost_acknowledged_create_is_rejected() -> None:
    h = [create(0, 1, 5, "a"), read(2, 3, None, None)]
    assert not check_key("k", h).ok


def test_two_successful_cas_on_one_version_are_rejected() -> None:
    # Both claim to have replaced version 5: one of them must have failed.
    h = [create(0, 1, 5, "a"), cas(2, 4, 5, 7, "b", client="x"), cas(2, 4, 5, 8, "c", client="y")]
    assert not check_key("k", h).ok


def test_one_cas_wins_and_the_other_conflicts() -> None:
    h = [
        create(0, 1, 5, "a"),
        cas(2, 4, 5, 7, "b", client="x"),
        cas(2, 4, 5, None, "c", client="y", outcome=FAIL),
    ]
    assert check_key("k", h).ok


def test_versions_must_grow() -> None:
    h = [create(0, 1, 5, "a"), cas(2, 3, 5, 4, "b")]
    assert not check_key("k", h).ok


def test_unknown_write_may_or_may_not_have_happened() -> None:
    base = [create(0, 1, 5, "a"), cas(2, None, 5, None, "b")]  # timed out
    # Later reads may see either, and the unknown write's version is learnt from the read.
    assert check_key("k", [*base, read(10, 11, "a", 5)]).ok
    assert check_key("k", [*base, read(10, 11, "b", 9)]).ok
    # ... but not flip back: once "b" is seen, "a" cannot be seen again.
    assert not check_key("k", [*base, read(10, 11, "b", 9), read(12, 13, "a", 5)]).ok


def test_unknown_write_takes_effect_only_after_it_began() -> None:
    h = [create(0, 1, 5, "a"), read(2, 3, "b", 9), cas(4, None, 5, None, "b")]
    assert not check_key("k", h).ok


def test_failed_create_needs_the_key_to_exist() -> None:
    h = [create(0, 1, None, "a", outcome=FAIL)]
    assert not check_key("k", h).ok
    assert check_key("k", h, initial=State("x", 3, 3)).ok


def test_failed_cas_against_the_current_version_is_rejected() -> None:
    h = [create(0, 1, 5, "a"), cas(2, 3, 5, None, "b", outcome=FAIL)]
    assert not check_key("k", h).ok


def test_step_rejects_read_of_a_value_never_written() -> None:
    assert step(State("a", 5, 5), read(0, 1, "z", 5)) is None


def test_check_history_checks_each_key_and_unique_revisions() -> None:
    good = [create(0, 1, 5, "a", key="k1"), create(0, 1, 6, "a", key="k2")]
    assert check_history(good) == []
    twice = [create(0, 1, 5, "a", key="k1"), create(0, 1, 5, "a", key="k2")]
    bad = check_history(twice)
    assert len(bad) == 1 and "acknowledged twice" in bad[0].detail
    lost = [*good, read(2, 3, None, None, key="k2")]
    assert [v.key for v in check_history(lost)] == ["k2"]


def test_long_concurrent_history_is_checked_quickly() -> None:
    # 4 clients, overlapping CAS chains on one key, all consistent: the memoised search must
    # not blow up.
    h = [create(0, 1, 1, "v1")]
    version, t = 1, 2.0
    for i in range(200):
        new = version + 1
        h.append(cas(t, t + 1.5, version, new, f"v{new}", client=f"w{i % 4}"))
        h.append(cas(t + 0.1, t + 1.4, version, None, "lost", client=f"x{i % 4}", outcome=FAIL))
        version, t = new, t + 1.0
    assert check_key("k", h).ok
