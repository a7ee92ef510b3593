"""Rows, derived figures and the markdown report."""

from __future__ import annotations

from pathlib import Path

import pytest

from kproxy.lab.grid import Case
from kproxy.lab.results import (
    REQUIRED_FIELDS,
    ROW_FIELDS,
    duration,
    finish,
    floors,
    markdown_table,
    new_row,
    read_json,
    report,
    write_json,
)


def _row(
    backend: str, n: int = 10000, m: int = 10, mode: str = "iptables", **fields: object
) -> dict[str, object]:
    row = new_row(Case(n, m, backend), mode=mode)
    row.update(fields)
    return row


def test_new_row_has_every_field() -> None:
    row = new_row(Case(100, 10, "restore-nft"), status="skipped: x")
    assert tuple(row) == ROW_FIELDS
    assert set(REQUIRED_FIELDS) <= set(row)
    assert row["mode"] == "iptables"
    assert row["endpoints_per_service"] == 10
    assert row["status"] == "skipped: x"


def test_finish_derives_ratios_and_the_one_at_a_time_estimate() -> None:
    legacy = _row(
        "restore-legacy",
        full_sync_s=6.0,
        restore_floor_s=5.0,
        rules=1000,
        append_one_rule_empty_s=0.002,
        append_one_rule_s=0.2,
        connect_last_p50_us=60.0,
        connect_last_p99_us=250.0,
    )
    iptc = _row("python-iptables", full_sync_s=30.0, restore_floor_s=5.0)
    other_size = _row("python-iptables", n=100, full_sync_s=1.0)
    # The userspace mode's row is neither the baseline nor compared with it.
    userspace = _row("restore-legacy", mode="userspace", full_sync_s=0.5, restore_floor_s=0.25)
    finish([userspace, legacy, iptc, other_size])
    assert legacy["full_over_floor"] == pytest.approx(1.2)
    assert legacy["one_at_a_time_s"] == pytest.approx(1000 * 0.101)
    assert legacy["ratio_to_restore"] is None
    assert legacy["connect_p50_us"] == 60.0 and legacy["connect_p99_us"] == 250.0
    assert iptc["ratio_to_restore"] == pytest.approx(5.0)
    assert other_size["ratio_to_restore"] is None  # no restore-legacy row of that size
    assert userspace["ratio_to_restore"] is None
    assert userspace["full_over_floor"] == pytest.approx(2.0)


def test_floors_verdicts() -> None:
    rows = finish(
        [
            _row(
                "restore-legacy",
                full_sync_s=8.0,
                restore_floor_s=5.0,
                partial_sync_s=0.05,
                partial_restore_s=0.04,
            ),
            _row("python-iptables", full_sync_s=40.0),
        ]
    )
    text = "\n".join(floors(rows))
    assert "1.60x (floor <= 1.5x: MISSED)" in text
    assert "50 ms median, of which iptables-restore 40 ms (floor <= 100 ms: met)" in text
    assert "5.00x restore-legacy's" in text


def test_floors_when_not_measured() -> None:
    text = "\n".join(floors([_row("restore-legacy", n=100)]))
    assert "not measured" in text


def test_markdown_table_shows_timeouts_and_missing_values() -> None:
    rows = [
        _row("restore-nft", n=4000, status="timeout (> 300 s) in full sync"),
        _row("restore-legacy", n=100, rules=3208, full_sync_s=0.05, partial_sync_s=0.022),
    ]
    table = markdown_table(rows)
    lines = table.strip().splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| iptables | restore-legacy | 100 | 10 | 3,208 |")
    assert "| 22 |" in lines[2]  # partial sync in ms
    assert "timeout (> 300 s) in full sync" in lines[3]
    assert "—" in lines[3]


def test_json_round_trip_and_report(tmp_path: Path) -> None:
    rows = [
        _row("restore-legacy", full_sync_s=1.0, notes=["hello"]),
        _row("restore-nft", full_sync_s=2.0, notes=["hello"]),
    ]
    path = tmp_path / "rows.json"
    write_json(rows, path, {"kernel": "6.x"})
    back, meta = read_json(path)
    assert back == rows and meta == {"kernel": "6.x"}
    text = report(back, meta, ["img/sync-time.png"])
    assert "- kernel: 6.x" in text
    assert "![sync-time](img/sync-time.png)" in text
    # One bullet per distinct note, naming every case it came from.
    assert "- hello (iptables restore-legacy 10,000 x 10; iptables restore-nft 10,000 x 10)" in text


def test_read_json_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"something": 1}')
    with pytest.raises(ValueError, match="not a lab result file"):
        read_json(path)


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "—"), (45.2, "45 s"), (720, "12 min"), (12240, "3.4 h")]
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text
