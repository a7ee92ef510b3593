"""kube-proxy's metrics, under kube-proxy's names (subsystem ``kubeproxy``), via prometheus_client.

Each ProxyMetrics owns its registry (no process-wide singletons), so tests and several proxiers
in one process do not share counters.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Upstream: ExponentialBuckets(0.001, 2, 15), i.e. 1 ms ... ~16.4 s.
SYNC_BUCKETS = tuple(0.001 * 2**i for i in range(15))
# Upstream: 0.25 s, 0.5 s; 1 ... 59 s by 1 s; 60 ... 115 s by 5 s; 2 ... 5 min by 30 s.
PROGRAMMING_BUCKETS: tuple[float, ...] = (
    0.25,
    0.5,
    *map(float, range(1, 60)),
    *map(float, range(60, 120, 5)),
    *map(float, range(120, 301, 30)),
)
TABLES = ("filter", "nat")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ProxyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        p = "kubeproxy_"
        self.sync_duration = Histogram(
            p + "sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
            buckets=SYNC_BUCKETS,
            registry=r,
        )
        self.sync_full_duration = Histogram(
            p + "sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs",
            buckets=SYNC_BUCKETS,
            registry=r,
        )
        self.sync_partial_duration = Histogram(
            p + "sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial resyncs",
            buckets=SYNC_BUCKETS,
            registry=r,
        )
        self.network_programming_duration = Histogram(
            p + "network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds",
            buckets=PROGRAMMING_BUCKETS,
            registry=r,
        )
        self.last_timestamp = Gauge(
            p + "sync_proxy_rules_last_timestamp_seconds",
            "The last time proxy rules were successfully synced",
            registry=r,
        )
        self.last_queued_timestamp = Gauge(
            p + "sync_proxy_rules_last_queued_timestamp_seconds",
            "The last time a sync of proxy rules was queued",
            registry=r,
        )
        self.endpoint_changes_pending = Gauge(
            p + "sync_proxy_rules_endpoint_changes_pending",
            "Pending proxy rules Endpoint changes",
            registry=r,
        )
        self.endpoint_changes_total = Counter(
            p + "sync_proxy_rules_endpoint_changes_total",
            "Cumulative proxy rules Endpoint changes",
            registry=r,
        )
        self.service_changes_pending = Gauge(
            p + "sync_proxy_rules_service_changes_pending",
            "Pending proxy rules Service changes",
            registry=r,
        )
        self.service_changes_total = Counter(
            p + "sync_proxy_rules_service_changes_total",
            "Cumulative proxy rules Service changes",
            registry=r,
        )
        self.iptables_total = Gauge(
            p + "sync_proxy_rules_iptables_total",
            "Total number of iptables rules owned by kube-proxy",
            ["table"],
            registry=r,
        )
        self.iptables_last = Gauge(
            p + "sync_proxy_rules_iptables_last",
            "Number of iptables rules written by kube-proxy in last sync",
            ["table"],
            registry=r,
        )
        self.restore_failures = Counter(
            p + "sync_proxy_rules_iptables_restore_failures_total",
            "Cumulative proxy iptables restore failures",
            registry=r,
        )
        self.partial_restore_failures = Counter(
            p + "sync_proxy_rules_iptables_partial_restore_failures_total",
            "Cumulative proxy iptables partial restore failures",
            registry=r,
        )
        self.healthz_total = Counter(
            p + "proxy_healthz_total",
            "Cumulative proxy healthz HTTP status",
            ["code"],
            registry=r,
        )
        self.livez_total = Counter(
            p + "proxy_livez_total",
            "Cumulative proxy livez HTTP status",
            ["code"],
            registry=r,
        )

    def observe_sync(self, seconds: float, *, full: bool) -> None:
        self.sync_duration.observe(seconds)
        (self.sync_full_duration if full else self.sync_partial_duration).observe(seconds)

    def observe_network_programming(self, trigger_times: Iterable[float], now: float) -> None:
        """One observation of ``now - t`` per applied change triggered at ``t`` (epoch seconds).

        A trigger stamped in the future (the controller's clock ahead of this node's) counts
        as 0 rather than as a negative latency that would pull the histogram's sum down.
        """
        for moment in trigger_times:
            self.network_programming_duration.observe(max(0.0, now - moment))

    def set_rule_counts(self, total: dict[str, int], last: dict[str, int]) -> None:
        for table in TABLES:
            self.iptables_total.labels(table=table).set(total.get(table, 0))
            self.iptables_last.labels(table=table).set(last.get(table, 0))

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """A sample's current value by its exported name (tests and tools)."""
        return self.registry.get_sample_value(name, labels or {})

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
