"""``python -m kproxy.lab`` / ``knet bench rules``: flags, the run, and its outputs."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from rich.console import Console

from kproxy.lab import grid
from kproxy.lab.grid import Case, Limits
from kproxy.lab.results import Row, finish, new_row, read_json, report, write_json
from kproxy.lab.runner import Settings, environment, run_cases

PROG = "knet bench rules"
DEFAULT_BUDGET = 1800.0
QUICK_BUDGET = 75.0
EXIT_INTERRUPTED = 130


class LabParser(argparse.ArgumentParser):
    """Bad input is one readable line on stderr (no usage dump, no traceback), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


@dataclass(frozen=True)
class Plan:
    cases: list[Case]
    skipped: list[tuple[Case, str]]


def build_parser() -> argparse.ArgumentParser:
    p = LabParser(
        prog=PROG,
        description=(
            "Measure how kproxy's iptables rules scale with Services and endpoints, in scratch "
            "network namespaces (needs root). Writes JSON rows, a markdown table and PNG plots."
        ),
    )
    g = p.add_argument_group("the grid")
    g.add_argument("--services", help="N values, e.g. 1000,10000 (default 100,1k,5k,10k,20k)")
    g.add_argument("--endpoints", help="M values, endpoints per Service (default 1,10,100)")
    g.add_argument(
        "--backends", help="restore-legacy,restore-nft,python-iptables (default: all three)"
    )
    g.add_argument(
        "--max-services",
        type=int,
        help="largest N; beyond 20000 it is added to the default N values (default 20000)",
    )
    g.add_argument("--skip-dataplane", action="store_true", help="control plane only")
    g.add_argument("--quick", action="store_true", help="a small grid that runs in about a minute")
    g.add_argument("--nft-max-services", type=int, help="largest N for restore-nft (20000)")
    g.add_argument("--iptc-max-services", type=int, help="largest N for python-iptables (20000)")
    g.add_argument(
        "--max-endpoints-total",
        type=int,
        default=1_000_000,
        help="skip cases with more than this many endpoints in all (default 1,000,000)",
    )
    b = p.add_argument_group("bounds")
    b.add_argument(
        "--budget", type=float, help="seconds for the whole run (default 1800; --quick 120)"
    )
    b.add_argument("--restore-timeout", type=float, help="seconds per sync or restore (300)")
    b.add_argument("--append-timeout", type=float, help="seconds per one-rule append (60)")
    b.add_argument("--partial-repeats", type=int, help="partial syncs timed per case (5)")
    b.add_argument(
        "--full-repeats",
        type=int,
        help="full syncs and restore-alone runs per case, alternating, best taken (3)",
    )
    b.add_argument("--samples", type=int, help="TCP connects per target (2000)")
    b.add_argument("--throughput-seconds", type=float, help="length of the transfer (2; 0: off)")
    o = p.add_argument_group("output")
    o.add_argument("--json", type=Path, help="write the rows (and run facts) here")
    o.add_argument("--markdown", type=Path, help="write the markdown report here")
    o.add_argument("--plots", type=Path, help="write PNG plots into this directory")
    o.add_argument(
        "--from-json",
        type=Path,
        action="append",
        help="no measuring: report and plot a saved run (repeat to merge several runs)",
    )
    o.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _pick(value: float | int | None, quick: bool, quick_value: float, normal: float) -> float:
    if value is not None:
        return value
    return quick_value if quick else normal


def plan(args: argparse.Namespace) -> Plan:
    """The cases to run from the flags; ValueError with a readable message for bad ones."""
    quick = bool(args.quick)
    max_services = args.max_services or (
        grid.QUICK_SERVICES[-1] if quick else grid.DEFAULT_SERVICES[-1]
    )
    explicit = grid.parse_int_list(args.services, "--services") if args.services else None
    if explicit is None and quick:
        explicit = grid.QUICK_SERVICES
    services = grid.service_sizes(explicit, max_services)
    if not services:
        raise ValueError(f"no N value left at or under --max-services {max_services}")
    if args.endpoints:
        endpoints = grid.parse_int_list(args.endpoints, "--endpoints")
    else:
        endpoints = grid.QUICK_ENDPOINTS if quick else grid.DEFAULT_ENDPOINTS
    backends = grid.parse_backends(args.backends) if args.backends else grid.DEFAULT_BACKENDS
    limits = Limits(
        max_services=max_services,
        nft_max_services=int(_pick(args.nft_max_services, quick, 100, 20000)),
        iptc_max_services=int(_pick(args.iptc_max_services, quick, 100, 20000)),
        max_endpoints_total=args.max_endpoints_total,
    )
    cases, skipped = grid.build_cases(services, endpoints, backends, limits)
    return Plan(cases, skipped)


