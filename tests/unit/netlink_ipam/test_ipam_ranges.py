"""IPv4 ranges (host-local defaults) and the round-robin order."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from knet.ipam.ranges import Range, round_robin

A = IPv4Address


def test_defaults_follow_host_local() -> None:
    r = Range.from_subnet("10.244.1.0/24")
    assert r.subnet == IPv4Network("10.244.1.0/24")
    assert r.gateway == A("10.244.1.1")
    assert (r.start, r.end) == (A("10.244.1.2"), A("10.244.1.254"))
    assert r.size() == 253
    assert r.prefixlen == 24
    assert not r.contains(A("10.244.1.1"))
    assert not r.contains(A("10.244.1.255"))
    assert r.contains(A("10.244.1.254"))


def test_smallest_subnet() -> None:
    r = Range.from_subnet("10.0.0.0/30")
    assert list(round_robin(r, None)) == [A("10.0.0.2")]


@pytest.mark.parametrize(
    ("subnet", "message"),
    [
        ("10.244.1.5/24", "host bits"),
        ("fd00::/64", "IPv6"),
        ("10.0.0.0/31", "too small"),
        ("banana", "invalid subnet"),
    ],
)
def test_bad_subnets_say_why(subnet: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Range.from_subnet(subnet)


def test_explicit_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="after range end"):
        Range.from_subnet("10.0.0.0/24", start="10.0.0.9", end="10.0.0.3")
    with pytest.raises(ValueError, match="not a usable host address"):
        Range.from_subnet("10.0.0.0/24", gateway="10.0.1.1")
    with pytest.raises(ValueError, match="not a usable host address"):
        Range.from_subnet("10.0.0.0/24", end="10.0.0.255")
    with pytest.raises(ValueError, match="only the gateway"):
        Range.from_subnet("10.0.0.0/24", start="10.0.0.1", end="10.0.0.1")


def test_round_robin_from_nothing_starts_at_start() -> None:
    r = Range.from_subnet("10.0.0.0/29")  # .2 .. .6
    assert list(round_robin(r, None)) == [A(f"10.0.0.{i}") for i in (2, 3, 4, 5, 6)]


def test_round_robin_continues_after_last_and_wraps() -> None:
    r = Range.from_subnet("10.0.0.0/29")
    assert list(round_robin(r, A("10.0.0.4"))) == [A(f"10.0.0.{i}") for i in (5, 6, 2, 3, 4)]
    assert list(round_robin(r, A("10.0.0.6"))) == [A(f"10.0.0.{i}") for i in (2, 3, 4, 5, 6)]


def test_round_robin_ignores_a_last_reserved_outside_the_range() -> None:
    r = Range.from_subnet("10.0.0.0/29")
    assert next(round_robin(r, A("192.168.0.1"))) == A("10.0.0.2")


def test_round_robin_skips_a_gateway_inside_the_range() -> None:
    r = Range.from_subnet("10.0.0.0/29", start="10.0.0.1", gateway="10.0.0.3")
    order = list(round_robin(r, None))
    assert A("10.0.0.3") not in order
    assert order == [A(f"10.0.0.{i}") for i in (1, 2, 4, 5, 6)]
    assert r.size() == len(order)
