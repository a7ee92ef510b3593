"""ClusterIP and NodePort allocators: in-memory bitmaps over a range, rebuilt from stored Services.

Both follow upstream's "random with offset" strategy: the range is split into a small lower band
and the rest; dynamic allocation picks at random from the upper band first, so that the lower
band stays free for people who ask for a specific address or port (`allocate_specific`), and only
falls back to the lower band when the upper one is full. Nothing materialises the whole range: a
/12 is a million addresses, so the state is a set of used offsets plus random probing, with a
linear sweep from a random start once probing keeps hitting used entries (a nearly full range).

Not thread-safe: the API server calls these from its single event loop.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable

__all__ = ["AllocationError", "ClusterIPAllocator", "PortAllocator"]

# Random probes before sweeping: with a range at most 7/8 full, 32 misses in a row is ~1 in 70k.
_PROBES = 32

REASON_FULL = "range is full"
REASON_IP_ALLOCATED = "provided IP is already allocated"
REASON_PORT_ALLOCATED = "provided port is already allocated"


class AllocationError(Exception):
    """An allocation that cannot be made. `reason` is the text for a 422 Cause's detail;
    `code` is one of "RangeFull", "AlreadyAllocated", "NotInRange", "InvalidValue"."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class _OffsetSet:
    """Used offsets in [0, size), with upstream's lower/upper band split for dynamic picks."""

    def __init__(self, size: int, reserved_lower: int, rng: random.Random) -> None:
        self.size = size
        self._reserved = min(reserved_lower, size)
        self._used: set[int] = set()
        self._rng = rng

    def __len__(self) -> int:
        return len(self._used)

    def __contains__(self, offset: int) -> bool:
        return offset in self._used

    def add(self, offset: int) -> None:
        self._used.add(offset)

    def discard(self, offset: int) -> None:
        self._used.discard(offset)

    def clear(self) -> None:
        self._used.clear()

    def pick(self, first: int) -> int | None:
        """A free offset >= `first` (upper band first), or None when there is none."""
        lower_end = max(first, min(self._reserved, self.size))
        for lo, hi in ((lower_end, self.size), (first, lower_end)):
            found = self._pick_in(lo, hi)
            if found is not None:
                return found
        return None

    def _pick_in(self, lo: int, hi: int) -> int | None:
        span = hi - lo
        if span <= 0:
            return None
        for _ in range(min(_PROBES, span)):
            candidate = lo + self._rng.randrange(span)
            if candidate not in self._used:
                return candidate
        # Nearly full: sweep once from a random start so that every free offset can be found.
        start = self._rng.randrange(span)
        for step in range(span):
            candidate = lo + (start + step) % span
            if candidate not in self._used:
                return candidate
        return None


