"""The control-plane child's logic, on the fake backend (no root): the syncs it times are the
real proxier's, the floors replay exactly what kproxy wrote, and the figures it reports are
consistent with them."""

from __future__ import annotations

import argparse
import re
from collections import Counter

import pytest

from kproxy.backend.fake import FakeBackend
from kproxy.config import ProxyConfig
from kproxy.iptables.render import render
from kproxy.lab import workload as w
from kproxy.lab.control import CLUSTER_CIDR, BackendRestoreTool, Measurement, parse_args


class RecordingTool(BackendRestoreTool):
    def __init__(self, backend: FakeBackend) -> None:
        super().__init__(backend)
        self.events: list[str] = []
        self.alone: list[str] = []

    def restore_alone(self, text: str) -> float:
        self.events.append("alone")
        self.alone.append(text)
        return super().restore_alone(text)

    def empty_tables(self) -> None:
        self.events.append("empty")
        super().empty_tables()


def _args(n: int = 40, m: int = 3, backend: str = "restore-legacy") -> argparse.Namespace:
    return parse_args(
        [
            "--backend",
            backend,
            "--services",
            str(n),
            "--endpoints",
            str(m),
            "--partial-repeats",
            "3",
            "--full-repeats",
            "2",
            "--expect-netns",
            "kt-lab-unused",
        ]
    )


def _measurement(fake: FakeBackend, n: int = 40, m: int = 3) -> tuple[Measurement, RecordingTool]:
    tool = RecordingTool(fake)
    return Measurement(_args(n, m), fake, tool), tool


async def test_measures_full_partial_and_resync() -> None:
    fake = FakeBackend()
    m, _ = _measurement(fake)
    out = await m.run()
    assert out["status"] == "ok", out
    services, endpoints = w.model(40, 3)
    expected = render(services, endpoints, ProxyConfig(w.NODE_NAME, cluster_cidr=CLUSTER_CIDR))
    assert out["rules"] == sum(expected.rule_count(t) for t in expected.tables)
    assert out["rules_nat"] == expected.rule_count("nat")
    for key in ("full_sync_s", "restore_s", "render_s", "restore_floor_s", "partial_sync_s"):
        assert out[key] > 0, key
    assert out["full_resync_s"] > 0 and out["partial_restore_floor_s"] > 0
    assert out["full_sync_s"] >= out["restore_s"]
    assert out["full_sync_s"] == min(out["full_sync_runs_s"])
    assert len(out["full_sync_runs_s"]) == len(out["restore_floor_runs_s"]) == 2
    assert out["partial_samples"] == 3
    assert 0 < out["partial_restore_bytes"] < out["restore_bytes"]
    # After the add, the new Service is the last in KUBE-SERVICES, and it is in the tables.
    assert (out["first_service"], out["last_service"]) == (w.cluster_ip(0), w.cluster_ip(40))
    assert re.search(rf"-d {re.escape(w.cluster_ip(40))}(/32)? ", fake.save("nat"))
    # The endpoint changes were undone, by kproxy and by the replays alike.
    assert w.spare_endpoint_ip(0) not in fake.save("nat")


async def test_floors_alternate_with_kproxy_and_replay_its_exact_input() -> None:
    fake = FakeBackend()
    m, tool = _measurement(fake)
    out = await m.run()
    assert out["status"] == "ok", out
    # empty -> alone after each full sync, and an empty before the second full sync.
    assert tool.events[:5] == ["empty", "alone", "empty", "empty", "alone"]
    full_text = tool.alone[0]
    assert len(full_text.encode()) == out["restore_bytes"]
    # Each full-sync input was restored twice: once by kproxy, once alone.
    counts = Counter(fake.restores)
    assert counts[full_text] == 4
    # Each partial input (forward and back) was replayed alone once more.
    partial_alone = tool.alone[2:]
    assert len(partial_alone) == 2 * 3
    assert all(counts[text] == 2 for text in partial_alone)


async def test_crossing_the_large_cluster_threshold_is_noted() -> None:
    m, _ = _measurement(FakeBackend(), n=100, m=10)
    out = await m.run()
    assert out["status"] == "ok", out
    assert any("large-cluster threshold" in n for n in out["notes"])


async def test_a_failing_restore_is_reported_with_its_step() -> None:
    fake = FakeBackend()
    fake.fail_next_restore("boom")
    m, _ = _measurement(fake)
    out = await m.run()
    assert out["status"].startswith("error in full sync")
    assert "full_sync_s" not in out
    assert out["rss_mb"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "nope"], "unknown backend"),
        (["--services", "0"], "at least 1"),
        (["--partial-repeats", "999"], "partial-repeats"),
        (["--full-repeats", "0"], "full-repeats"),
    ],
)
def test_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = {"--backend": "restore-legacy", "--services": "10", "--endpoints": "1"}
    base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    flat = [x for kv in base.items() for x in kv] + ["--expect-netns", "kt-lab-x"]
    with pytest.raises(SystemExit):
        parse_args(flat)
    assert message in capsys.readouterr().err
