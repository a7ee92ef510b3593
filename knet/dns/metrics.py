"""Prometheus metrics under CoreDNS's names and labels, so dashboards made for CoreDNS work.

`server` is the listener as CoreDNS spells it (`dns://127.0.0.1:53`); `zone` is the server
block's zone, `.` as in the default Corefile; `view` is empty (no views). Label children are
kept in dicts: `labels()` is too slow to call on every query.
"""

from __future__ import annotations

import dns.rdatatype
from prometheus_client import CollectorRegistry, Counter, Histogram

ZONE = "."
# Query types CoreDNS reports by name; the rest are "other".
KNOWN_TYPES = frozenset(
    [
        "A",
        "AAAA",
        "CNAME",
        "HINFO",
        "MX",
        "NS",
        "PTR",
        "SOA",
        "SRV",
        "TXT",
        "NAPTR",
        "DS",
        "DNSKEY",
        "RRSIG",
        "NSEC",
        "NSEC3",
        "HTTPS",
        "IXFR",
        "AXFR",
        "ANY",
    ]
)
BUCKETS = (
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.004,
    0.008,
    0.016,
    0.032,
    0.064,
    0.128,
    0.256,
    0.512,
    1.024,
    2.048,
    4.096,
    8.192,
)


def type_label(rdtype: int) -> str:
    try:
        text = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
    except ValueError:
        return "other"
    return text if text in KNOWN_TYPES else "other"


class DnsMetrics:
    def __init__(self, server: str, registry: CollectorRegistry | None = None) -> None:
        self.server = server
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "coredns_dns_requests_total",
            "Counter of DNS requests made per zone, protocol and family.",
            ["server", "zone", "view", "proto", "family", "type"],
            registry=self.registry,
        )
        self.responses = Counter(
            "coredns_dns_responses_total",
            "Counter of response status codes.",
            ["server", "zone", "view", "rcode", "plugin"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "coredns_dns_request_duration_seconds",
            "Histogram of the time (in seconds) each request took.",
            ["server", "zone", "view", "type"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "coredns_cache_hits_total",
            "The count of cache hits.",
            ["server", "type", "zones", "view"],
            registry=self.registry,
        )
        self._counters: dict[tuple[str, ...], Counter] = {}
        self._histograms: dict[tuple[str, ...], Histogram] = {}

    def _count(self, metric: Counter, *labels: str) -> None:
        key = (metric._name, *labels)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = metric.labels(*labels)
        child.inc()

    def _observe(self, metric: Histogram, value: float, *labels: str) -> None:
        child = self._histograms.get(labels)
        if child is None:
            child = self._histograms[labels] = metric.labels(*labels)
        child.observe(value)

    def observe(
        self, proto: str, family: str, qtype: str, rcode: str, plugin: str, seconds: float
    ) -> None:
        s = self.server
        self._count(self.requests, s, ZONE, "", proto, family, qtype)
        self._count(self.responses, s, ZONE, "", rcode, plugin)
        self._observe(self.duration, seconds, s, ZONE, "", qtype)

    def cache_hit(self, denial: bool) -> None:
        kind = "denial" if denial else "success"
        self._count(self.cache_hits, self.server, kind, ZONE, "")
