"""CRI container logs: the line format, the log server that writes them, rotation, and the kubelet's
reading (tail, since, timestamps, limitBytes, follow across rotation)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest

from kubelet_lite.runtime import log_server, logs, procfs
from kubelet_lite.server import logs as logview


def test_entries_round_trip_and_reject_other_text() -> None:
    ns = 1_700_000_000_123_456_789
    raw = logs.format_entry(ns, "stderr", False, b"hello world")
    assert raw == b"2023-11-14T22:13:20.123456789Z stderr F hello world\n"
    e = logs.parse_entry(raw)
    assert e == logs.Entry("2023-11-14T22:13:20.123456789Z", "stderr", False, b"hello world")
    assert logs.parse_entry(b"plain output line") is None
    assert logs.parse_rfc3339(e.time) == pytest.approx(1_700_000_000.123456789)
    assert logs.parse_rfc3339("yesterday") is None


def test_long_lines_are_split_into_partial_pieces_and_joined_back() -> None:
    line = b"x" * (logs.MAX_LINE * 2 + 10)
    pieces, rest = logs.split_pieces(line + b"\nnext", eof=False)
    assert [p for p, _ in pieces] == [True, True, False]
    assert b"".join(t for _, t in pieces) == line and rest == b"next"
    entries = [logs.Entry("t", "stdout", p, t) for p, t in pieces]
    assert logs.join_entries(entries) == [logs.Entry("t", "stdout", False, line)]
    assert logs.split_pieces(b"tail", eof=True) == ([(False, b"tail")], b"")


def test_rotation_keeps_at_most_max_files(tmp_path: Path) -> None:
    path = str(tmp_path / "0.log")
    f = logs.RotatingFile(path, max_size=64 * 1024, max_files=3)
    chunk = b"y" * 1000 + b"\n"
    for _ in range(300):  # ~300 KB through a 64 KiB file
        f.write(chunk)
    f.close()
    files = logs.attempt_files(path)
    assert len(files) == 3 and files[-1] == path
    assert all(os.path.getsize(p) <= 64 * 1024 for p in files)


SERVER_CHILD = """
import os, sys
from kubelet_lite.runtime import log_server
pid, sock = log_server.start()
print(pid, flush=True)
for path, script in [(sys.argv[1], "echo out1; echo err1 >&2; printf 'no newline'"),
                     (sys.argv[2], "echo other")]:
    out, err = log_server.hand_over(sock, path, 64 * 1024, 5)
    if os.fork() == 0:
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.execvp("sh", ["sh", "-c", script])
    os.close(out)
    os.close(err)
    os.wait()
"""


def test_the_log_server_writes_each_containers_streams_to_its_log(tmp_path: Path) -> None:
    one, two = tmp_path / "c" / "0.log", tmp_path / "d" / "0.log"
    one.parent.mkdir()
    two.parent.mkdir()
    r = subprocess.run(
        [sys.executable, "-c", SERVER_CHILD, str(one), str(two)],
        timeout=10,
        stdout=subprocess.PIPE,
    )
    assert r.returncode == 0
    server = int(r.stdout.split(b"\n")[0])  # what the sh wrote went to the logs, not here
    assert r.stdout == f"{server}\n".encode()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
        one.read_bytes().count(b"\n") < 3 or b"\n" not in two.read_bytes()
    ):
        time.sleep(0.01)
    entries = [logs.parse_entry(x) for x in one.read_bytes().splitlines()]
    got = sorted((e.stream, e.text) for e in entries if e is not None)
    assert got == [("stderr", b"err1"), ("stdout", b"no newline"), ("stdout", b"out1")]
    assert len(entries) == 3
    assert [logs.parse_entry(x) for x in two.read_bytes().splitlines()] == [
        logs.Entry(mock.ANY, "stdout", False, b"other")
    ]

    # Its zygote (here: the script) is gone and so is every writer: the server has ended (a
    # zombie until whoever inherited it reaps it).
    def ended() -> bool:
        st = procfs.read_stat(server)
        return st is None or st.state in ("Z", "X")

    while time.monotonic() < deadline + 5 and not ended():
        time.sleep(0.01)
    assert ended()


def test_a_log_that_cannot_be_opened_is_refused_before_the_server_sees_it(
    tmp_path: Path,
) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs, pytest.raises(FileNotFoundError):
        log_server.hand_over(ours, str(tmp_path / "missing" / "0.log"), 64 * 1024, 5)
    gone, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    peer.close()
    with gone, pytest.raises(log_server.ServerGone):
        log_server.hand_over(gone, str(tmp_path / "0.log"), 64 * 1024, 5)


def _write_log(path: Path, lines: list[tuple[float, str]]) -> None:
    with open(path, "ab") as f:
        for t, text in lines:
            f.write(logs.format_entry(int(t * 1e9), "stdout", False, text.encode()))


async def _collect(path: Path, opts: logview.LogOptions, ended: bool = True) -> bytes:
    out: list[bytes] = []

    async def write(data: bytes) -> None:
        out.append(data)

    await logview.send_log(str(path), opts, lambda: ended, write)
    return b"".join(out)


async def test_tail_since_timestamps_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    base = 1_700_000_000.0
    _write_log(path, [(base + i, f"line {i}") for i in range(10)])
    assert await _collect(path, logview.LogOptions(tail_lines=2)) == b"line 8\nline 9\n"
    assert await _collect(path, logview.LogOptions(tail_lines=0)) == b""
    since = logview.LogOptions(since=base + 7.5)
    assert await _collect(path, since) == b"line 8\nline 9\n"
    stamped = await _collect(path, logview.LogOptions(tail_lines=1, timestamps=True))
    assert stamped == logs.rfc3339nano(int((base + 9) * 1e9)).encode() + b" line 9\n"
    assert await _collect(path, logview.LogOptions(limit_bytes=10)) == b"line 0\nlin"


async def test_follow_sees_new_lines_across_rotation_and_ends_with_the_container(
    tmp_path: Path,
) -> None:
    path = tmp_path / "0.log"
    _write_log(path, [(time.time(), "first")])
    done = False
    out: list[bytes] = []

    async def write(data: bytes) -> None:
        out.append(data)

    task = asyncio.create_task(
        logview.send_log(str(path), logview.LogOptions(follow=True), lambda: done, write)
    )
    await asyncio.sleep(0.1)
    _write_log(path, [(time.time(), "second")])
    os.rename(path, f"{path}.20240101-000000")  # what RotatingFile does
    _write_log(path, [(time.time(), "third")])
    await asyncio.sleep(0.2)
    assert not task.done()
    done = True
    await asyncio.wait_for(task, 2)
    assert b"".join(out) == b"first\nsecond\nthird\n"


def test_bad_options_are_400_with_a_reason() -> None:
    with pytest.raises(logview.BadLogRequest, match="tailLines"):
        logview.parse_options({"tailLines": "x"}, 0.0)
    with pytest.raises(logview.BadLogRequest, match="at most one"):
        logview.parse_options({"sinceSeconds": "5", "sinceTime": "2024-01-01T00:00:00Z"}, 0.0)
    with pytest.raises(logview.BadLogRequest, match="sinceTime"):
        logview.parse_options({"sinceTime": "noon"}, 0.0)
    opts = logview.parse_options({"sinceSeconds": "5", "follow": "true"}, 100.0)
    assert opts.since == 95.0 and opts.follow
