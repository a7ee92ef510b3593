"""Reading /proc: a process's start time (to tell a pid from a reused one) and its session.

Standard library only (the zygote imports this).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    start_ticks: int  # clock ticks after boot; with the pid, names one process for good


def read_stat(pid: int) -> ProcStat | None:
    """The process's /proc/<pid>/stat, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    # comm (field 2) is in parentheses and may itself contain ") ": split at the last one.
    rest = raw[raw.rfind(b")") + 2 :].split()
    if len(rest) < 20:
        return None
    return ProcStat(
        pid=pid,
        state=rest[0].decode(),
        ppid=int(rest[1]),
        pgrp=int(rest[2]),
        session=int(rest[3]),
        start_ticks=int(rest[19]),
    )


def start_ticks(pid: int) -> int | None:
    st = read_stat(pid)
    return st.start_ticks if st is not None else None


def is_same_process(pid: int, ticks: int) -> bool:
    """True when ``pid`` is alive (not a zombie) and is the process that started at ``ticks``."""
    st = read_stat(pid)
    return st is not None and st.start_ticks == ticks and st.state not in ("Z", "X")


def is_pid_namespace_init(pid: int) -> bool:
    """True when ``pid`` is PID 1 of a PID namespace below ours (its NSpid ends in 1)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"NSpid:"):
                    ids = line.split()[1:]
                    return len(ids) > 1 and ids[-1] == b"1"
    except OSError:
        pass
    return False


def session_members(sid: int) -> list[int]:
    """Live processes in session ``sid`` (each container leads its own session)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = read_stat(int(name))
        if st is not None and st.session == sid and st.state not in ("Z", "X"):
            out.append(st.pid)
    return sorted(out)


def has_env(pid: int, entry: bytes) -> bool:
    """True when the process's initial environment holds ``entry`` (``b"NAME=value"``)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return entry in f.read().split(b"\0")
    except OSError:
        return False
