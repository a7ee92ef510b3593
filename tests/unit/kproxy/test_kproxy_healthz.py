"""Health (kube-proxy's rules and JSON), the HTTP servers, and the metric names."""

from __future__ import annotations

import aiohttp
import pytest

from knet.component import serve_http
from knet.testing.apiserver import free_port
from kproxy.healthz import (
    ProxyHealth,
    go_time,
    health_app,
    metrics_app,
)
from kproxy.metrics import ProxyMetrics


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def test_go_time_format() -> None:
    assert go_time(0.0) == "1970-01-01 00:00:00 +0000 UTC"
    assert go_time(1.5) == "1970-01-01 00:00:01.5 +0000 UTC"
    assert go_time(None) == "0001-01-01 00:00:00 +0000 UTC"


def test_healthy_while_starting_and_until_a_queued_change_is_late() -> None:
    clock = Clock()
    h = ProxyHealth(60.0, clock=clock)
    h.queued_update()
    assert h.healthz()[0] == 200  # never synced yet: starting up
    h.updated()
    h.queued_update()
    clock.t += 59.0
    assert h.healthz()[0] == 200
    clock.t += 1.0
    code, body = h.healthz()
    assert code == 503
    assert body["lastUpdated"] == go_time(clock.t - 60.0)
    assert body["currentTime"] == go_time(clock.t)
    assert body["nodeEligible"] is True
    h.updated()
    code, body = h.healthz()
    assert code == 200 and body["lastUpdated"] == body["currentTime"]


def test_oldest_queued_change_counts() -> None:
    clock = Clock()
    h = ProxyHealth(10.0, clock=clock)
    h.updated()
    h.queued_update()
    clock.t += 6
    h.queued_update()  # a newer change does not reset the clock
    clock.t += 6
    assert h.healthz()[0] == 503


def test_deleted_node_fails_healthz_but_not_livez() -> None:
    h = ProxyHealth(10.0, metrics=(m := ProxyMetrics()))
    h.sync_node({"metadata": {"name": "n", "deletionTimestamp": "2024-01-01T00:00:00Z"}})
    code, body = h.healthz()
    assert (code, body["nodeEligible"]) == (503, False)
    code, body = h.livez()
    assert code == 200 and "nodeEligible" not in body
    assert m.value("kubeproxy_proxy_healthz_total", {"code": "503"}) == 1
    assert m.value("kubeproxy_proxy_livez_total", {"code": "200"}) == 1


async def test_servers_answer_over_http() -> None:
    metrics = ProxyMetrics()
    health = ProxyHealth(60.0, metrics=metrics)
    metrics.observe_sync(0.02, full=True)
    metrics.set_rule_counts({"nat": 12, "filter": 3}, {"nat": 5})
    hport, mport = free_port(), free_port()
    runners = [
        await serve_http(health_app(health), "127.0.0.1", hport),
        await serve_http(metrics_app(metrics, "iptables"), "127.0.0.1", mport),
    ]
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{hport}/healthz") as r:
                assert r.status == 200
                body = await r.json()
                assert set(body) == {"lastUpdated", "currentTime", "nodeEligible"}
            async with s.get(f"http://127.0.0.1:{hport}/livez") as r:
                assert r.status == 200
            async with s.get(f"http://127.0.0.1:{mport}/proxyMode") as r:
                assert await r.text() == "iptables"
            async with s.get(f"http://127.0.0.1:{mport}/metrics") as r:
                text = await r.text()
    finally:
        for runner in runners:
            await runner.cleanup()
    for name in (
        "kubeproxy_sync_proxy_rules_duration_seconds_bucket",
        "kubeproxy_sync_full_proxy_rules_duration_seconds_count 1.0",
        "kubeproxy_sync_partial_proxy_rules_duration_seconds_count 0.0",
        'kubeproxy_sync_proxy_rules_iptables_total{table="nat"} 12.0',
        'kubeproxy_sync_proxy_rules_iptables_last{table="nat"} 5.0',
        "kubeproxy_sync_proxy_rules_iptables_restore_failures_total 0.0",
        "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
        "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
        "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
        "kubeproxy_sync_proxy_rules_service_changes_total",
    ):
        assert name in text, name


async def test_port_in_use_is_reported() -> None:
    port = free_port()
    first = await serve_http(health_app(ProxyHealth(1.0)), "127.0.0.1", port)
    try:
        with pytest.raises(OSError):
            await serve_http(health_app(ProxyHealth(1.0)), "127.0.0.1", port)
    finally:
        await first.cleanup()
