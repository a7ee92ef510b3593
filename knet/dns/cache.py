"""A small answer cache for forwarded queries, as CoreDNS's `cache` plugin in front of `forward`.

Cluster-zone answers are never cached: they come straight from the index, so a change is
answered at once. Entries live for the answer's smallest TTL, capped at `max_ttl` (the kubeadm
Corefile's `cache 30`), and the served copy's TTLs count down.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import dns.message
import dns.rcode

CacheKey = tuple[str, int, int, bool]  # (lower-case name, type, class, DO bit)


@dataclass(frozen=True)
class _Entry:
    wire: bytes
    stored: float
    expires: float
    denial: bool


def cache_key(query: dns.message.Message) -> CacheKey:
    q = query.question[0]
    dnssec_ok = bool(query.ednsflags & 0x8000)
    return (q.name.to_text().lower(), int(q.rdtype), int(q.rdclass), dnssec_ok)


def _min_ttl(resp: dns.message.Message) -> int | None:
    ttls = [rr.ttl for section in (resp.answer, resp.authority) for rr in section]
    return min(ttls) if ttls else None


class AnswerCache:
    def __init__(
        self,
        capacity: int = 10_000,
        max_ttl: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.max_ttl = max_ttl
        self.clock = clock
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: CacheKey, resp: dns.message.Message) -> None:
        """Keep a NOERROR or NXDOMAIN answer that was not truncated."""
        if self.capacity <= 0 or resp.flags & 0x0200:  # TC
            return
        rcode = resp.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return
        ttl = _min_ttl(resp)
        if ttl is None or ttl <= 0:
            return
        now = self.clock()
        denial = rcode == dns.rcode.NXDOMAIN or not resp.answer
        entry = _Entry(resp.to_wire(max_size=65535), now, now + min(ttl, self.max_ttl), denial)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def get(self, key: CacheKey, query_id: int) -> tuple[dns.message.Message, bool] | None:
        """(the answer with the query's id and TTLs aged, True if it is a denial) or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self.clock()
        if now >= entry.expires:
            del self._entries[key]
            return None
        resp = dns.message.from_wire(entry.wire)
        resp.id = query_id
        age = int(now - entry.stored)
        for section in (resp.answer, resp.authority, resp.additional):
            for rrset in section:
                rrset.ttl = max(0, rrset.ttl - age)
        return resp, entry.denial
