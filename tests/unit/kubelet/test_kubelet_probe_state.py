"""Probe bookkeeping: thresholds, initial results, timing defaults, ports, the worker loop."""

from __future__ import annotations

import asyncio

import pytest

from knet.api.base import from_wire
from knet.api.core import Container, Probe
from kubelet_lite.pods.probes import (
    Kind,
    Outcome,
    ProbeTracker,
    ProbeWorker,
    Timing,
    resolve_port,
    run_check,
)


def test_failure_threshold_must_be_reached_in_a_row() -> None:
    t = ProbeTracker(Timing(failure_threshold=3), initial=True)
    assert [t.observe(x) for x in (False, False, True, False, False)] == [None] * 5
    assert t.observe(False) is False and t.result is False
    assert t.observe(False) is None  # no flip, no news


def test_success_threshold_for_readiness() -> None:
    t = ProbeTracker(Timing(success_threshold=2, failure_threshold=1), initial=False)
    assert t.observe(True) is None
    assert t.observe(True) is True
    assert t.observe(False) is False


def test_timing_defaults_and_forced_success_threshold() -> None:
    p = from_wire(Probe, {"exec": {"command": ["true"]}, "successThreshold": 3})
    assert Timing.of(p, Kind.READINESS) == Timing(0.0, 10.0, 1.0, 3, 3)
    assert Timing.of(p, Kind.LIVENESS).success_threshold == 1
    q = from_wire(
        Probe,
        {
            "tcpSocket": {"port": 1},
            "initialDelaySeconds": 5,
            "periodSeconds": 2,
            "timeoutSeconds": 4,
            "failureThreshold": 7,
        },
    )
    assert Timing.of(q, Kind.LIVENESS) == Timing(5.0, 2.0, 4.0, 1, 7)


def test_named_ports() -> None:
    c = from_wire(Container, {"name": "c", "ports": [{"name": "http", "containerPort": 8080}]})
    assert resolve_port("http", c) == 8080
    assert resolve_port(81, c) == 81 and resolve_port("82", c) == 82
    with pytest.raises(ValueError, match="port name 'metrics' not found"):
        resolve_port("metrics", c)
    with pytest.raises(ValueError, match="out of range"):
        resolve_port(70000, c)


async def test_probe_without_handler_fails_clearly() -> None:
    c = from_wire(Container, {"name": "c"})
    out = await run_check(from_wire(Probe, {"periodSeconds": 1}), c, None, 1.0)  # type: ignore[arg-type]
    assert out == Outcome(False, "probe has no handler (exec, httpGet or tcpSocket)")
    grpc = from_wire(Probe, {"grpc": {"port": 9000}})
    assert "not supported" in (await run_check(grpc, c, None, 1.0)).message  # type: ignore[arg-type]


async def test_worker_reports_liveness_failure_once_then_stops() -> None:
    outcomes = iter([Outcome(True), Outcome(False, "boom"), Outcome(False, "boom again")])
    results: list[tuple[Kind, bool, str]] = []
    failures: list[str] = []

    async def check() -> Outcome:
        return next(outcomes)

    worker = ProbeWorker(
        Kind.LIVENESS,
        Timing(period=0.0, failure_threshold=2),
        check,
        lambda k, ok, msg: results.append((k, ok, msg)),
        lambda k, msg: failures.append(msg),
    )
    await asyncio.wait_for(worker.run(), 5)  # returns by itself after the flip
    assert results == [(Kind.LIVENESS, False, "boom again")]
    assert failures == ["boom", "boom again"]


async def test_worker_waits_for_its_gate() -> None:
    gate = asyncio.Event()
    calls = 0

    async def check() -> Outcome:
        nonlocal calls
        calls += 1
        return Outcome(True)

    seen: list[bool] = []
    worker = ProbeWorker(
        Kind.READINESS,
        Timing(period=0.0),
        check,
        lambda k, ok, msg: seen.append(ok),
        lambda k, msg: None,
        gate=gate,
    )
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.01)
    assert calls == 0
    gate.set()
    while not seen:
        await asyncio.sleep(0)
    task.cancel()
    assert seen == [True] and calls >= 1
