"""The lab's command line: the grid the flags make, the bounds, and report-only runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kproxy.lab.cli import build_parser, main, merge_runs, plan, settings
from kproxy.lab.grid import Case
from kproxy.lab.results import new_row


def _plan(*argv: str):  # type: ignore[no-untyped-def]
    return plan(build_parser().parse_args(list(argv)))


def test_default_grid_covers_the_issue() -> None:
    p = _plan()
    everything = {c for c in p.cases} | {c for c, _ in p.skipped}
    assert {c.services for c in everything} == {100, 1000, 5000, 10000, 20000}
    assert {c.endpoints for c in everything} == {1, 10, 100}
    assert {c.backend for c in everything} == {"restore-legacy", "restore-nft", "python-iptables"}
    assert Case(10000, 10, "restore-legacy") in p.cases
    # nft runs the whole grid now that its restores are linear; a cap still narrows it.
    assert Case(20000, 10, "restore-nft") in p.cases
    capped = _plan("--nft-max-services", "1000")
    assert Case(5000, 10, "restore-nft") in {c for c, _ in capped.skipped}


def test_flags_narrow_the_grid() -> None:
    p = _plan("--services", "1000,10000", "--endpoints", "10", "--backends", "restore-legacy")
    assert p.cases == [Case(1000, 10, "restore-legacy"), Case(10000, 10, "restore-legacy")]
    assert p.skipped == []


def test_max_services_goes_higher() -> None:
    p = _plan("--max-services", "50000", "--endpoints", "1", "--backends", "restore-legacy")
    assert [c.services for c in p.cases] == [100, 1000, 5000, 10000, 20000, 50000]
    p = _plan("--max-services", "5000", "--endpoints", "1", "--backends", "restore-legacy")
    assert [c.services for c in p.cases] == [100, 1000, 5000]


def test_quick_is_small() -> None:
    args = build_parser().parse_args(["--quick"])
    p = plan(args)
    assert {c.services for c in p.cases} <= {100, 1000}
    assert {c.backend for c in p.cases} == {"restore-legacy", "restore-nft", "python-iptables"}
    s = settings(args)
    assert s.budget <= 120 and s.samples <= 500 and s.restore_timeout <= 30


def test_settings_defaults_and_overrides() -> None:
    s = settings(build_parser().parse_args([]))
    assert s.budget == 1800 and s.dataplane and s.full_repeats == 3
    s = settings(build_parser().parse_args(["--budget", "60", "--skip-dataplane"]))
    assert s.budget == 60 and not s.dataplane


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--services", "abc"], "--services"),
        (["--backends", "iptables"], "unknown iptables"),
        (["--budget", "0"], "must be positive"),
        (["--services", "50000"], "no N value left"),
        (["--full-repeats", "0"], "1..20"),
        (["--endpoints", "0"], "--endpoints"),
        (["--samples", "many"], "--samples: invalid int value"),
    ],
)
def test_bad_flags_are_reported(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.splitlines()) == 1  # one readable line, no usage dump


def test_from_json_writes_report_and_plots(tmp_path: Path) -> None:
    rows = []
    for n, full in ((100, 0.05), (1000, 0.4)):
        row = new_row(Case(n, 10, "restore-legacy"))
        row.update(
            rules=n * 32,
            full_sync_s=full,
            restore_floor_s=full * 0.8,
            partial_sync_s=0.02,
            append_one_rule_s=0.01,
            append_one_rule_empty_s=0.002,
            connect_first_p50_us=30.0,
            connect_last_p50_us=35.0,
            connect_last_p99_us=80.0,
            dataplane="iptables (legacy)",
        )
        rows.append(row)
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps({"meta": {"kernel": "test"}, "rows": rows}))
    md = tmp_path / "docs" / "report.md"
    md.parent.mkdir()
    out_json = tmp_path / "again.json"
    code = main(
        [
            "--from-json",
            str(saved),
            "--markdown",
            str(md),
            "--plots",
            str(md.parent / "img"),
            "--json",
            str(out_json),
        ]
    )
    assert code == 0
    text = md.read_text()
    assert "![sync-time](img/sync-time.png)" in text
    assert "| restore-legacy | 1,000 | 10 |" in text
    for name in ("sync-time", "connect-latency", "append-one-rule"):
        assert (md.parent / "img" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    again = json.loads(out_json.read_text())["rows"]
    assert again[1]["full_over_floor"] == pytest.approx(1.25)


def test_merging_saved_runs() -> None:
    first = [new_row(Case(100, 10, "restore-legacy")), new_row(Case(10000, 10, "python-iptables"))]
    first[1]["status"] = "skipped: predicted ~900 s from smaller cases, 10 s of budget left"
    second = [new_row(Case(10000, 10, "python-iptables"))]
    second[0]["full_sync_s"] = 120.0
    rows, meta = merge_runs(
        [
            (first, {"command": "knet bench rules a", "kernel": "6.x"}),
            (second, {"command": "knet bench rules b", "date": "today"}),
        ]
    )
    assert [r["backend"] for r in rows] == ["restore-legacy", "python-iptables"]
    assert rows[1]["full_sync_s"] == 120.0  # the later measurement replaces the skip
    assert meta["command"] == "knet bench rules a" and meta["kernel"] == "6.x"
    assert meta["command (run 2)"] == "knet bench rules b"
    # ... but a later skip does not replace a measurement.
    rows, _ = merge_runs([(second, {}), (first, {})])
    (iptc,) = [r for r in rows if r["backend"] == "python-iptables"]
    assert iptc["full_sync_s"] == 120.0
