"""Prometheus metrics under CoreDNS's names and labels, so dashboards made for CoreDNS work.

`server` is the listener as CoreDNS spells it (`dns://127.0.0.1:53`); `zone` is the server
block's zone, `.` as in the default Corefile; `view` is empty (no views). Counting is plain dict
arithmetic on the query path; the Prometheus families are made only when scraped (a
prometheus_client Counter/Histogram child costs a lock and more per query than the query).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import dns.rcode
import dns.rdatatype
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

ZONE = "."
# Query types CoreDNS reports by name; the rest are "other".
KNOWN_TYPES = frozenset(
    [
        "A", "AAAA", "CNAME", "HINFO", "MX", "NS", "PTR", "SOA", "SRV", "TXT", "NAPTR", "DS",
        "DNSKEY", "RRSIG", "NSEC", "NSEC3", "HTTPS", "IXFR", "AXFR", "ANY",
    ]
)  # fmt: skip
BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256,
           0.512, 1.024, 2.048, 4.096, 8.192)  # fmt: skip
OTHER = -1  # the qtype given for packets without a readable question


def type_label(rdtype: int) -> str:
    if rdtype == OTHER:
        return "other"
    try:
        text = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
    except ValueError:
        return "other"
    return text if text in KNOWN_TYPES else "other"


def rcode_label(rcode: int) -> str:
    try:
        return dns.rcode.to_text(dns.rcode.Rcode.make(rcode))
    except ValueError:
        return str(rcode)


class DnsMetrics:
    def __init__(self, server: str, registry: CollectorRegistry | None = None) -> None:
        self.server = server
        self.registry = registry or CollectorRegistry()
        self._requests: dict[tuple[str, str, int], int] = {}  # (proto, family, qtype)
        self._responses: dict[tuple[int, str], int] = {}  # (rcode, plugin)
        self._buckets: dict[int, list[int]] = {}  # qtype → count per bucket (+Inf last)
        self._sums: dict[int, float] = {}
        self._cache_hits = {"success": 0, "denial": 0}
        self.registry.register(self)

    def observe(
        self, proto: str, family: str, qtype: int, rcode: int, plugin: str, seconds: float
    ) -> None:
        key = (proto, family, qtype)
        self._requests[key] = self._requests.get(key, 0) + 1
        rkey = (rcode, plugin)
        self._responses[rkey] = self._responses.get(rkey, 0) + 1
        buckets = self._buckets.get(qtype)
        if buckets is None:
            buckets = self._buckets[qtype] = [0] * (len(BUCKETS) + 1)
            self._sums[qtype] = 0.0
        buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._sums[qtype] += seconds

    def cache_hit(self, denial: bool) -> None:
        self._cache_hits["denial" if denial else "success"] += 1

    def collect(self) -> Iterator[Metric]:
        s = self.server
        requests = CounterMetricFamily(
            "coredns_dns_requests_total",
            "Counter of DNS requests made per zone, protocol and family.",
            labels=["server", "zone", "view", "proto", "family", "type"],
        )
        totals: dict[tuple[str, str, str], int] = {}
        for (proto, family, qtype), n in self._requests.items():
            label = (proto, family, type_label(qtype))
            totals[label] = totals.get(label, 0) + n
        for (proto, family, qtype_text), n in totals.items():
            requests.add_metric([s, ZONE, "", proto, family, qtype_text], n)
        yield requests
        responses = CounterMetricFamily(
            "coredns_dns_responses_total",
            "Counter of response status codes.",
            labels=["server", "zone", "view", "rcode", "plugin"],
        )
        for (rcode, plugin), n in self._responses.items():
            responses.add_metric([s, ZONE, "", rcode_label(rcode), plugin], n)
        yield responses
        yield self._duration_family()
        hits = CounterMetricFamily(
            "coredns_cache_hits_total",
            "The count of cache hits.",
            labels=["server", "type", "zones", "view"],
        )
        for kind, n in self._cache_hits.items():
            hits.add_metric([s, kind, ZONE, ""], n)
        yield hits

    def _duration_family(self) -> Metric:
        family = HistogramMetricFamily(
            "coredns_dns_request_duration_seconds",
            "Histogram of the time (in seconds) each request took.",
            labels=["server", "zone", "view", "type"],
        )
        merged: dict[str, tuple[list[int], float]] = {}
        for qtype, counts in self._buckets.items():
            label = type_label(qtype)
            prev, total = merged.get(label, ([0] * len(counts), 0.0))
            merged[label] = (
                [a + b for a, b in zip(prev, counts, strict=True)],
                total + self._sums[qtype],
            )
        for label, (counts, total) in merged.items():
            cumulative, running = [], 0
            for bound, n in zip((*map(str, BUCKETS), "+Inf"), counts, strict=True):
                running += n
                cumulative.append((bound, float(running)))
            family.add_metric([self.server, ZONE, "", label], cumulative, total)
        return family
