"""Moving bytes between two connected TCP sockets, both directions, until both are done.

Two implementations with one signature, so the faster one can be measured and chosen:

* ``copy_splice``: zero-copy through a pipe per direction with ``os.splice`` (Linux): the data
  never enters Python, only readiness events do, handled by callbacks rather than tasks (a
  short connection is mostly overhead, so it should cost few objects and system calls);
* ``copy_buffered``: the loop's ``sock_recv_into``/``sock_sendall`` through a reused buffer.

A direction that reaches EOF half-closes its destination (``shutdown(SHUT_WR)``), so
request/response protocols that rely on half-close work; an error in either direction ends both.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Copier = Callable[[socket.socket, socket.socket], Awaitable[None]]

CHUNK = 1 << 18
_PIPE_SIZE = 1 << 20
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def splice_available() -> bool:
    return hasattr(os, "splice")


class _PipePool:
    """Empty pipes kept for the next connection: a short connection would otherwise spend
    more system calls making, sizing and closing its two pipes than moving its bytes."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._free: list[tuple[int, int]] = []

    def take(self) -> tuple[int, int]:
        if self._free:
            return self._free.pop()
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        with contextlib.suppress(OSError):
            fcntl.fcntl(w, _F_SETPIPE_SZ, _PIPE_SIZE)  # bigger moves per wake-up; optional
        return r, w

    def give(self, pipe: tuple[int, int], empty: bool) -> None:
        """Keep ``pipe`` if it holds nothing (bytes left in it would leak into the next
        connection), else close it."""
        if empty and len(self._free) < self.limit:
            self._free.append(pipe)
        else:
            os.close(pipe[0])
            os.close(pipe[1])

    def __len__(self) -> int:
        return len(self._free)


PIPES = _PipePool()


@dataclass
class _Way:
    """One direction: src -> pipe -> dst."""

    src: socket.socket
    dst: socket.socket
    pipe: tuple[int, int] | None = None
    pending: int = 0  # bytes in the pipe, not yet written to dst
    eof: bool = False
    done: bool = False
    watch: str | None = None  # "read" (src readable) or "write" (dst writable)


class _Splicer:
    """Both directions of one connection, driven by readiness callbacks on the loop: no task
    per direction, and a pipe per direction taken from PIPES only when data first flows."""

    def __init__(self, a: socket.socket, b: socket.socket) -> None:
        self.loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.ways = (_Way(a, b), _Way(b, a))

    def start(self) -> None:
        for way in self.ways:
            self._watch(way, "read")

    def close(self) -> None:
        """Unregister and give back the pipes; safe to call more than once."""
        for way in self.ways:
            self._watch(way, None)
            if way.pipe is not None:
                PIPES.give(way.pipe, empty=way.pending == 0)
                way.pipe = None
        if not self.finished.done():
            self.finished.set_result(None)

    def _watch(self, way: _Way, kind: str | None) -> None:
        if way.watch == kind:
            return
        if way.watch == "read":
            self.loop.remove_reader(way.src.fileno())
        elif way.watch == "write":
            self.loop.remove_writer(way.dst.fileno())
        if kind == "read":
            self.loop.add_reader(way.src.fileno(), self._step, way)
        elif kind == "write":
            self.loop.add_writer(way.dst.fileno(), self._step, way)
        way.watch = kind

    def _step(self, way: _Way) -> None:
        try:
            self._pump(way)
        except OSError:
            self.close()  # a reset or a broken pipe ends both directions

    def _pump(self, way: _Way) -> None:
        while True:
            if way.pending and not self._drain(way):
                return  # dst is full: wait until it is writable
            if way.eof:
                self._finish(way)
                return
            if way.pipe is None:
                way.pipe = PIPES.take()
            try:
                n = os.splice(way.src.fileno(), way.pipe[1], CHUNK, flags=_SPLICE_FLAGS)
            except BlockingIOError:
                self._watch(way, "read")
                return
            if n == 0:
                way.eof = True
                continue
            way.pending = n
            if n < CHUNK:
                # A short read drained the socket: write it out, then wait for readiness
                # rather than read again only to hear EAGAIN (two calls saved per message).
                if self._drain(way):
                    self._watch(way, "read")
                return

    def _drain(self, way: _Way) -> bool:
        """Move the pipe's bytes to dst; False (and a watch on dst) if dst is full."""
        assert way.pipe is not None
        while way.pending:
            try:
                way.pending -= os.splice(
                    way.pipe[0], way.dst.fileno(), way.pending, flags=_SPLICE_FLAGS
                )
            except BlockingIOError:
                self._watch(way, "write")
                return False
        return True

    def _finish(self, way: _Way) -> None:
        self._watch(way, None)
        _half_close(way.dst)
        way.done = True
        if all(w.done for w in self.ways):
            self.close()


async def _buffered_one_way(src: socket.socket, dst: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        n = await loop.sock_recv_into(src, buf)
        if n == 0:
            break
        await loop.sock_sendall(dst, view[:n])
    _half_close(dst)


def _half_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


async def _both(
    one_way: Callable[[socket.socket, socket.socket], Awaitable[None]],
    a: socket.socket,
    b: socket.socket,
) -> None:
    tasks = [asyncio.ensure_future(one_way(a, b)), asyncio.ensure_future(one_way(b, a))]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                # One side failed (reset, ...): the connection is over both ways.
                for other in pending:
                    other.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return
        await asyncio.gather(*pending, return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def start_splice(a: socket.socket, b: socket.socket) -> asyncio.Future[None]:
    """Relay ``a`` <-> ``b`` with no task: the future is done when both directions are (or
    one failed). Cancelling it unregisters everything and gives the pipes back."""
    splicer = _Splicer(a, b)
    splicer.finished.add_done_callback(lambda _: splicer.close())
    splicer.start()
    return splicer.finished


async def copy_splice(a: socket.socket, b: socket.socket) -> None:
    await start_splice(a, b)  # a cancelled caller cancels the future, which cleans up


async def copy_buffered(a: socket.socket, b: socket.socket) -> None:
    await _both(_buffered_one_way, a, b)


COPIERS: dict[str, Copier] = {"splice": copy_splice, "buffered": copy_buffered}
