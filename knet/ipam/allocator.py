"""Allocation policy over any IPAMStore: round-robin allocate, release by owner, gc."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface

from knet.ipam.ranges import Range, round_robin
from knet.ipam.store import IPAMStore, Owner


class IPAMError(Exception):
    """An allocation could not be made; the message says why."""


class RangeExhausted(IPAMError):
    pass


class AddressInUse(IPAMError):
    pass


class DuplicateAllocation(IPAMError):
    pass


@dataclass(frozen=True)
class Allocation:
    ip: IPv4Address
    prefixlen: int
    gateway: IPv4Address

    @property
    def interface(self) -> IPv4Interface:
        """The address with its prefix, e.g. 10.244.1.7/24."""
        return IPv4Interface(f"{self.ip}/{self.prefixlen}")


class IPAllocator:
    """Hands out addresses of one range; never the same address to two owners."""

    def __init__(self, rng: Range, store: IPAMStore, range_id: str = "0") -> None:
        self.range = rng
        self.store = store
        self.range_id = range_id

    def _allocation(self, ip: IPv4Address) -> Allocation:
        return Allocation(ip, self.range.prefixlen, self.range.gateway)

    def allocate(self, owner: Owner, requested: IPv4Address | None = None) -> Allocation:
        """Reserve an address for ``owner``: ``requested`` if given, else the next free one
        after the last reserved (round-robin). An owner holds at most one address per range."""
        with self.store.lock():
            held = [ip for ip in self.store.get_by_owner(owner) if self.range.contains(ip)]
            if held:
                raise DuplicateAllocation(
                    f"{owner.id}/{owner.ifname} already holds {held[0]} in {self.range.subnet}; "
                    "release it first"
                )
            if requested is not None:
                if not self.range.contains(requested):
                    raise IPAMError(
                        f"requested {requested} is not allocatable in "
                        f"{self.range.start}-{self.range.end} (gateway {self.range.gateway})"
                    )
                if not self.store.reserve(owner, requested, self.range_id):
                    raise AddressInUse(f"requested {requested} is already allocated")
                return self._allocation(requested)
            for ip in round_robin(self.range, self.store.last_reserved(self.range_id)):
                if self.store.reserve(owner, ip, self.range_id):
                    return self._allocation(ip)
        raise RangeExhausted(
            f"no free address in {self.range.start}-{self.range.end} of {self.range.subnet}"
        )

    def get(self, owner: Owner) -> Allocation | None:
        """The owner's current allocation in this range, if any."""
        for ip in self.store.get_by_owner(owner):
            if self.range.contains(ip):
                return self._allocation(ip)
        return None

    def release(self, owner: Owner) -> list[IPv4Address]:
        """Free what ``owner`` holds; succeeds (returns []) when it holds nothing."""
        with self.store.lock():
            return self.store.release_by_owner(owner)

    def gc(self, live_owner_ids: Iterable[str]) -> list[IPv4Address]:
        """Free every record whose owner id is not live (an empty set frees everything)."""
        live = set(live_owner_ids)
        freed = []
        with self.store.lock():
            for ip, owner in sorted(self.store.allocations().items()):
                if (owner is None or owner.id not in live) and self.store.release(ip):
                    freed.append(ip)
        return freed
