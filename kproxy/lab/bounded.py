"""Subprocesses with a hard time limit: past it the process is killed by its pid.

Every iptables tool the lab starts goes through here, so no measurement can hang the run: a
restore that overruns is SIGKILLed (by the pid we started, never by name), reaped, and reported
as a timeout that the results show as ``timeout (> N s)``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from kproxy.backend.base import BackendError


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    returncode: int | None  # None when killed for overrunning
    stdout: str
    stderr: str
    seconds: float
    timeout: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Timeout(Exception):
    """A bounded step overran its budget (the process was killed)."""

    def __init__(self, what: str, budget: float) -> None:
        super().__init__(f"{what}: {timeout_text(budget)}")
        self.what = what
        self.budget = budget


def timeout_text(budget: float) -> str:
    """How results spell an overrun: ``timeout (> 300 s)``."""
    return f"timeout (> {budget:g} s)"


def kill_group_or_pid(proc: subprocess.Popen[str], group: bool) -> None:
    """SIGKILL the process we started (its whole process group if it leads one) and reap it."""
    try:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended on its own just now
    proc.communicate()


def run_bounded(
    argv: Sequence[str],
    stdin: str | None = None,
    *,
    timeout: float,
    new_session: bool = False,
    env: Mapping[str, str] | None = None,
) -> Outcome:
    """Run ``argv`` (no shell) with ``stdin``; kill it by pid after ``timeout`` seconds.

    ``new_session`` starts it as the leader of its own process group, so a timeout also takes
    down anything it started (e.g. the iptables-restore under a measuring child).
    """
    if isinstance(argv, str):
        raise TypeError("argv must be a sequence of arguments, not a string")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, not {timeout}")
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=new_session,
            env=dict(env) if env is not None else None,
        )
    except FileNotFoundError as e:
        raise BackendError(f"{argv[0]} not found: {e}") from None
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group_or_pid(proc, new_session)
        return Outcome(tuple(argv), None, "", "", time.perf_counter() - started, timeout)
    except BaseException:
        kill_group_or_pid(proc, new_session)  # e.g. Ctrl-C: never leave it running
        raise
    return Outcome(tuple(argv), proc.returncode, out, err, time.perf_counter() - started, timeout)


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the block (they are delivered right after it), so an
    impatient Ctrl-C cannot interrupt the creation or the removal of a namespace half-way."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
