"""Ending a child process we started: kill -9 (a crash, as its peers see it) or an orderly stop."""

from __future__ import annotations

import os
import signal
import subprocess


def kill(proc: subprocess.Popen[bytes] | None) -> None:
    """kill -9 and reap, if it is still running."""
    if proc is not None and proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM, then kill -9 after ``timeout`` seconds; reaped either way."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
