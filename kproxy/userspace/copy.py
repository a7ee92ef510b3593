"""Moving bytes between two connected TCP sockets, both directions, until both are done.

Two implementations with one signature, so the faster one can be measured and chosen:

* ``copy_splice``: zero-copy through a pipe per direction with ``os.splice`` (Linux): the data
  never enters Python, only readiness events do;
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

Copier = Callable[[socket.socket, socket.socket], Awaitable[None]]

CHUNK = 1 << 18
_PIPE_SIZE = 1 << 20
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def splice_available() -> bool:
    return hasattr(os, "splice")


async def _ready(fd: int, writer: bool) -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not fut.done():
            fut.set_result(None)

    if writer:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await fut
    finally:
        if writer:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


async def _splice_one_way(src: socket.socket, dst: socket.socket) -> None:
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    with contextlib.suppress(OSError):
        fcntl.fcntl(w, _F_SETPIPE_SZ, _PIPE_SIZE)  # bigger moves per wake-up; optional
    sfd, dfd = src.fileno(), dst.fileno()
    try:
        while True:
            try:
                n = os.splice(sfd, w, CHUNK, flags=_SPLICE_FLAGS)
            except BlockingIOError:
                await _ready(sfd, writer=False)
                continue
            if n == 0:
                break
            while n:
                try:
                    n -= os.splice(r, dfd, n, flags=_SPLICE_FLAGS)
                except BlockingIOError:
                    await _ready(dfd, writer=True)
        _half_close(dst)
    finally:
        os.close(r)
        os.close(w)


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


async def copy_splice(a: socket.socket, b: socket.socket) -> None:
    await _both(_splice_one_way, a, b)


async def copy_buffered(a: socket.socket, b: socket.socket) -> None:
    await _both(_buffered_one_way, a, b)


COPIERS: dict[str, Copier] = {"splice": copy_splice, "buffered": copy_buffered}
