"""The grid: flag parsing, which cases run in which order, and the budget planner."""

from __future__ import annotations

import pytest

from kproxy.lab.grid import (
    COST_WEIGHT,
    DEFAULT_SERVICES,
    Case,
    Limits,
    Planner,
    build_cases,
    parse_backends,
    parse_int_list,
    service_sizes,
)


def test_parse_int_list() -> None:
    assert parse_int_list("10000,1000, 1k,2e4", "--services") == (1000, 10000, 20000)
    assert parse_int_list("1_000", "--services") == (1000,)


@pytest.mark.parametrize("text", ["", "abc", "0", "1.5", "-3", ","])
def test_parse_int_list_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="--endpoints"):
        parse_int_list(text, "--endpoints")


def test_parse_backends() -> None:
    assert parse_backends("restore-nft, restore-legacy,restore-nft") == (
        "restore-nft",
        "restore-legacy",
    )
    with pytest.raises(ValueError, match="unknown iptables-restore"):
        parse_backends("restore-legacy,iptables-restore")


def test_service_sizes() -> None:
    assert service_sizes(None, 20000) == DEFAULT_SERVICES
    assert service_sizes(None, 5000) == (100, 1000, 5000)
    assert service_sizes(None, 50000) == (*DEFAULT_SERVICES, 50000)
    assert service_sizes(None, 50) == (50,)
    assert service_sizes((1000, 30000), 20000) == (1000,)
    with pytest.raises(ValueError):
        service_sizes(None, 0)


def test_build_cases_orders_cheapest_first_and_says_why_cases_are_left_out() -> None:
    cases, skipped = build_cases(
        (100, 1000, 10000),
        (1, 100),
        ("restore-legacy", "restore-nft", "python-iptables"),
        Limits(nft_max_services=1000, iptc_max_services=1000, max_endpoints_total=200_000),
    )
    costs = [c.size * COST_WEIGHT[c.backend] for c in cases]
    assert costs == sorted(costs)
    assert Case(100, 1, "restore-legacy") == cases[0]
    # python-iptables is slower per rule than restore-legacy: the same size runs later.
    assert cases.index(Case(1000, 1, "restore-legacy")) < cases.index(
        Case(1000, 1, "python-iptables")
    )
    reasons = {c: r for c, r in skipped}
    assert "--nft-max-services 1,000" in reasons[Case(10000, 1, "restore-nft")]
    assert "--iptc-max-services" in reasons[Case(10000, 1, "python-iptables")]
    assert "--max-endpoints-total" in reasons[Case(10000, 100, "restore-legacy")]
    assert not set(cases) & set(reasons)
    assert len(cases) + len(skipped) == 3 * 2 * 3


def test_planner_scales_from_smaller_cases() -> None:
    p = Planner()
    small = Case(1000, 10, "restore-legacy")
    assert p.predict(small) is None
    assert p.skip_reason(small, remaining=1.0) is None  # nothing known: try it
    p.record(small, 12.0, timed_out=False)
    big = Case(10000, 10, "restore-legacy")
    predicted = p.predict(big)
    # The fixed part (4 s) stays; the rest grows at least linearly.
    assert predicted is not None and predicted > 4.0 + 8.0 * 10
    assert p.skip_reason(big, remaining=predicted * 2) is None
    reason = p.skip_reason(big, remaining=predicted / 2)
    assert reason is not None and "predicted" in reason
    # Another backend has its own history.
    assert p.predict(Case(10000, 10, "restore-nft")) is None


def test_planner_learns_the_growth_exponent() -> None:
    p = Planner()
    # Above the fixed 4 s per case: 4 s, then 16 s at twice the size (quadratic).
    p.record(Case(1000, 10, "restore-nft"), 8.0, timed_out=False)
    p.record(Case(2000, 10, "restore-nft"), 20.0, timed_out=False)
    predicted = p.predict(Case(4000, 10, "restore-nft"))
    assert predicted == pytest.approx(4.0 + 64.0)


def test_planner_does_not_scale_the_fixed_cost() -> None:
    p = Planner()
    p.record(Case(100, 10, "restore-legacy"), 5.0, timed_out=False)  # mostly fixed cost
    predicted = p.predict(Case(1000, 10, "restore-legacy"))
    assert predicted is not None and 4.0 + 1.0 * 10 < predicted < 30.0


def test_planner_skips_cases_bigger_than_one_that_timed_out() -> None:
    p = Planner()
    p.record(Case(5000, 10, "restore-nft"), 300.0, timed_out=True)
    reason = p.skip_reason(Case(10000, 10, "restore-nft"), remaining=1e9)
    assert reason is not None and "timed out" in reason
    assert p.skip_reason(Case(1000, 10, "restore-nft"), remaining=1e9) is None
    assert p.skip_reason(Case(10000, 10, "restore-legacy"), remaining=1e9) is None
