"""ClusterIP and NodePort allocators."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knet.apiserver.allocators import AllocationError, ClusterIPAllocator, PortAllocator


def _alloc(cidr: str, seed: int = 1) -> ClusterIPAllocator:
    return ClusterIPAllocator(cidr, rng=random.Random(seed))


def test_many_allocations_are_unique_and_in_range() -> None:
    a = _alloc("10.96.0.0/12")
    net = ipaddress.ip_network("10.96.0.0/12")
    ips = [a.allocate() for _ in range(20_000)]
    assert len(set(ips)) == len(ips)
    assert all(ipaddress.ip_address(ip) in net for ip in ips)
    assert "10.96.0.0" not in ips and "10.96.0.1" not in ips and "10.111.255.255" not in ips
    assert a.used == 20_000
    assert a.free == a.size - 20_000
    assert a.size == 2**20 - 2


def test_dynamic_allocation_prefers_upper_band() -> None:
    # /24: 254 usable, lower band of 16 kept for static requests while the rest is free.
    a = _alloc("10.0.0.0/24")
    ips = [ipaddress.ip_address(a.allocate()) for _ in range(254 - 16)]
    assert all(int(ip) - int(ipaddress.ip_address("10.0.0.0")) > 16 for ip in ips)
    # Upper band exhausted: now the lower band (but never .1) is used.
    rest = {a.allocate() for _ in range(15)}
    assert rest == {f"10.0.0.{i}" for i in range(2, 17)}
    with pytest.raises(AllocationError):
        a.allocate()


def test_tiny_range_exhaustion() -> None:
    a = _alloc("10.0.0.0/29")  # .1 reserved, .2-.6 dynamic, .0 and .7 never
    got = {a.allocate() for _ in range(5)}
    assert got == {f"10.0.0.{i}" for i in range(2, 7)}
    with pytest.raises(AllocationError) as err:
        a.allocate()
    assert err.value.reason == "range is full"
    assert err.value.code == "RangeFull"
    # The reserved first address is still there for the kubernetes Service.
    a.allocate_specific("10.0.0.1")
    assert a.free == 0
    a.release("10.0.0.4")
    assert a.allocate() == "10.0.0.4"


def test_allocate_specific_errors() -> None:
    a = _alloc("10.96.0.0/16")
    a.allocate_specific("10.96.0.10")
    assert a.is_allocated("10.96.0.10")
    with pytest.raises(AllocationError) as err:
        a.allocate_specific("10.96.0.10")
    assert err.value.reason == "provided IP is already allocated"
    for outside in ("10.97.0.1", "10.96.0.0", "10.96.255.255", "fd00::1"):
        with pytest.raises(AllocationError) as err:
            a.allocate_specific(outside)
        assert err.value.reason == (
            "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/16"
        )
        assert err.value.code == "NotInRange"
    with pytest.raises(AllocationError) as err:
        a.allocate_specific("not-an-ip")
    assert err.value.code == "InvalidValue"


def test_release_is_idempotent_and_frees() -> None:
    a = _alloc("10.96.0.0/16")
    ip = a.allocate()
    a.release(ip)
    a.release(ip)
    a.release("192.168.1.1")  # another range: nothing to do
    assert a.used == 0
    a.allocate_specific(ip)
    assert a.is_allocated(ip)


def test_restore_rebuilds_state() -> None:
    a = _alloc("10.0.0.0/29")
    a.allocate()
    rejected = a.restore(["10.0.0.1", "10.0.0.2", "", "None", "10.0.0.2", "10.9.9.9", "junk"])
    assert rejected == ["10.0.0.2", "10.9.9.9", "junk"]
    assert a.used == 2
    assert a.is_allocated("10.0.0.1") and a.is_allocated("10.0.0.2")
    assert {a.allocate() for _ in range(4)} == {"10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}
    with pytest.raises(AllocationError):
        a.allocate()


def test_contains() -> None:
    a = _alloc("10.96.0.0/24")
    assert a.contains("10.96.0.1") and a.contains("10.96.0.254")
    assert not a.contains("10.96.0.0") and not a.contains("10.96.0.255")
    assert not a.contains("10.96.1.1") and not a.contains("nonsense")


def test_ipv6_range() -> None:
    a = _alloc("fd00:10:96::/112")
    ips = {a.allocate() for _ in range(1000)}
    assert len(ips) == 1000
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("fd00:10:96::/112") for ip in ips)
    assert "fd00:10:96::" not in ips and "fd00:10:96::1" not in ips


@pytest.mark.parametrize("cidr", ["10.0.0.1/24", "nonsense", "10.0.0.0/31", "10.0.0.0/32"])
def test_bad_cidrs(cidr: str) -> None:
    with pytest.raises(ValueError, match="CIDR"):
        ClusterIPAllocator(cidr)


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.integers(min_value=26, max_value=30),
    seed=st.integers(min_value=0, max_value=2**32),
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 63)), max_size=120),
)
def test_allocate_never_returns_used_or_out_of_range(
    prefix: int, seed: int, ops: list[tuple[bool, int]]
) -> None:
    net = ipaddress.ip_network(f"10.1.2.0/{prefix}")
    a = ClusterIPAllocator(str(net), rng=random.Random(seed))
    held: set[str] = set()
    for do_alloc, index in ops:
        if do_alloc:
            try:
                ip = a.allocate()
            except AllocationError:
                # Full means every dynamic address (all usable but .1) is held.
                assert len(held - {str(net.network_address + 1)}) == net.num_addresses - 3
                continue
            assert ip not in held
            addr = ipaddress.ip_address(ip)
            assert addr in net
            assert addr not in (net.network_address, net.broadcast_address)
            assert addr != net.network_address + 1
            held.add(ip)
        elif held:
            victim = sorted(held)[index % len(held)]
            a.release(victim)
            held.discard(victim)
        assert a.used == len(held)


# NodePorts ------------------------------------------------------------------------------------


def test_port_allocator_uniqueness_and_exhaustion() -> None:
    p = PortAllocator("30000-30099", rng=random.Random(3))
    ports = [p.allocate() for _ in range(100)]
    assert sorted(ports) == list(range(30000, 30100))
    with pytest.raises(AllocationError) as err:
        p.allocate()
    assert err.value.reason == "range is full"


def test_port_allocator_specific_release_restore() -> None:
    p = PortAllocator("30000-32767", rng=random.Random(4))
    assert p.size == 2768
    p.allocate_specific(30080)
    with pytest.raises(AllocationError) as err:
        p.allocate_specific(30080)
    assert err.value.reason == "provided port is already allocated"
    with pytest.raises(AllocationError) as err:
        p.allocate_specific(8080)
    assert err.value.reason == (
        "provided port is not in the valid range. The range of valid ports is 30000-32767"
    )
    p.release(30080)
    p.release(30080)
    assert p.used == 0
    assert p.restore([30001, 30002, 30002, 80]) == [30002, 80]
    assert p.used == 2 and p.is_allocated(30001) and not p.is_allocated(30080)
    for _ in range(500):
        assert p.allocate() not in (30001, 30002)


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [("30000-32767", 30000, 32767), ("30000+9", 30000, 30009), ("31000", 31000, 31000)],
)
def test_port_range_syntax(spec: str, low: int, high: int) -> None:
    p = PortAllocator(spec)
    assert (p.low, p.high, p.size) == (low, high, high - low + 1)


@pytest.mark.parametrize("spec", ["", "a-b", "40000-30000", "0-10", "60000-70000"])
def test_bad_port_ranges(spec: str) -> None:
    with pytest.raises(ValueError, match="port range"):
        PortAllocator(spec)