def settings(args: argparse.Namespace) -> Settings:
    q = bool(args.quick)
    s = Settings(
        budget=_pick(args.budget, q, QUICK_BUDGET, DEFAULT_BUDGET),
        dataplane=not args.skip_dataplane,
        restore_timeout=_pick(args.restore_timeout, q, 30, 300),
        append_timeout=_pick(args.append_timeout, q, 10, 60),
        partial_repeats=int(_pick(args.partial_repeats, q, 3, 5)),
        full_repeats=int(_pick(args.full_repeats, q, 1, 3)),
        samples=int(_pick(args.samples, q, 300, 2000)),
        throughput_seconds=_pick(args.throughput_seconds, q, 0.5, 2.0),
    )
    if s.budget <= 0 or s.restore_timeout <= 0 or s.append_timeout <= 0:
        raise ValueError("--budget, --restore-timeout and --append-timeout must be positive")
    if not 0 <= s.partial_repeats <= 256:
        raise ValueError("--partial-repeats must be in 0..256")
    if not 1 <= s.full_repeats <= 20:
        raise ValueError("--full-repeats must be in 1..20")
    if s.samples < 1 or s.throughput_seconds < 0:
        raise ValueError("--samples must be at least 1, --throughput-seconds not negative")
    return s


def write_outputs(
    rows: list[Row], meta: dict[str, object], args: argparse.Namespace, console: Console
) -> None:
    rows = finish(rows)
    if args.json:
        write_json(rows, args.json, meta)
        console.print(f"rows written to {args.json}")
    made: list[str] = []
    if args.plots:
        from kproxy.lab.plots import plot_all  # matplotlib only when plots are wanted

        base = args.markdown.parent if args.markdown else Path.cwd()
        for path in plot_all(rows, args.plots):
            made.append(os.path.relpath(path, base))
            console.print(f"plot written to {path}")
    text = report(rows, meta, made)
    if args.markdown:
        args.markdown.write_text(text)
        console.print(f"report written to {args.markdown}")
    else:
        print(text)


def merge_runs(
    runs: Sequence[tuple[list[Row], dict[str, Any]]],
) -> tuple[list[Row], dict[str, Any]]:
    """Several saved runs as one: every row, the first run's facts, and each run's command.
    A case measured in more than one run keeps the later run's rows."""
    rows: dict[tuple[object, ...], Row] = {}
    meta: dict[str, Any] = {}
    for k, (run_rows, run_meta) in enumerate(runs):
        if k == 0:
            meta.update(run_meta)
        else:
            meta[f"command (run {k + 1})"] = run_meta.get("command", "?")
            meta[f"date (run {k + 1})"] = run_meta.get("date", "?")
        for r in run_rows:
            key = (r.get("mode"), r["backend"], r["services"], r["endpoints_per_service"])
            if key not in rows or not str(r.get("status", "")).startswith("skipped"):
                rows[key] = r
    return list(rows.values()), meta


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (a CI timeout, ``kill``) unwinds like Ctrl-C: every namespace and process the
    # lab started is removed on the way out.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    if args.from_json:
        try:
            saved_rows, saved_meta = merge_runs([read_json(path) for path in args.from_json])
        except (OSError, ValueError) as e:
            parser.error(str(e))
        write_outputs(saved_rows, saved_meta, args, console)
        return 0
    try:
        the_plan = plan(args)
        the_settings = settings(args)
    except ValueError as e:
        parser.error(str(e))
    if os.geteuid() != 0:
        print(f"{PROG}: error: needs root (network namespaces, iptables)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    meta: dict[str, object] = {
        **environment(),
        "command": f"{PROG} " + " ".join(sys.argv[1:] if argv is None else argv),
        "budget_s": the_settings.budget,
    }
    rows, interrupted = run_cases(
        the_plan.cases, the_settings, console, show_progress=not args.no_progress
    )
    rows += [new_row(case, status=reason) for case, reason in the_plan.skipped]
    meta["wall_s"] = round(time.monotonic() - started, 1)
    if interrupted:
        meta["interrupted"] = "yes: the rows are those finished before the interrupt"
    write_outputs(rows, meta, args, console)
    if interrupted:
        print(f"{PROG}: interrupted; scratch namespaces removed", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
