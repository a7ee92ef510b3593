"""An IPv4 allocation range and the order in which its addresses are tried (pure)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_network


@dataclass(frozen=True)
class Range:
    """Addresses ``start``..``end`` (inclusive) of ``subnet``, with ``gateway`` kept out.

    Defaults follow host-local: gateway = first host address (.1), start = .2, end = the last
    address before broadcast.
    """

    subnet: IPv4Network
    start: IPv4Address
    end: IPv4Address
    gateway: IPv4Address

    @classmethod
    def from_subnet(
        cls,
        subnet: str | IPv4Network,
        *,
        start: str | IPv4Address | None = None,
        end: str | IPv4Address | None = None,
        gateway: str | IPv4Address | None = None,
    ) -> Range:
        net = parse_subnet(subnet)
        first, last = net.network_address + 1, net.broadcast_address - 1
        gw = IPv4Address(gateway) if gateway is not None else first
        lo = IPv4Address(start) if start is not None else first + 1
        hi = IPv4Address(end) if end is not None else last
        for what, ip in (("gateway", gw), ("range start", lo), ("range end", hi)):
            if not first <= ip <= last:
                raise ValueError(f"{what} {ip} is not a usable host address of {net}")
        if lo > hi:
            raise ValueError(f"range start {lo} is after range end {hi}")
        rng = cls(net, lo, hi, gw)
        if rng.size() == 0:
            raise ValueError(f"range {lo}-{hi} holds only the gateway {gw}")
        return rng

    @property
    def prefixlen(self) -> int:
        return self.subnet.prefixlen

    def contains(self, ip: IPv4Address) -> bool:
        """True if ``ip`` may be handed out from this range."""
        return self.start <= ip <= self.end and ip != self.gateway

    def size(self) -> int:
        n = int(self.end) - int(self.start) + 1
        return n - 1 if self.start <= self.gateway <= self.end else n


def parse_subnet(subnet: str | IPv4Network) -> IPv4Network:
    """Parse an IPv4 CIDR with a readable error (host bits set, IPv6, too small)."""
    try:
        net = ip_network(subnet, strict=True)
    except ValueError as exc:
        raise ValueError(f"invalid subnet {subnet!r}: {exc}") from None
    if not isinstance(net, IPv4Network):
        raise ValueError(f"subnet {subnet} is IPv6; only IPv4 is supported")
    if net.prefixlen > 30:
        raise ValueError(
            f"subnet {net} is too small: need room for a gateway and a pod (/30 at most)"
        )
    return net


def round_robin(rng: Range, last_reserved: IPv4Address | None) -> Iterator[IPv4Address]:
    """Every allocatable address once, starting just after ``last_reserved`` and wrapping.

    When ``last_reserved`` is outside the range (or None) the walk starts at ``rng.start``.
    """
    lo, hi = int(rng.start), int(rng.end)
    first = lo
    if last_reserved is not None and lo <= int(last_reserved) <= hi:
        first = int(last_reserved) + 1 if int(last_reserved) < hi else lo
    for offset in range(hi - lo + 1):
        ip = IPv4Address(lo + (first - lo + offset) % (hi - lo + 1))
        if ip != rng.gateway:
            yield ip
