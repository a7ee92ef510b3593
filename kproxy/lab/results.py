"""The lab's rows: their fields, the derived ratios, JSON, and the markdown report. PURE
(apart from the two file helpers)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kproxy.lab.grid import Case

Row = dict[str, Any]

ROW_FIELDS: tuple[str, ...] = (
    "mode",
    "backend",
    "services",
    "endpoints_per_service",
    "status",
    "rules",
    "rules_nat",
    "rules_filter",
    "restore_bytes",
    "feed_s",
    "render_s",
    "save_s",
    "restore_s",
    "full_sync_s",
    "restore_floor_s",
    "full_over_floor",
    "full_sync_runs_s",
    "restore_floor_runs_s",
    "partial_sync_s",
    "partial_sync_max_s",
    "partial_restore_s",
    "partial_restore_bytes",
    "partial_restore_floor_s",
    "partial_samples",
    "partial_add_service_s",
    "full_resync_s",
    "append_one_rule_empty_s",
    "append_one_rule_s",
    "one_at_a_time_s",
    "ratio_to_restore",
    "dataplane",
    "connect_p50_us",
    "connect_p99_us",
    "connect_first_p50_us",
    "connect_first_p99_us",
    "connect_last_p50_us",
    "connect_last_p99_us",
    "connect_pod_p50_us",
    "connect_pod_p99_us",
    "ttfb_first_p50_us",
    "ttfb_first_p99_us",
    "ttfb_last_p50_us",
    "ttfb_last_p99_us",
    "ttfb_pod_p50_us",
    "ttfb_pod_p99_us",
    "connect_samples",
    "connect_failures",
    "throughput_mbit_s",
    "rss_mb",
    "peak_rss_mb",
    "notes",
    "wall_s",
)
REQUIRED_FIELDS = (
    "mode",
    "backend",
    "services",
    "endpoints_per_service",
    "rules",
    "full_sync_s",
    "restore_floor_s",
    "partial_sync_s",
    "connect_p50_us",
    "connect_p99_us",
)
FLOOR_SERVICES = 10000
FLOOR_ENDPOINTS = 10
FULL_OVER_FLOOR_MAX = 1.5
PARTIAL_MAX_S = 0.1


def new_row(case: Case, mode: str = "iptables", status: str = "ok") -> Row:
    row: Row = dict.fromkeys(ROW_FIELDS)
    row.update(
        mode=mode,
        backend=case.backend,
        services=case.services,
        endpoints_per_service=case.endpoints,
        status=status,
        notes=[],
    )
    return row


def finish(rows: list[Row]) -> list[Row]:
    """Fill the derived fields: full/floor, the one-at-a-time estimate, ratios to restore."""
    legacy = {
        (r["services"], r["endpoints_per_service"]): r["full_sync_s"]
        for r in rows
        if _is(r, "iptables", "restore-legacy") and r.get("full_sync_s")
    }
    for r in rows:
        full, floor = r.get("full_sync_s"), r.get("restore_floor_s")
        if full and floor:
            r["full_over_floor"] = full / floor
        empty, at_n, rules = (
            r.get(k) for k in ("append_one_rule_empty_s", "append_one_rule_s", "rules")
        )
        if empty is not None and at_n is not None and rules:
            # Appending rule k costs about t(0) + (t(N) - t(0)) * k / rules: summed over all
            # rules, rules x the mean of the two ends (an estimate, linear in table size).
            r["one_at_a_time_s"] = rules * (empty + at_n) / 2
        base = legacy.get((r["services"], r["endpoints_per_service"]))
        if r["mode"] == "iptables" and r["backend"] != "restore-legacy" and base and full:
            r["ratio_to_restore"] = full / base
        if r.get("connect_last_p50_us") is not None:
            # The headline latency is the worst case: the Service matched last.
            r["connect_p50_us"] = r["connect_last_p50_us"]
            r["connect_p99_us"] = r["connect_last_p99_us"]
    return rows


def _is(r: Row, mode: str, backend: str) -> bool:
    return bool(r.get("mode", "iptables") == mode and r["backend"] == backend)


def write_json(rows: Sequence[Row], path: Path, meta: Mapping[str, Any]) -> None:
    path.write_text(json.dumps({"meta": dict(meta), "rows": list(rows)}, indent=1) + "\n")


def read_json(path: Path) -> tuple[list[Row], dict[str, Any]]:
    data = json.loads(path.read_text())
    if isinstance(data, list):
        return data, {}
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise ValueError(f"{path}: not a lab result file (expected {{'meta', 'rows'}})")
    return data["rows"], data.get("meta") or {}


# -------------------------------------------------------------------------------------------
# Markdown


def _num(value: Any, scale: float = 1.0, digits: int = 2) -> str:
    if value is None:
        return "—"
    v = float(value) * scale
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def duration(seconds: Any) -> str:
    """A long time, readably: 45 s, 12 min, 3.4 h."""
    if seconds is None:
        return "—"
    s = float(seconds)
    if s < 120:
        return f"{s:.0f} s"
    if s < 2 * 3600:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _pair(a: Any, b: Any) -> str:
    if a is None and b is None:
        return "—"
    return f"{_num(a, digits=0)} / {_num(b, digits=0)}"


TABLE_HEADER = (
    "mode",
    "backend",
    "N",
    "M",
    "rules",
    "text MB",
    "kproxy s",
    "restore s",
    "full sync s",
    "floor s",
    "full/floor",
    "partial ms (1 ep)",
    "its restore alone ms",
    "partial ms (+1 svc)",
    "resync s",
    "1 rule -A ms",
    "every rule by -A (est.)",
    "connect µs first p50/p99",
    "connect µs last p50/p99",
    "first byte µs last p50/p99",
    "RSS MB",
    "status",
)


def table_row(r: Row) -> tuple[str, ...]:
    mb = r["restore_bytes"] / 1e6 if r.get("restore_bytes") else None
    return (
        r.get("mode") or "iptables",
        r["backend"],
        f"{r['services']:,}",
        str(r["endpoints_per_service"]),
        f"{r['rules']:,}" if r.get("rules") else "—",
        _num(mb, digits=1),
        _num(r.get("render_s")),
        _num(r.get("restore_s")),
        _num(r.get("full_sync_s")),
        _num(r.get("restore_floor_s")),
        _num(r.get("full_over_floor")),
        _num(r.get("partial_sync_s"), 1000, 0),
        _num(r.get("partial_restore_floor_s"), 1000, 0),
        _num(r.get("partial_add_service_s"), 1000, 0),
        _num(r.get("full_resync_s")),
        _num(r.get("append_one_rule_s"), 1000, 1),
        duration(r.get("one_at_a_time_s")),
        _pair(r.get("connect_first_p50_us"), r.get("connect_first_p99_us")),
        _pair(r.get("connect_last_p50_us"), r.get("connect_last_p99_us")),
        _pair(r.get("ttfb_last_p50_us"), r.get("ttfb_last_p99_us")),
        _num(r.get("rss_mb"), digits=0),
        r.get("status") or "ok",
    )


def markdown_table(rows: Iterable[Row]) -> str:
    lines = [
        "| " + " | ".join(TABLE_HEADER) + " |",
        "|" + "|".join("---" for _ in TABLE_HEADER) + "|",
    ]
    ordered = sorted(
        rows,
        key=lambda r: (r["mode"], r["backend"], r["endpoints_per_service"], r["services"]),
    )
    lines += ["| " + " | ".join(table_row(r)) + " |" for r in ordered]
    return "\n".join(lines) + "\n"


def _find(rows: Iterable[Row], backend: str, n: int, m: int, mode: str = "iptables") -> Row | None:
    for r in rows:
        if _is(r, mode, backend) and (r["services"], r["endpoints_per_service"]) == (n, m):
            return r
    return None


def floors(rows: Sequence[Row]) -> list[str]:
    """The issue's floors at 10k Services x 10 endpoints, as markdown bullets."""
    n, m = FLOOR_SERVICES, FLOOR_ENDPOINTS
    out = []
    legacy = _find(rows, "restore-legacy", n, m)
    where = f"{n:,} Services x {m} endpoints"
    if legacy is None or legacy.get("full_sync_s") is None:
        out.append(f"- restore-legacy at {where}: not measured in this run")
    else:
        ratio = legacy.get("full_over_floor")
        if ratio is not None:
            verdict = "met" if ratio <= FULL_OVER_FLOOR_MAX else "MISSED"
            out.append(
                f"- kproxy full sync {legacy['full_sync_s']:.2f} s vs iptables-restore alone"
                f" {legacy['restore_floor_s']:.2f} s: {ratio:.2f}x"
                f" (floor <= {FULL_OVER_FLOOR_MAX}x: {verdict})"
            )
        partial = legacy.get("partial_sync_s")
        if partial is not None:
            verdict = "met" if partial <= PARTIAL_MAX_S else "MISSED"
            inside = legacy.get("partial_restore_s")
            extra = f", of which iptables-restore {inside * 1000:.0f} ms" if inside else ""
            out.append(
                f"- partial sync after one endpoint change: {partial * 1000:.0f} ms median"
                f"{extra} (floor <= {PARTIAL_MAX_S * 1000:.0f} ms: {verdict})"
            )
            alone = legacy.get("partial_restore_floor_s")
            if alone is not None:
                out.append(
                    f"- the same partial input loaded by iptables-restore alone into the full"
                    f" table: {alone * 1000:.0f} ms"
                )
    iptc = _find(rows, "python-iptables", n, m)
    if iptc is not None and iptc.get("ratio_to_restore") is not None:
        out.append(
            f"- python-iptables full sync {iptc['full_sync_s']:.2f} s ="
            f" {iptc['ratio_to_restore']:.2f}x restore-legacy's"
        )
    else:
        ratios = [
            r for r in rows if _is(r, "iptables", "python-iptables") and r.get("ratio_to_restore")
        ]
        if ratios:
            biggest = max(ratios, key=lambda r: (r["services"], r["endpoints_per_service"]))
            out.append(
                f"- python-iptables (largest measured, {biggest['services']:,} x"
                f" {biggest['endpoints_per_service']}): full sync"
                f" {biggest['ratio_to_restore']:.2f}x restore-legacy's"
            )
        else:
            out.append("- python-iptables: no case comparable with restore-legacy")
    return out


def grouped_notes(rows: Iterable[Row]) -> list[str]:
    """One bullet per distinct note, naming the cases it applies to."""
    cases: dict[str, list[str]] = {}
    for r in rows:
        label = f"{r['mode']} {r['backend']} {r['services']:,} x {r['endpoints_per_service']}"
        for note in r.get("notes") or ():
            cases.setdefault(note, []).append(label)
    return [f"- {note} ({'; '.join(where)})" for note, where in cases.items()]


def report(rows: Sequence[Row], meta: Mapping[str, Any], plots: Sequence[str] = ()) -> str:
    parts = ["# Rule-scaling lab results", ""]
    if meta:
        parts += [f"- {k}: {v}" for k, v in meta.items()]
        parts.append("")
    parts += ["## Floors (10k Services x 10 endpoints)", "", *floors(rows), ""]
    parts += ["## All cases", "", markdown_table(rows)]
    if notes := grouped_notes(rows):
        parts += ["## Notes", "", *notes, ""]
    if plots:
        parts += ["## Plots", "", *[f"![{Path(p).stem}]({p})" for p in plots], ""]
    return "\n".join(parts)
