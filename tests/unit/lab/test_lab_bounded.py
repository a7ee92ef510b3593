"""Bounded subprocesses: results, and killing by pid on overrun."""

from __future__ import annotations

import sys
import tempfile
import time

import pytest

from kproxy.backend.base import BackendError
from kproxy.lab.backends import BoundedRunner
from kproxy.lab.bounded import run_bounded, timeout_text


def _alive(pid: int) -> bool:
    """Running (a killed orphan may linger as a zombie until something reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_runs_with_stdin_and_captures_output() -> None:
    code = "import sys; data = sys.stdin.read(); print(len(data)); sys.exit(3)"
    out = run_bounded([sys.executable, "-c", code], "abcd", timeout=30)
    assert out.returncode == 3 and not out.ok and not out.timed_out
    assert out.stdout.strip() == "4"
    assert out.seconds > 0


def test_overrun_is_killed_and_reported() -> None:
    code = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    out = run_bounded([sys.executable, "-c", code], timeout=0.5, new_session=True)
    assert out.timed_out and out.returncode is None
    assert out.timeout == 0.5


def test_overrun_kills_the_whole_group() -> None:
    # The child starts a grandchild and reports its pid through a file; both must die.
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "open(sys.argv[1], 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    with tempfile.NamedTemporaryFile("r", prefix="kt-lab-") as f:
        out = run_bounded([sys.executable, "-c", code, f.name], timeout=2.0, new_session=True)
        assert out.timed_out
        grandchild = int(f.read())
    for _ in range(100):  # SIGKILL is delivered asynchronously; reaped by init
        if not _alive(grandchild):
            break
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_argv_must_not_be_a_string() -> None:
    with pytest.raises(TypeError):
        run_bounded("echo hi", timeout=1)
    with pytest.raises(ValueError):
        run_bounded(["true"], timeout=0)


def test_missing_program() -> None:
    with pytest.raises(BackendError, match="not found"):
        run_bounded(["kt-lab-no-such-program"], timeout=5)


def test_timeout_text() -> None:
    assert timeout_text(300.0) == "timeout (> 300 s)"
    assert timeout_text(2.5) == "timeout (> 2.5 s)"


def test_bounded_runner_turns_an_overrun_into_a_backend_error() -> None:
    runner = BoundedRunner()
    done = runner([sys.executable, "-c", "print('ok')"], None, 30)
    assert done.returncode == 0 and done.stdout.strip() == "ok"
    with pytest.raises(BackendError, match=r"timeout \(> 0.3 s\)"):
        runner([sys.executable, "-c", "import time; time.sleep(60)"], None, 0.3)
    assert len(runner.timeouts) == 1
