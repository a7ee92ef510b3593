"""Runs the grid: one case at a time, each in fresh scratch namespaces, within the budget."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from kproxy.lab import workload as w
from kproxy.lab.backends import BackendSpec, backend_spec
from kproxy.lab.bounded import Timeout, run_bounded, timeout_text
from kproxy.lab.grid import Case, Planner
from kproxy.lab.measures import (
    MeasureFailed,
    UserspaceProxy,
    append_one_rule,
    connect_latency,
    transfer,
)
from kproxy.lab.results import Row, new_row
from kproxy.lab.topology import PREFIX, ScratchNamespace, Topology, child_env, python_argv
from kproxy.lab.userspace import BACKEND as USERSPACE_BACKEND
from kproxy.lab.userspace import MAX_SERVICES as USERSPACE_MAX_SERVICES

Step = Callable[[str], None]
# Kept back from the budget for the report and plots.
RESERVE_S = 10.0
# Fields the control-plane child reports that go into the row as they are.
_CONTROL_FIELDS = (
    "feed_s",
    "full_sync_s",
    "full_sync_runs_s",
    "restore_floor_s",
    "restore_floor_runs_s",
    "partial_restore_floor_s",
    "restore_s",
    "save_s",
    "render_s",
    "restore_bytes",
    "rules",
    "rules_nat",
    "rules_filter",
    "partial_sync_s",
    "partial_sync_max_s",
    "partial_restore_s",
    "partial_restore_bytes",
    "partial_samples",
    "partial_add_service_s",
    "full_resync_s",
    "append_one_rule_empty_s",
    "append_one_rule_s",
    "rss_mb",
    "peak_rss_mb",
)


@dataclass(frozen=True)
class Settings:
    budget: float
    dataplane: bool
    restore_timeout: float
    append_timeout: float
    partial_repeats: int
    full_repeats: int
    samples: int
    throughput_seconds: float


# python-iptables writes the same x_tables rules as restore-legacy: the same data plane, not
# measured twice.
IPTABLES_DATAPLANE = frozenset({"restore-legacy", "restore-nft"})
# Fields of the userspace child's result that go into its row as they are.
_USERSPACE_FIELDS = (
    "feed_s",
    "full_sync_s",
    "restore_floor_s",
    "restore_s",
    "save_s",
    "render_s",
    "restore_bytes",
    "rules",
    "partial_sync_s",
    "partial_sync_max_s",
    "partial_samples",
    "partial_add_service_s",
    "partial_restore_s",
    "partial_restore_bytes",
    "rss_mb",
    "peak_rss_mb",
)


class CaseRun:
    """One case: namespaces up, control plane, floor, one-rule append, data plane, then (for
    restore-legacy) the userspace mode in the same namespaces, down. One row per mode."""

    def __init__(
        self,
        case: Case,
        settings: Settings,
        stop_at: float,
        step: Step,
        append_gave_up: set[str] | None = None,
    ) -> None:
        self.case = case
        self.spec: BackendSpec = backend_spec(case.backend)
        self.s = settings
        self.stop_at = stop_at
        self.step = step
        self.row = new_row(case)
        self.rows = [self.row]
        self.tag = secrets.token_hex(3)
        # Backends whose one-rule append already overran at a smaller size (shared).
        self.append_gave_up = append_gave_up if append_gave_up is not None else set()
        self.dataplane = settings.dataplane and case.backend in IPTABLES_DATAPLANE
        self.userspace = case.backend == USERSPACE_BACKEND
        self.first: str | None = None  # the first and last Service in nat KUBE-SERVICES
        self.last: str | None = None

    def left(self, cap: float) -> float:
        """A step's time limit: its own cap, or what the budget has left (at least 1 s)."""
        return max(1.0, min(cap, self.stop_at - time.monotonic()))

    def run(self) -> list[Row]:
        started = time.monotonic()
        row = self.row
        try:
            with Topology(self.tag, dataplane=self.dataplane) as topo:
                self._measure(topo)
                if self.userspace:
                    row = new_row(self.case, mode="userspace")
                    self.rows.append(row)
                    self._userspace(topo, row)
        except Timeout as e:
            row["status"] = str(e)
        except (MeasureFailed, OSError, RuntimeError, ValueError) as e:
            row["status"] = f"error: {e}"
        finally:
            wall = time.monotonic() - started
            for r in self.rows:
                r["wall_s"] = wall
        return self.rows

    def _measure(self, topo: Topology) -> None:
        self.step("kproxy syncs vs iptables-restore alone")
        self._control(topo)
        if self.row["full_sync_s"] is None:
            return
        if self.spec.name != "python-iptables":
            self.step("one iptables -A")
            self._append(topo)
        if self.dataplane:
            self.step("iptables data plane")
            self._dataplane(topo, self.row, self.first, self.last)
            self.row["dataplane"] = f"iptables ({self.spec.variant})"

    def _userspace(self, topo: Topology, row: Row) -> None:
        if self.case.services > USERSPACE_MAX_SERVICES:
            row["status"] = f"skipped: userspace runs up to {USERSPACE_MAX_SERVICES:,} services"
            return
        self.step("userspace mode: syncs")
        args = [
            "--services",
            str(self.case.services),
            "--endpoints",
            str(self.case.endpoints),
            "--partial-repeats",
            str(self.s.partial_repeats),
            "--restore-timeout",
            str(self.s.restore_timeout),
        ]
        if not self.dataplane:
            args.append("--no-serve")
        with UserspaceProxy(topo.node, args) as proxy:
            result = proxy.start(self.left(self.stop_at - time.monotonic()))
            for key in _USERSPACE_FIELDS:
                if key in result:
                    row[key] = result[key]
            row["status"] = result.get("status", "ok")
            row["notes"].extend(result.get("notes") or ())
            if row["status"] != "ok" or not self.dataplane:
                return
            self.step("userspace data plane")
            self._dataplane(topo, row, result.get("first_service"), result.get("last_service"))
            row["dataplane"] = "userspace (legacy)"

    def _control(self, topo: Topology) -> None:
        case = self.case
        args = [
            "--backend",
            case.backend,
            "--services",
            str(case.services),
            "--endpoints",
            str(case.endpoints),
            "--partial-repeats",
            str(self.s.partial_repeats),
            "--full-repeats",
            str(self.s.full_repeats),
            "--restore-timeout",
            str(self.s.restore_timeout),
            "--append-timeout",
            str(self.s.append_timeout),
            "--expect-netns",
            topo.node,
        ]
        budget = self.left(self.stop_at - time.monotonic())
        out = run_bounded(
            python_argv(topo.node, "kproxy.lab.control", args),
            timeout=budget,
            new_session=True,  # a timeout kills the child and its iptables-restore together
            env=child_env(),
        )
        if out.timed_out:
            raise Timeout("kproxy syncs (killed)", budget)
        try:
            result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            tail = out.stderr.strip()[-400:] or f"exit {out.returncode}"
            raise MeasureFailed(f"control-plane child failed: {tail}") from None
        for key in _CONTROL_FIELDS:
            if key in result:
                self.row[key] = result[key]
        self.row["status"] = result.get("status", "ok")
        self.row["notes"].extend(result.get("notes") or ())
        self.first = result.get("first_service")
        self.last = result.get("last_service")
        if self.row["status"] != "ok" and out.stderr.strip():
            self.row["notes"].append(out.stderr.strip().splitlines()[-1][:300])

    def _append(self, topo: Topology) -> None:
        if self.spec.name in self.append_gave_up:
            self.row["notes"].append("one iptables -A: not tried, it overran at a smaller size")
            return
        timeout = self.left(self.s.append_timeout)
        with ScratchNamespace(f"{PREFIX}{self.tag}-e") as empty:
            self.row["append_one_rule_empty_s"] = append_one_rule(self.spec, empty, 3, timeout)
        try:
            self.row["append_one_rule_s"] = append_one_rule(self.spec, topo.node, 3, timeout)
        except Timeout as e:
            # Worth showing, not worth losing the rest of the row for; bigger tables are
            # not tried again.
            self.row["notes"].append(f"one iptables -A: {e}")
            self.append_gave_up.add(self.spec.name)

    def _dataplane(self, topo: Topology, row: Row, first: str | None, last: str | None) -> None:
        m = self.case.endpoints
        targets = {
            "first": f"{first}:{w.SERVICE_PORT}",
            "last": f"{last}:{w.SERVICE_PORT}",
            # A pod address: matches no Service, so it walks all of KUBE-SERVICES.
            "pod": f"{w.endpoint_ip(0, 0, m)}:{w.TARGET_PORT}",
        }
        self.step("connect latency")
        fields = connect_latency(topo, targets, self.s.samples, self.left(180.0))
        row.update({k: v for k, v in fields.items() if k in row})
        if self.s.throughput_seconds > 0:
            self.step("throughput")
            row["throughput_mbit_s"] = transfer(
                topo, targets["last"], self.s.throughput_seconds, self.left(60.0)
            )


