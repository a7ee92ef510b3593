"""Allocation policy over the strict in-memory store."""

from __future__ import annotations

import re
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knet.ipam.allocator import (
    AddressInUse,
    DuplicateAllocation,
    IPAllocator,
    IPAMError,
    RangeExhausted,
)
from knet.ipam.ranges import Range
from knet.ipam.store import MemoryStore, Owner

A = IPv4Address


def owner(i: int | str) -> Owner:
    return Owner(f"pod-{i}", "eth0")


def make(subnet: str = "10.0.0.0/29") -> tuple[IPAllocator, MemoryStore]:
    store = MemoryStore()
    return IPAllocator(Range.from_subnet(subnet), store), store


def test_allocates_in_order_with_prefix_and_gateway() -> None:
    alloc, _ = make("10.244.1.0/24")
    first = alloc.allocate(owner(1))
    assert (first.ip, first.prefixlen, first.gateway) == (A("10.244.1.2"), 24, A("10.244.1.1"))
    assert str(first.interface) == "10.244.1.2/24"
    assert alloc.allocate(owner(2)).ip == A("10.244.1.3")


def test_round_robin_does_not_reuse_a_just_released_address() -> None:
    alloc, _ = make()
    ips = [alloc.allocate(owner(i)).ip for i in range(3)]  # .2 .3 .4
    assert alloc.release(owner(0)) == [ips[0]]
    assert alloc.allocate(owner(9)).ip == A("10.0.0.5")  # continues after .4, not back to .2


def test_exhaustion_then_release_frees_exactly_that_address() -> None:
    alloc, _ = make()  # 5 addresses
    got = [alloc.allocate(owner(i)).ip for i in range(5)]
    assert len(set(got)) == 5
    with pytest.raises(RangeExhausted, match=r"no free address in 10\.0\.0\.2-10\.0\.0\.6"):
        alloc.allocate(owner("late"))
    alloc.release(owner(2))
    assert alloc.allocate(owner("late")).ip == got[2]


def test_one_address_per_owner() -> None:
    alloc, _ = make()
    ip = alloc.allocate(owner(1)).ip
    with pytest.raises(DuplicateAllocation, match=re.escape(f"already holds {ip}")):
        alloc.allocate(owner(1))
    # Same pod, another interface, is another owner.
    assert alloc.allocate(Owner("pod-1", "eth1")).ip != ip


def test_requested_address() -> None:
    alloc, _ = make()
    assert alloc.allocate(owner(1), requested=A("10.0.0.5")).ip == A("10.0.0.5")
    with pytest.raises(AddressInUse, match=r"10\.0\.0\.5 is already allocated"):
        alloc.allocate(owner(2), requested=A("10.0.0.5"))
    with pytest.raises(IPAMError, match="not allocatable"):
        alloc.allocate(owner(3), requested=A("10.0.0.1"))  # the gateway
    with pytest.raises(IPAMError, match="not allocatable"):
        alloc.allocate(owner(3), requested=A("10.9.9.9"))


def test_release_of_unknown_owner_succeeds_and_frees_nothing() -> None:
    alloc, store = make()
    alloc.allocate(owner(1))
    assert alloc.release(owner("nobody")) == []
    assert len(store.allocations()) == 1


def test_get_returns_the_owners_allocation() -> None:
    alloc, _ = make()
    got = alloc.allocate(owner(1))
    assert alloc.get(owner(1)) == got
    assert alloc.get(owner(2)) is None


def test_gc_frees_dead_owners_and_unreadable_records() -> None:
    alloc, store = make()
    for i in range(3):
        alloc.allocate(owner(i))
    store.put_unreadable(A("10.0.0.6"))
    freed = alloc.gc({"pod-1"})
    assert freed == [A("10.0.0.2"), A("10.0.0.4"), A("10.0.0.6")]
    assert store.allocations() == {A("10.0.0.3"): owner(1)}


def test_gc_with_no_live_owners_frees_everything() -> None:
    alloc, store = make()
    for i in range(3):
        alloc.allocate(owner(i))
    assert len(alloc.gc([])) == 3
    assert store.allocations() == {}


def test_memory_store_rejects_unlocked_mutation() -> None:
    store = MemoryStore()
    with pytest.raises(RuntimeError, match="without holding the store lock"):
        store.reserve(owner(1), A("10.0.0.2"), "0")
    with store.lock():
        assert store.reserve(owner(1), A("10.0.0.2"), "0")
    with pytest.raises(RuntimeError, match="without holding the store lock"):
        store.release(A("10.0.0.2"))


@pytest.mark.parametrize("bad", ["", " pod", "pod\n1", "a\r\nb"])
def test_owner_rejects_ids_that_would_corrupt_records(bad: str) -> None:
    with pytest.raises(ValueError, match="owner id"):
        Owner(bad, "eth0")


ops = st.lists(
    st.tuples(st.sampled_from(["alloc", "release"]), st.integers(min_value=0, max_value=7)),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_never_two_owners_for_one_address(sequence: list[tuple[str, int]]) -> None:
    """Against a model: allocations succeed iff the owner holds nothing and space is left."""
    alloc, store = make()  # 5 addresses, 8 possible owners
    held: dict[int, IPv4Address] = {}
    for op, who in sequence:
        if op == "alloc":
            if who in held:
                with pytest.raises(DuplicateAllocation):
                    alloc.allocate(owner(who))
            elif len(held) == 5:
                with pytest.raises(RangeExhausted):
                    alloc.allocate(owner(who))
            else:
                ip = alloc.allocate(owner(who)).ip
                assert ip not in held.values()
                held[who] = ip
        else:
            assert alloc.release(owner(who)) == ([held.pop(who)] if who in held else [])
        assert store.allocations() == {ip: owner(w) for w, ip in held.items()}
