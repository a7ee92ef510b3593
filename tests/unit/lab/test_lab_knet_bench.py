"""``knet bench rules`` starts the lab as a process, passing every argument through, passing
Ctrl-C/SIGTERM on to it, and showing bad input as one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from knet import bench, cli


class FakePopen:
    calls: list[list[str]] = []

    def __init__(self, argv: list[str], **kwargs: object) -> None:
        FakePopen.calls.append(argv)
        self.pid = -1

    def wait(self) -> int:
        return 7

    def poll(self) -> int | None:
        return 7


def test_arguments_pass_through_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    FakePopen.calls = []
    monkeypatch.setattr("knet.bench.subprocess.Popen", FakePopen)
    argv = ["--quick", "--services", "100,1000", "-h", "--json", "out.json"]
    assert cli.main(["bench", "rules", *argv]) == 7
    assert cli.main(["bench", "rules"]) == 7
    assert FakePopen.calls == [
        [sys.executable, "-m", "kproxy.lab", *argv],
        [sys.executable, "-m", "kproxy.lab"],
    ]


def test_sigterm_is_passed_on_and_waited_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The child gets the signal, finishes its own cleanup, and its exit status is ours."""
    ready, done = tmp_path / "ready", tmp_path / "done"
    child = (
        "import pathlib, signal, sys, time\n"
        "def bye(signum, frame):\n"
        "    time.sleep(0.3)  # cleaning up: the parent must wait for this\n"
        f"    pathlib.Path({str(done)!r}).write_text(str(signum))\n"
        "    sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(30)\n"
        "sys.exit(9)\n"
    )
    monkeypatch.setattr(bench, "rules_argv", lambda args: [sys.executable, "-c", child])

    def send_when_ready() -> None:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)  # our handler is in place once the child runs

    before = signal.getsignal(signal.SIGTERM)
    killer = threading.Thread(target=send_when_ready)
    killer.start()
    try:
        code = cli.main(["bench", "rules"])
    finally:
        killer.join()
    assert code == 3
    assert done.read_text() == str(int(signal.SIGTERM))
    assert signal.getsignal(signal.SIGTERM) is before


def test_help_comes_from_the_lab() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "knet.cli", "bench", "rules", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "--skip-dataplane" in out.stdout and "--budget" in out.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--services", "abc"], "--services: 'abc' is not a number"),
        (["--endpoints", "0"], "--endpoints: '0' is not a positive whole number"),
        (["--backends", "ipvs"], "--backends: unknown ipvs"),
        (["--budget", "soon"], "--budget: invalid float value: 'soon'"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--from-json", "/nonexistent/kt-lab.json"], "/nonexistent/kt-lab.json"),
    ],
)
def test_bad_input_is_one_line(args: list[str], words: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "knet.cli", "bench", "rules", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("knet bench rules: error: ") and words in lines[0], lines[0]


def test_knet_does_not_import_kproxy() -> None:
    code = (
        "import sys, knet.cli, knet.bench\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'kproxy')\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
