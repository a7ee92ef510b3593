"""The IPAM store contract, and an in-memory store for tests and for policy code.

A store records which owner (pod id + interface) holds which IP and the last address reserved
per range. It does not choose addresses: that is the allocator's policy. Mutating calls must be
made while holding ``lock()``; the in-memory store enforces that, so tests catch a policy that
forgets to lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Protocol


@dataclass(frozen=True)
class Owner:
    """Who holds an address: the container/pod id and its interface name (CNI's pair)."""

    id: str
    ifname: str

    def __post_init__(self) -> None:
        for what, value in (("owner id", self.id), ("interface name", self.ifname)):
            if not value or value != value.strip() or "\r" in value or "\n" in value:
                raise ValueError(
                    f"{what} {value!r} must be non-empty, without newlines or "
                    "surrounding whitespace"
                )


class IPAMStore(Protocol):
    def lock(self) -> AbstractContextManager[None]:
        """Exclusive access to the store (across threads and processes for a disk store)."""
        ...

    def reserve(self, owner: Owner, ip: IPv4Address, range_id: str) -> bool:
        """Record ``ip`` for ``owner`` unless taken; on success it becomes last_reserved."""
        ...

    def last_reserved(self, range_id: str) -> IPv4Address | None: ...

    def release(self, ip: IPv4Address) -> bool:
        """Free ``ip`` whoever holds it; True if it was reserved."""
        ...

    def release_by_owner(self, owner: Owner) -> list[IPv4Address]: ...

    def get_by_owner(self, owner: Owner) -> list[IPv4Address]: ...

    def allocations(self) -> dict[IPv4Address, Owner | None]:
        """Every reserved IP; owner None when the record is unreadable (e.g. torn by a crash)."""
        ...


class MemoryStore:
    """IPAMStore in memory. Strict: mutations outside ``lock()`` raise RuntimeError."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._holder: int | None = None
        self._ips: dict[IPv4Address, Owner | None] = {}
        self._last: dict[str, IPv4Address] = {}

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._mutex:
            self._holder = threading.get_ident()
            try:
                yield
            finally:
                self._holder = None

    def lock(self) -> AbstractContextManager[None]:
        return self._locked()

    def _check_locked(self, op: str) -> None:
        if self._holder != threading.get_ident():
            raise RuntimeError(f"IPAM store {op} called without holding the store lock")

    def reserve(self, owner: Owner, ip: IPv4Address, range_id: str) -> bool:
        self._check_locked("reserve")
        if ip in self._ips:
            return False
        self._ips[ip] = owner
        self._last[range_id] = ip
        return True

    def last_reserved(self, range_id: str) -> IPv4Address | None:
        return self._last.get(range_id)

    def release(self, ip: IPv4Address) -> bool:
        self._check_locked("release")
        if ip not in self._ips:
            return False
        del self._ips[ip]
        return True

    def release_by_owner(self, owner: Owner) -> list[IPv4Address]:
        self._check_locked("release_by_owner")
        mine = self.get_by_owner(owner)
        for ip in mine:
            del self._ips[ip]
        return mine

    def get_by_owner(self, owner: Owner) -> list[IPv4Address]:
        return sorted(ip for ip, o in self._ips.items() if o == owner)

    def allocations(self) -> dict[IPv4Address, Owner | None]:
        return dict(self._ips)

    def put_unreadable(self, ip: IPv4Address) -> None:
        """Test hook: a record whose owner cannot be read (as a crash mid-write leaves)."""
        self._ips[ip] = None
