"""``knet machines down``: remove what the state file records, pass or fail, in reverse:
the relay, each machine (power-off, then kill), the overlay mounts, the directories, the
namespaces (and any process of ours still inside one), the state directory itself."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from knet.cluster import procs
from knet.machines import layout, machine, mounts
from knet.machines.state import MachinesState
from knet.netlink import netns
from knet.netlink.errors import NetlinkError

Printer = Callable[[str], None]
T = TypeVar("T")


@dataclass
class DownReport:
    problems: list[str] = field(default_factory=list)


def _stop_process(pid: int | None, ticks: int | None, grace: float = 5.0) -> None:
    if pid is None or not procs.is_alive(pid, ticks):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while procs.is_alive(pid, ticks) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if procs.is_alive(pid, ticks):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _kill_in_namespaces(names: list[str]) -> None:
    """Processes still inside one of our namespaces are ours (e.g. a command nsenter'd into a
    machine whose init was killed)."""
    inodes = [i for i in (procs.netns_inode(netns.path(n)) for n in names) if i is not None]
    for pid in procs.pids_in_netns(inodes):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def down(name: str, state_root: Path = layout.STATE_ROOT, out: Printer = print) -> DownReport:
    report = DownReport()
    directory = state_root / layout.validate_name(name)
    state = MachinesState.load(directory)
    if state is None:
        if directory.exists():
            mounts.remove_tree(directory)
        out(f"machines {name}: nothing recorded, nothing to remove")
        return report
    lay = layout.build(name, state.nodes, state_root)
    relay = state.process("relay")
    if relay is not None:
        _stop_process(relay.pid, relay.start_ticks)
    for m in lay.machines:
        try:
            machine.power_off(state, m)
        except machine.MachineError as exc:
            report.problems.append(str(exc))
    for rec in list(state.processes):  # anything else recorded
        _stop_process(rec.pid, rec.start_ticks)
    _kill_in_namespaces(state.namespaces)
    for point in reversed(state.mounts):
        _attempt(report, f"unmount {point}", mounts.unmount, point)
    for d in reversed(state.dirs):
        _attempt(report, f"remove {d}", mounts.remove_tree, Path(d))
    for ns in reversed(state.namespaces):
        _attempt(report, f"remove namespace {ns}", netns.remove, ns)
    if not report.problems:
        mounts.remove_tree(directory)
        out(f"machines {name} removed")
    return report


def _attempt(report: DownReport, what: str, fn: Callable[[T], object], arg: T) -> None:
    try:
        fn(arg)
    except (OSError, NetlinkError) as exc:
        report.problems.append(f"{what}: {exc}")
