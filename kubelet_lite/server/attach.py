"""``/attach/{ns}/{pod}/{container}``: the running container's output from now on, over the same
WebSocket channels as exec (stdout on 1, stderr on 2, a Success Status on 3 when it ends).

A container whose spec asks for ``stdin`` reads a FIFO the runtime made (``PodDir.stdin_file``);
with ``?stdin=true`` the client's stdin frames are written to it (``kubectl attach -i``,
``kubectl run -i``). With ``stdinOnce`` the first attach's end (its stdin closed, or the client
gone) is the container's EOF (``runtime/stdin.py`` holds the FIFO's other writer until then).
Other containers' stdin is /dev/null and stdin frames are dropped. There is no TTY: a client
that asks for one gets the output as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from knet.apiserver.streaming import channel
from kubelet_lite.runtime import logs
from kubelet_lite.runtime import stdin as runtime_stdin
from kubelet_lite.server import logs as logview
from kubelet_lite.server.exec import MAX_MESSAGE, flag, message_bytes, running_pid, write_all
from kubelet_lite.server.view import VIEW, pick_attempt

STREAM_CHANNEL = {"stdout": channel.STDOUT, "stderr": channel.STDERR}


async def follow_output(ws: web.WebSocketResponse, path: str, ended: Callable[[], bool]) -> None:
    """Send what the container writes from now until its attempt ends."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC) if os.path.exists(path) else None
    if fd is not None:
        os.lseek(fd, 0, os.SEEK_END)
    buf = b""
    try:
        while True:
            fd, data = logview.read_live(path, fd)
            if not data:
                if ended():
                    return
                await asyncio.sleep(logview.FOLLOW_POLL)
                continue
            complete, _, buf = (buf + data).rpartition(b"\n")
            for line in complete.splitlines():
                e = logs.parse_entry(line)
                if e is not None:
                    tail = b"" if e.partial else b"\n"
                    await ws.send_bytes(channel.frame(STREAM_CHANNEL[e.stream], e.text + tail))
    finally:
        if fd is not None:
            os.close(fd)


def stdin_once(pod: dict[str, Any], container: str) -> bool:
    spec = pod.get("spec") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if c.get("name") == container:
            return bool(c.get("stdinOnce"))
    return False


class Stdin:
    """The write end of a container's stdin FIFO, closed once."""

    def __init__(self, path: Path | None) -> None:
        self.fd: int | None = None
        if path is not None:
            with contextlib.suppress(OSError):  # no FIFO: the container has no stdin
                self.fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)

    async def write(self, data: bytes) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                await write_all(self.fd, data)

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


async def read_client(ws: web.WebSocketResponse, stdin: Stdin, once: Path | None) -> None:
    """Feed stdin frames to the container until the client closes its stdin or leaves; with
    stdinOnce (``once``: the FIFO), the container's stdin ends with it."""
    try:
        async for msg in ws:
            raw = message_bytes(msg)
            if not raw:
                continue
            if raw[0] == channel.STDIN:
                await stdin.write(raw[1:])
            elif raw[0] == channel.CLOSE and raw[1:2] == bytes((channel.STDIN,)):
                stdin.close()
                if once is not None:
                    runtime_stdin.release(once)
    finally:
        if once is not None and stdin.fd is not None:
            stdin.close()
            runtime_stdin.release(once)


async def attach_handler(request: web.Request) -> web.StreamResponse:
    ns, name, container = (request.match_info[k] for k in ("ns", "pod", "container"))
    pid = running_pid(request, ns, name, container)
    if isinstance(pid, web.Response):
        return pid
    pod = request.app[VIEW].find(ns, name) or {}
    uid = str((pod.get("metadata") or {}).get("uid") or "")
    picked = pick_attempt(request.app[VIEW].pod_dir(uid), name, container, False)
    if isinstance(picked, web.Response):
        return picked
    path, ended = picked
    fifo = None
    attempts = request.app[VIEW].pod_dir(uid).attempts().get(container) or []
    if flag(request.query, "stdin") and attempts:
        fifo = request.app[VIEW].pod_dir(uid).stdin_file(container, attempts[-1].number)
    stdin = Stdin(fifo)
    once = fifo if fifo is not None and stdin_once(pod, container) else None
    ws = web.WebSocketResponse(protocols=channel.PROTOCOLS, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    output = asyncio.create_task(follow_output(ws, str(path), ended))
    client = asyncio.create_task(read_client(ws, stdin, once))
    try:
        await asyncio.wait({output, client}, return_when=asyncio.FIRST_COMPLETED)
        if output.done() and not ws.closed:
            await ws.send_bytes(channel.status_frame(channel.exit_status(0, [])))
    finally:
        for t in (output, client):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        stdin.close()
        await ws.close()
    return ws
