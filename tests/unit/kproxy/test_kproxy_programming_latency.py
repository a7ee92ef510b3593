"""kubeproxy_network_programming_duration_seconds: trigger-time annotations -> trackers ->
one observation per applied change after a successful sync."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from kproxy_objects import endpoint, endpoint_slice, legacy_endpoints, service

from knet.client.clock import FakeClock
from kproxy.backend.fake import FakeBackend
from kproxy.changes import (
    LAST_CHANGE_TRIGGER_TIME,
    EndpointsChangeTracker,
    last_change_trigger_time,
)
from kproxy.config import ProxyConfig
from kproxy.iptables.proxier import IptablesProxier
from kproxy.metrics import PROGRAMMING_BUCKETS, ProxyMetrics

WEB = ("default", "web")
START = 1_700_000_000.0  # the tracker's start, in epoch seconds
METRIC = "kubeproxy_network_programming_duration_seconds"


def stamped(obj: dict[str, Any], moment: float | str) -> dict[str, Any]:
    """``obj`` with the trigger-time annotation (epoch seconds are written as RFC 3339)."""
    if isinstance(moment, float):
        moment = datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")
    obj["metadata"].setdefault("annotations", {})[LAST_CHANGE_TRIGGER_TIME] = moment
    return obj


def web_slice(*ips: str, at: float) -> dict[str, Any]:
    return stamped(endpoint_slice("web", [endpoint(ip) for ip in ips]), at)


# -- the annotation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20.25Z", 1_700_000_000.25),
        ("2023-11-14T22:13:20.123456789Z", 1_700_000_000.123456),  # RFC3339Nano
        ("2023-11-14T23:13:20+01:00", 1_700_000_000.0),
        ("2023-11-14T22:13:20", 1_700_000_000.0),  # no zone: UTC
    ],
)
def test_trigger_time_is_read_as_rfc3339(text: str, expected: float) -> None:
    got = last_change_trigger_time(stamped(endpoint_slice("web", []), text))
    assert got == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("text", ["", "yesterday", "2023-13-45T99:00:00Z"])
def test_unreadable_or_missing_trigger_time_is_none(text: str) -> None:
    assert last_change_trigger_time(endpoint_slice("web", [])) is None
    assert last_change_trigger_time(stamped(endpoint_slice("web", []), text)) is None


# -- the tracker ---------------------------------------------------------------------------------


def test_each_changing_event_contributes_its_trigger_time() -> None:
    tracker = EndpointsChangeTracker("node1", start_time=START)
    tracker.slice_update(web_slice("10.244.1.2", at=START + 1))
    tracker.slice_update(web_slice("10.244.1.2", "10.244.1.3", at=START + 2))
    assert tracker.drain()
    assert sorted(tracker.drain_trigger_times()) == [START + 1, START + 2]
    assert tracker.drain_trigger_times() == []  # handed over once


def test_no_op_events_old_triggers_and_unstamped_objects_contribute_nothing() -> None:
    tracker = EndpointsChangeTracker("node1", start_time=START)
    tracker.slice_update(web_slice("10.244.1.2", at=START - 5))  # before this process started
    tracker.slice_update(web_slice("10.244.1.2", at=START + 3))  # endpoints unchanged
    other = endpoint_slice("api", [endpoint("10.244.1.9")])
    tracker.slice_update(other)  # no annotation
    assert len(tracker) == 2
    assert tracker.drain_trigger_times() == []


def test_deletion_drops_the_services_pending_trigger_times() -> None:
    tracker = EndpointsChangeTracker("node1", start_time=START)
    tracker.slice_update(web_slice("10.244.1.2", at=START + 1))
    tracker.drain()
    tracker.slice_update(web_slice("10.244.1.2", "10.244.1.3", at=START + 2))
    # A deleted object's annotation dates from its last update: not a trigger.
    tracker.slice_update(web_slice("10.244.1.2", "10.244.1.3", at=START + 2), removed=True)
    assert len(tracker) == 1  # web lost its endpoints: a change to apply
    assert tracker.drain_trigger_times() == []


def test_a_change_that_nets_out_takes_its_trigger_times_along() -> None:
    tracker = EndpointsChangeTracker("node1", start_time=START)
    tracker.slice_update(web_slice("10.244.1.2", at=START + 1))
    tracker.drain()
    tracker.drain_trigger_times()
    tracker.slice_update(web_slice("10.244.1.2", "10.244.1.3", at=START + 2))
    tracker.slice_update(web_slice("10.244.1.2", at=START + 3))  # back where it was
    assert len(tracker) == 0
    assert tracker.drain_trigger_times() == []


def test_legacy_endpoints_carry_the_same_annotation() -> None:
    tracker = EndpointsChangeTracker("node1", start_time=START)
    first = stamped(legacy_endpoints("web", ["10.244.1.2"]), START + 1)
    second = stamped(legacy_endpoints("web", ["10.244.1.2", "10.244.1.3"]), START + 4)
    tracker.endpoints_update(None, first)
    tracker.endpoints_update(first, second)
    assert sorted(tracker.drain_trigger_times()) == [START + 1, START + 4]
    tracker.endpoints_update(second, None)
    assert tracker.drain_trigger_times() == []


# -- the metric ----------------------------------------------------------------------------------


def bucket(metrics: ProxyMetrics, le: str) -> float | None:
    return metrics.value(f"{METRIC}_bucket", {"le": le})


def test_histogram_has_upstreams_buckets_and_observes_now_minus_trigger() -> None:
    assert PROGRAMMING_BUCKETS[:3] == (0.25, 0.5, 1.0)
    assert PROGRAMMING_BUCKETS[-8:] == (115.0, 120.0, 150.0, 180.0, 210.0, 240.0, 270.0, 300.0)
    assert len(PROGRAMMING_BUCKETS) == 2 + 59 + 12 + 7
    metrics = ProxyMetrics()
    metrics.observe_network_programming([100.0, 97.0, 103.0], now=101.5)
    assert metrics.value(f"{METRIC}_count") == 3
    # 1.5 s, 4.5 s, and a trigger from the future counted as 0.
    assert metrics.value(f"{METRIC}_sum") == pytest.approx(6.0)
    assert bucket(metrics, "0.25") == 1
    assert bucket(metrics, "1.0") == 1
    assert bucket(metrics, "2.0") == 2
    assert bucket(metrics, "4.0") == 2
    assert bucket(metrics, "5.0") == 3


# -- end to end through the proxier --------------------------------------------------------------


class WallClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(backend: FakeBackend, wall: WallClock) -> IptablesProxier:
    config = ProxyConfig("node1", cluster_cidr="10.244.0.0/16", min_sync_period=0.0)
    proxier = IptablesProxier(
        config, backend, clock=FakeClock(100.0), offload=False, wall_clock=wall
    )
    proxier.on_service_add(service("web", "10.96.0.10"))
    proxier.on_endpoint_slice_add(web_slice("10.244.1.2", at=START + 1))
    proxier.on_services_synced()
    proxier.on_endpoint_slices_synced()
    return proxier


async def test_successful_sync_observes_each_applied_change() -> None:
    wall = WallClock(START)
    proxier = make(FakeBackend(), wall)
    wall.now = START + 3.0
    await proxier.sync_proxy_rules()  # the first (full) sync applies the slice added at +1
    m = proxier.metrics
    assert m.value(f"{METRIC}_count") == 1
    assert m.value(f"{METRIC}_sum") == pytest.approx(2.0)

    proxier.on_endpoint_slice_update(
        web_slice("10.244.1.2", at=START + 1), web_slice("10.244.1.3", at=START + 10)
    )
    wall.now = START + 10.5
    await proxier.sync_proxy_rules()
    assert proxier.last_sync is not None and not proxier.last_sync.full
    assert m.value(f"{METRIC}_count") == 2
    assert bucket(m, "0.5") == 1  # the partial sync's 0.5 s


async def test_a_failed_sync_defers_the_observation_to_the_sync_that_applies_it() -> None:
    backend = FakeBackend()
    wall = WallClock(START)
    proxier = make(backend, wall)
    wall.now = START + 2.0
    backend.fail_next_restore()
    await proxier.sync_proxy_rules()
    assert proxier.metrics.value(f"{METRIC}_count") == 0
    wall.now = START + 31.0
    await proxier.sync_proxy_rules()  # the retry (full) programs it, 30 s after the trigger
    assert proxier.metrics.value(f"{METRIC}_count") == 1
    assert proxier.metrics.value(f"{METRIC}_sum") == pytest.approx(30.0)