def missing_tools(spec: BackendSpec) -> str | None:
    tools = [spec.restore_tool, spec.iptables, "nsenter"]
    absent = [t for t in tools if shutil.which(t) is None]
    return f"skipped: {', '.join(absent)} not installed" if absent else None


def run_cases(
    cases: list[Case],
    settings: Settings,
    console: Console,
    *,
    show_progress: bool = True,
) -> tuple[list[Row], bool]:
    """(rows, interrupted). A Ctrl-C (or SIGTERM turned into one) ends the run after the
    current case's namespaces and processes are gone; the rows so far are kept."""
    started = time.monotonic()
    deadline = started + settings.budget - RESERVE_S
    planner = Planner()
    append_gave_up: set[str] = set()
    rows: list[Row] = []
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[left]}"),
        console=console,
        disable=not show_progress,
    ) as progress:
        task = progress.add_task("rule-scaling lab", total=len(cases), left="")
        pending: Case | None = None
        try:
            for case in cases:
                pending = case
                done = _one_case(case, settings, deadline, planner, append_gave_up, progress, task)
                rows += done
                pending = None
                progress.advance(task)
                for row in done:
                    console.print(summary(row))
        except KeyboardInterrupt:
            if pending is not None:
                rows.append(new_row(pending, status="interrupted"))
            return rows, True
    return rows, False