def _lower_band(size: int, divisor: int, cap: int) -> int:
    # Upstream's offset: min(max(16, size / divisor), cap), never more than the range itself.
    return min(max(16, size // divisor), cap, size)


class ClusterIPAllocator:
    """Service ClusterIPs from a CIDR such as "10.96.0.0/12" (IPv4 or IPv6).

    The network address (and for IPv4 the broadcast address) is never used. The first usable
    address (.1) is never handed out by `allocate`: it belongs to the `kubernetes` Service, which
    takes it with `allocate_specific`, as upstream.
    """

    def __init__(self, cidr: str, *, rng: random.Random | None = None) -> None:
        try:
            self.network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as e:
            raise ValueError(f"invalid service CIDR {cidr!r}: {e}") from None
        self.cidr = str(self.network)
        total = self.network.num_addresses
        # Offsets count from the network address + 1; IPv4 also loses its broadcast address.
        size = total - 2 if self.network.version == 4 else total - 1
        if size < 2:
            raise ValueError(f"service CIDR {self.cidr} is too small: it needs 2 usable addresses")
        self._base = int(self.network.network_address) + 1
        self._offsets = _OffsetSet(size, _lower_band(size, 16, 256), rng or random.Random())

    @property
    def size(self) -> int:
        """How many addresses this range can hold (including the reserved first one)."""
        return self._offsets.size

    @property
    def used(self) -> int:
        return len(self._offsets)

    @property
    def free(self) -> int:
        return self.size - self.used

    def contains(self, ip: str) -> bool:
        """Whether `ip` is an assignable address of this range (allocated or not)."""
        return self._offset_of(ip) is not None

    def is_allocated(self, ip: str) -> bool:
        offset = self._offset_of(ip)
        return offset is not None and offset in self._offsets

    def allocate(self) -> str:
        offset = self._offsets.pick(first=1)  # offset 0 is .1, kept for the kubernetes Service
        if offset is None:
            raise AllocationError(REASON_FULL, "RangeFull")
        self._offsets.add(offset)
        return self._ip_at(offset)

    def allocate_specific(self, ip: str) -> None:
        offset = self._parse_offset(ip)
        if offset is None:
            raise AllocationError(
                "provided IP is not in the valid range. The range of valid IPs is " + self.cidr,
                "NotInRange",
            )
        if offset in self._offsets:
            raise AllocationError(REASON_IP_ALLOCATED, "AlreadyAllocated")
        self._offsets.add(offset)

    def release(self, ip: str) -> None:
        """Free `ip`. Releasing a free or out-of-range address is a no-op (a rollback may
        release twice, and a Service may hold an address from a previous range)."""
        offset = self._parse_offset(ip)
        if offset is not None:
            self._offsets.discard(offset)

    def restore(self, ips: Iterable[str]) -> list[str]:
        """Rebuild the state from stored Services' clusterIPs. "" and "None" (headless) are
        skipped silently; the returned list holds entries that could not be taken (invalid,
        out of range or duplicated) so that the caller can report them."""
        self._offsets.clear()
        rejected: list[str] = []
        for ip in ips:
            if ip in ("", "None"):
                continue
            offset = self._offset_of(ip)
            if offset is None or offset in self._offsets:
                rejected.append(ip)
                continue
            self._offsets.add(offset)
        return rejected

    def _parse_offset(self, ip: str) -> int | None:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise AllocationError(f"{ip!r} is not a valid IP address", "InvalidValue") from None
        return self._offset_of(ip)

    def _offset_of(self, ip: str) -> int | None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if addr.version != self.network.version or addr not in self.network:
            return None
        offset = int(addr) - self._base
        return offset if 0 <= offset < self.size else None

    def _ip_at(self, offset: int) -> str:
        return str(ipaddress.ip_address(self._base + offset))


def _parse_port_range(text: str) -> tuple[int, int]:
    """ "30000-32767", "30000+2767" (base plus size) or a single port, as upstream's flag."""
    spec = text.strip()
    try:
        if "-" in spec:
            low_text, high_text = spec.split("-", 1)
            low, high = int(low_text), int(high_text)
        elif "+" in spec:
            low_text, extra_text = spec.split("+", 1)
            low = int(low_text)
            high = low + int(extra_text)
        else:
            low = high = int(spec)
    except ValueError:
        raise ValueError(f"invalid port range {text!r}: expected e.g. 30000-32767") from None
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"invalid port range {text!r}: ports must be 1-65535 and low <= high")
    return low, high


class PortAllocator:
    """NodePorts from a range such as "30000-32767"."""

    def __init__(self, port_range: str, *, rng: random.Random | None = None) -> None:
        self.low, self.high = _parse_port_range(port_range)
        self.range = f"{self.low}-{self.high}"
        size = self.high - self.low + 1
        self._offsets = _OffsetSet(size, _lower_band(size, 32, 128), rng or random.Random())

    @property
    def size(self) -> int:
        return self._offsets.size

    @property
    def used(self) -> int:
        return len(self._offsets)

    @property
    def free(self) -> int:
        return self.size - self.used

    def contains(self, port: int) -> bool:
        return self.low <= port <= self.high

    def is_allocated(self, port: int) -> bool:
        return self.contains(port) and (port - self.low) in self._offsets

    def allocate(self) -> int:
        offset = self._offsets.pick(first=0)
        if offset is None:
            raise AllocationError(REASON_FULL, "RangeFull")
        self._offsets.add(offset)
        return self.low + offset

    def allocate_specific(self, port: int) -> None:
        if not self.contains(port):
            raise AllocationError(
                "provided port is not in the valid range. The range of valid ports is "
                + self.range,
                "NotInRange",
            )
        if (port - self.low) in self._offsets:
            raise AllocationError(REASON_PORT_ALLOCATED, "AlreadyAllocated")
        self._offsets.add(port - self.low)

    def release(self, port: int) -> None:
        """Free `port`; a free or out-of-range port is a no-op, as for ClusterIPs."""
        if self.contains(port):
            self._offsets.discard(port - self.low)

    def restore(self, ports: Iterable[int]) -> list[int]:
        """Rebuild from stored Services' nodePorts; returns the out-of-range or duplicated ones."""
        self._offsets.clear()
        rejected: list[int] = []
        for port in ports:
            if not self.contains(port) or (port - self.low) in self._offsets:
                rejected.append(port)
                continue
            self._offsets.add(port - self.low)
        return rejected
