"""Plots: files are written when there is data, skipped when there is none."""

from __future__ import annotations

from pathlib import Path

from kproxy.lab.grid import Case
from kproxy.lab.plots import plot_all, plot_latency, plot_sync_time
from kproxy.lab.results import new_row


def test_one_panel_per_m_and_one_line_per_backend(tmp_path: Path) -> None:
    rows = []
    for backend in ("restore-legacy", "python-iptables"):
        for m in (1, 10):
            for n in (100, 1000):
                row = new_row(Case(n, m, backend))
                row.update(full_sync_s=n / 1000, restore_floor_s=n / 2000, rules=n * m)
                rows.append(row)
    userspace = new_row(Case(1000, 10, "restore-legacy"), mode="userspace")
    userspace.update(full_sync_s=0.2, restore_floor_s=0.01, rules=2000)
    path = plot_sync_time([*rows, userspace], tmp_path / "s.png")
    assert path is not None and path.read_bytes()[:4] == b"\x89PNG"
    assert path.stat().st_size < 200_000


def test_latency_plots_one_line_per_mode(tmp_path: Path) -> None:
    rows = []
    for mode, label in (("iptables", "iptables (legacy)"), ("userspace", "userspace (legacy)")):
        for n in (100, 1000):
            row = new_row(Case(n, 10, "restore-legacy"), mode=mode)
            row.update(
                dataplane=label,
                connect_first_p50_us=30.0,
                connect_last_p50_us=30.0 + n / 100,
                connect_last_p99_us=90.0 + n / 10,
                ttfb_last_p50_us=80.0 + n / 100,
            )
            rows.append(row)
    made = plot_all(rows, tmp_path)
    assert {p.name for p in made} == {"connect-latency.png", "first-byte-latency.png"}
    for path in made:
        assert path.read_bytes()[:4] == b"\x89PNG"


def test_nothing_to_plot(tmp_path: Path) -> None:
    rows = [new_row(Case(100, 1, "restore-legacy"), status="timeout (> 1 s)")]
    assert plot_latency(rows, tmp_path / "c.png") is None
    assert plot_all(rows, tmp_path / "out") == []
    assert not (tmp_path / "c.png").exists()