def _one_case(
    case: Case,
    settings: Settings,
    deadline: float,
    planner: Planner,
    append_gave_up: set[str],
    progress: Progress,
    task: TaskID,
) -> list[Row]:
    remaining = deadline - time.monotonic()
    left = f"{max(remaining, 0):,.0f} s of budget left"

    def step(text: str) -> None:
        progress.update(task, description=f"{case}: {text}", left=left)

    reason = missing_tools(backend_spec(case.backend)) or planner.skip_reason(case, remaining)
    if reason is None and remaining < 5:
        reason = "skipped: budget used up"
    if reason is not None:
        return [new_row(case, status=reason)]
    done = CaseRun(case, settings, deadline, step, append_gave_up).run()
    timed_out = "timeout" in str(done[0]["status"])
    planner.record(case, float(done[0]["wall_s"]), timed_out)
    return done


def summary(row: Row) -> str:
    head = f"{row['backend']} {row['services']:,} x {row['endpoints_per_service']}"
    if row["mode"] != "iptables":
        head = f"{row['mode']} ({head})"
    if row["full_sync_s"] is None:
        return f"{head}: {row['status']}"
    parts = [f"full {row['full_sync_s']:.2f} s"]
    if row.get("restore_floor_s"):
        parts.append(f"alone {row['restore_floor_s']:.2f} s")
    if row.get("partial_sync_s") is not None:
        parts.append(f"partial {row['partial_sync_s'] * 1000:.0f} ms")
    if row.get("connect_last_p50_us") is not None:
        parts.append(f"connect last p50 {row['connect_last_p50_us']:.0f} µs")
    status = "" if row["status"] == "ok" else f" [{row['status']}]"
    return f"{head}: " + ", ".join(parts) + status


def environment() -> dict[str, Any]:
    """Facts about the machine that the figures depend on."""
    meta: dict[str, Any] = {
        "kernel": os.uname().release,
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }
    for variant in ("legacy", "nft"):
        tool = f"iptables-{variant}"
        if shutil.which(tool):
            out = run_bounded([tool, "--version"], timeout=10)
            meta[tool] = out.stdout.strip() or out.stderr.strip()
    return meta


__all__ = ["CaseRun", "Settings", "environment", "run_cases", "summary", "timeout_text"]
