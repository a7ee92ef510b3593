"""Processes, identified by pid *and* start time (so a reused pid is never mistaken for ours),
and found by what they belong to: a network namespace of the cluster or its state directory.

Nothing here looks at process names: a process is the cluster's because we recorded it, because
it lives in one of the cluster's namespaces, or because it was started in the cluster directory
with its files on its command line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str  # R, S, D, Z, ...
    ppid: int
    start_ticks: int  # clock ticks after boot: with the pid, identifies one process


def parse_stat(pid: int, text: str) -> ProcStat:
    """Parse /proc/<pid>/stat; the command name may hold spaces and parentheses, so split at
    the last ')'."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); starttime is field 22.
    return ProcStat(pid=pid, state=rest[0], ppid=int(rest[1]), start_ticks=int(rest[19]))


def read_stat(pid: int) -> ProcStat | None:
    try:
        return parse_stat(pid, (PROC / str(pid) / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def start_ticks(pid: int) -> int | None:
    st = read_stat(pid)
    return None if st is None else st.start_ticks


def is_alive(pid: int, ticks: int | None) -> bool:
    """The process ``pid`` that started at ``ticks`` still runs (a zombie has ended)."""
    st = read_stat(pid)
    if st is None or st.state in ("Z", "X"):
        return False
    return ticks is None or st.start_ticks == ticks


def all_pids() -> list[int]:
    return [int(e) for e in os.listdir(PROC) if e.isdigit()]


def netns_inode(path: str | Path) -> int | None:
    """Inode of a namespace file (/run/netns/X or /proc/<pid>/ns/net), None when gone."""
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def pids_in_netns(inodes: Iterable[int]) -> list[int]:
    """Live processes whose network namespace is one of ``inodes``."""
    wanted = set(inodes)
    if not wanted:
        return []
    found = []
    for pid in all_pids():
        if pid == os.getpid():
            continue
        ino = netns_inode(PROC / str(pid) / "ns" / "net")
        if ino in wanted and is_alive(pid, None):
            found.append(pid)
    return sorted(found)


def cmdline(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="surrogateescape") for a in raw.split(b"\0")[:-1]]


def pids_spawned_in(directory: Path) -> list[int]:
    """Live processes started the way `up` starts them: working directory ``directory`` and a
    command line naming a path inside it (every component is given its files there).

    So one spawned just before a crash, whose pid never reached the record, is still found; a
    user's shell that merely sits in the directory is not.
    """
    root = os.path.realpath(directory)
    found = []
    for pid in all_pids():
        if pid == os.getpid():
            continue
        try:
            cwd = os.readlink(PROC / str(pid) / "cwd")
        except OSError:
            continue
        if cwd != root:
            continue
        argv = cmdline(pid) or []
        # "In" rather than "starts with": kubelet-lite's sandbox workers name their directories
        # inside a JSON argument.
        if any(root + os.sep in a for a in argv) and is_alive(pid, None):
            found.append(pid)
    return sorted(found)


def find_started(directory: Path, argvs: Sequence[Sequence[str]]) -> tuple[int, int] | None:
    """(pid, start ticks) of a live process spawned in ``directory`` with one of ``argvs`` as
    its exact command line: one we spawned but could not record before a crash."""
    wanted = [list(a) for a in argvs]
    for pid in pids_spawned_in(directory):
        if cmdline(pid) in wanted:
            st = read_stat(pid)
            if st is not None:
                return pid, st.start_ticks
    return None


def _signal(pid: int, ticks: int | None, sig: int) -> bool:
    if not is_alive(pid, ticks):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
        return True
    return False


def _reap(pid: int) -> None:
    # Our own children (in tests, or a subreaper) would stay zombies otherwise.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(targets: Iterable[tuple[int, int | None]], grace: float = 10.0) -> list[int]:
    """SIGTERM each (pid, start ticks) still alive, wait up to ``grace`` seconds, then SIGKILL
    what is left. Returns the pids that were signalled."""
    signalled = [(pid, t) for pid, t in targets if _signal(pid, t, signal.SIGTERM)]
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for pid, _ in signalled:
            _reap(pid)
        if not any(is_alive(pid, t) for pid, t in signalled):
            break
        time.sleep(0.05)
    for pid, t in signalled:
        _signal(pid, t, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(is_alive(p, t) for p, t in signalled):
        for pid, _ in signalled:
            _reap(pid)
        time.sleep(0.02)
    return [pid for pid, _ in signalled]
