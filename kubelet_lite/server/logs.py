"""``/containerLogs/{ns}/{pod}/{container}``: reading a container's CRI log as the kubelet does.

The options are the kubelet's query parameters (``follow``, ``tailLines``, ``sinceSeconds`` or
``sinceTime``, ``timestamps``, ``previous``, ``limitBytes``); parsing them is pure and so is
selecting and rendering lines. Following polls the live file (rotation is noticed by its inode
changing) and ends once the container's attempt has ended and everything it wrote was sent.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from kubelet_lite.runtime import logs

FOLLOW_POLL = 0.02  # seconds between looks at a quiet live file
READ_CHUNK = 256 * 1024


class BadLogRequest(ValueError):
    """A query the kubelet answers with 400; the message is upstream's wording."""


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    tail_lines: int | None = None
    since: float | None = None  # seconds since the epoch
    timestamps: bool = False
    previous: bool = False
    limit_bytes: int | None = None


def _bool(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "false").lower()
    if value in ("1", "t", "true"):
        return True
    if value in ("", "0", "f", "false"):
        return False
    raise BadLogRequest(f"{name}: invalid value {value!r}, want a boolean")


def _int(query: Mapping[str, str], name: str, minimum: int) -> int | None:
    if name not in query:
        return None
    try:
        value = int(query[name])
    except ValueError:
        raise BadLogRequest(f"{name}: invalid value {query[name]!r}, want an integer") from None
    if value < minimum:
        raise BadLogRequest(f"{name}: must be at least {minimum}")
    return value


def parse_options(query: Mapping[str, str], now: float) -> LogOptions:
    since: float | None = None
    seconds = _int(query, "sinceSeconds", 1)
    if seconds is not None and "sinceTime" in query:
        raise BadLogRequest("at most one of sinceTime or sinceSeconds may be specified")
    if seconds is not None:
        since = now - seconds
    elif "sinceTime" in query:
        since = logs.parse_rfc3339(query["sinceTime"])
        if since is None:
            raise BadLogRequest(f"sinceTime: invalid value {query['sinceTime']!r}, want RFC3339")
    return LogOptions(
        follow=_bool(query, "follow"),
        tail_lines=_int(query, "tailLines", 0),
        since=since,
        timestamps=_bool(query, "timestamps"),
        previous=_bool(query, "previous"),
        limit_bytes=_int(query, "limitBytes", 1),
    )


def render(entry: logs.Entry, timestamps: bool) -> bytes:
    line = entry.text + b"\n"
    return entry.time.encode() + b" " + line if timestamps else line


def wanted(entry: logs.Entry, opts: LogOptions) -> bool:
    if opts.since is None:
        return True
    t = logs.parse_rfc3339(entry.time)
    return t is None or t >= opts.since


def select(raw: bytes, opts: LogOptions) -> list[logs.Entry]:
    """The whole lines of ``raw`` (CRI log text) that the options ask for, in order."""
    parsed = (logs.parse_entry(line) for line in raw.splitlines())
    entries = [e for e in logs.join_entries(e for e in parsed if e is not None) if wanted(e, opts)]
    if opts.tail_lines is not None:
        entries = entries[-opts.tail_lines :] if opts.tail_lines else []
    return entries


Write = Callable[[bytes], Awaitable[None]]


class Budget:
    """What ``limitBytes`` leaves to send."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def cut(self, data: bytes) -> bytes:
        if self.left is None:
            return data
        data = data[: self.left]
        self.left -= len(data)
        return data

    @property
    def spent(self) -> bool:
        return self.left is not None and self.left <= 0


async def send_log(path: str, opts: LogOptions, ended: Callable[[], bool], write: Write) -> None:
    """Send the log of one attempt (``path`` is its live file) to ``write``."""
    budget = Budget(opts.limit_bytes)
    files = logs.attempt_files(path)
    history = b"".join(_read_all(f) for f in files[:-1])
    fd = None
    if files and files[-1] == path:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        history += _read_to_end(fd)
    else:
        history += b"".join(_read_all(f) for f in files[-1:])
    complete, _, rest = history.rpartition(b"\n")
    out = b"".join(render(e, opts.timestamps) for e in select(complete, opts))
    await write(budget.cut(out))
    if not opts.follow or budget.spent:
        if fd is not None:
            os.close(fd)
        return
    try:
        await _follow(path, fd, rest, opts, ended, write, budget)
    finally:
        if fd is not None:
            os.close(fd)


async def _follow(
    path: str,
    fd: int | None,
    rest: bytes,
    opts: LogOptions,
    ended: Callable[[], bool],
    write: Write,
    budget: Budget,
) -> None:
    pending: dict[str, list[logs.Entry]] = {}
    buf = rest
    while not budget.spent:
        fd, data = read_live(path, fd)
        if not data:
            if ended():
                fd, data = read_live(path, fd)  # what it wrote just before it ended
                if not data:
                    return
            else:
                await asyncio.sleep(FOLLOW_POLL)
                continue
        buf += data
        complete, _, buf = buf.rpartition(b"\n")  # a torn last line waits for its end
        out = []
        for line in complete.splitlines():
            e = logs.parse_entry(line)
            if e is None:
                continue
            parts = pending.setdefault(e.stream, [])
            parts.append(e)
            if not e.partial:
                whole = logs.join_entries(parts)[0]
                del pending[e.stream]
                if wanted(whole, opts):
                    out.append(render(whole, opts.timestamps))
        if out:
            await write(budget.cut(b"".join(out)))


def read_live(path: str, fd: int | None) -> tuple[int | None, bytes]:
    """New bytes of the live file; moves to the new file once the old one is rotated away and
    read to its end."""
    data = _read_to_end(fd) if fd is not None else b""
    if data:
        return fd, data
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return fd, b""
    if fd is not None and (st.st_ino, st.st_dev) == _ident(fd):
        return fd, b""
    if fd is not None:
        os.close(fd)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    return fd, _read_to_end(fd)


def _ident(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_ino, st.st_dev


def _read_to_end(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, READ_CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_all(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def now() -> float:
    return time.time()
