"""Container logs in the CRI format: the file writer (``RotatingFile``, used by the log server,
log_server.py) and the pure helpers the server and the kubelet's readers share.

Each line of ``<attempt>.log`` is ``<RFC3339Nano> <stdout|stderr> <P|F> <text>``: ``F`` ends a
line the container wrote, ``P`` is a piece of a line longer than ``MAX_LINE`` (the next pieces
follow, the last one is ``F``). When the file would grow past ``max_size`` it is renamed to
``<attempt>.log.<UTC time>`` and a new one begun; at most ``max_files`` files are kept per
attempt, as the kubelet's ``--container-log-max-size``/``--container-log-max-files`` do.

Standard library only: the zygote imports this.
"""

from __future__ import annotations

import calendar
import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

MAX_LINE = 16 * 1024  # longer lines are split into P pieces, as containerd does
DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 5
STREAMS = ("stdout", "stderr")


# ---------------------------------------------------------------------------------- format


def rfc3339nano(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_rfc3339(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (with or without fraction); None if bad."""
    s = text.strip()
    if not s.endswith("Z") or len(s) < 20:
        return None
    base, _, frac = s[:-1].partition(".")
    try:
        t = time.strptime(base, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    if frac and not frac.isdigit():
        return None
    return calendar.timegm(t) + (float("0." + frac) if frac else 0.0)


def format_entry(ns: int, stream: str, partial: bool, text: bytes) -> bytes:
    tag = b"P" if partial else b"F"
    return rfc3339nano(ns).encode() + b" " + stream.encode() + b" " + tag + b" " + text + b"\n"


@dataclass(frozen=True)
class Entry:
    time: str  # as written, RFC3339Nano
    stream: str
    partial: bool
    text: bytes  # without the newline


def parse_entry(line: bytes) -> Entry | None:
    """One CRI log line (with or without its newline); None if it is not one."""
    line = line.rstrip(b"\n")
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"P", b"F"):
        return None
    return Entry(
        parts[0].decode(errors="replace"),
        parts[1].decode(),
        parts[2] == b"P",
        parts[3] if len(parts) == 4 else b"",
    )


def join_entries(entries: Iterable[Entry]) -> list[Entry]:
    """Whole lines: P pieces joined with the F that ends them (time of the first piece)."""
    out: list[Entry] = []
    pending: dict[str, list[Entry]] = {}
    for e in entries:
        parts = pending.setdefault(e.stream, [])
        parts.append(e)
        if not e.partial:
            out.append(Entry(parts[0].time, e.stream, False, b"".join(p.text for p in parts)))
            del pending[e.stream]
    return out


def decode_text(data: bytes) -> str:
    """The text of a CRI log (or of plain output, which passes through), lines joined."""
    lines = []
    for raw in data.splitlines():
        e = parse_entry(raw)
        lines.append(raw if e is None else e.text)
    return b"\n".join(lines).decode(errors="replace")


# ---------------------------------------------------------------------------------- files


def rotated_files(path: str) -> list[str]:
    """The rotated files of ``path`` (``path.<time>``), oldest first."""
    d, base = os.path.split(path)
    try:
        names = os.listdir(d or ".")
    except FileNotFoundError:
        return []
    prefix = base + "."
    return [os.path.join(d, n) for n in sorted(n for n in names if n.startswith(prefix))]


def attempt_files(path: str) -> list[str]:
    """Every file of one attempt's log, oldest first; the live file last if it exists."""
    files = rotated_files(path)
    if os.path.exists(path):
        files.append(path)
    return files


class RotatingFile:
    """Appends whole entries to ``path``, rotating by size."""

    def __init__(self, path: str, max_size: int, max_files: int, fd: int | None = None) -> None:
        """``fd``: ``path`` opened for appending already (else it is opened here)."""
        self.path = path
        self.max_size = max(max_size, MAX_LINE * 2)
        self.max_files = max(max_files, 1)
        if fd is None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.fd = fd
        self.size = os.fstat(self.fd).st_size

    def write(self, data: bytes) -> None:
        if self.size and self.size + len(data) > self.max_size:
            self.rotate()
        os.write(self.fd, data)
        self.size += len(data)

    def rotate(self) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}"
        os.rename(self.path, f"{self.path}.{stamp}")
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.size = 0
        old = rotated_files(self.path)
        for stale in old[: max(len(old) - (self.max_files - 1), 0)]:
            with contextlib.suppress(OSError):
                os.unlink(stale)

    def close(self) -> None:
        os.close(self.fd)


def split_pieces(buf: bytes, eof: bool) -> tuple[list[tuple[bool, bytes]], bytes]:
    """(pieces as (partial, text), rest to keep): whole lines are F, overlong runs P pieces;
    at EOF what is left is a last F."""
    out: list[tuple[bool, bytes]] = []
    while True:
        nl = buf.find(b"\n", 0, MAX_LINE + 1)
        if nl >= 0:
            out.append((False, buf[:nl]))
            buf = buf[nl + 1 :]
        elif len(buf) >= MAX_LINE:
            out.append((True, buf[:MAX_LINE]))
            buf = buf[MAX_LINE:]
        else:
            break
    if eof and buf:
        out.append((False, buf))
        buf = b""
    return out, buf
