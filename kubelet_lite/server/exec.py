"""``/exec/{ns}/{pod}/{container}``: a command in a running container, over a WebSocket with
Kubernetes' channel framing (``knet.apiserver.streaming.channel``, shared with the API server).

The query is the API server's: ``command`` (repeated), ``stdin``, ``stdout``, ``stderr``,
``tty``. The session ends with a Status on the error channel (the exit code for kubectl) once
the command has exited and its output is sent; a client that goes away first hangs the
command up (EOF, SIGHUP, then SIGKILL) and it is reaped. When the container ends (or its pod
is deleted) the command is killed: it lived in the container and dies with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from knet.apiserver.streaming import channel
from kubelet_lite.runtime import exec as rexec
from kubelet_lite.server.view import VIEW, container_names, pick_attempt, text_error

log = logging.getLogger(__name__)
OUTPUT_GRACE = 2.0  # seconds to wait for output after the command exited (a daemon may hold it)
READ_SIZE = 64 * 1024
MAX_MESSAGE = 4 * 1024 * 1024
CONTAINER_POLL = 0.1  # seconds between checks that the exec's container still runs

Send = Callable[[bytes], Awaitable[None]]


def flag(query: Any, name: str) -> bool:
    return str(query.get(name, "")).lower() in ("1", "true", "t")


def running_pid(request: web.Request, ns: str, name: str, container: str) -> int | web.Response:
    """The main pid of the container's running attempt, or the error to answer with."""
    view = request.app[VIEW]
    pod = view.find(ns, name)
    if pod is None:
        return text_error(404, f'pod "{name}" not found in namespace "{ns}"')
    if container not in container_names(pod):
        return text_error(400, f"container {container} is not valid for pod {name}")
    uid = str((pod.get("metadata") or {}).get("uid") or "")
    attempts = view.pod_dir(uid).attempts().get(container, [])
    last = attempts[-1] if attempts else None
    if last is None or last.process is None or last.exit is not None:
        return text_error(400, f'container not found ("{container}")')
    return last.process.pid


async def pump_fd(fd: int, send: Send) -> None:
    """Send what ``fd`` yields until EOF (or EIO: a pseudo-terminal whose other side closed)."""
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    loop.add_reader(fd, ready.set)
    try:
        while True:
            await ready.wait()
            ready.clear()
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                return
            await send(data)
    finally:
        loop.remove_reader(fd)


async def write_all(fd: int, data: bytes) -> None:
    loop = asyncio.get_running_loop()
    while data:
        try:
            n = os.write(fd, data)
            data = data[n:]
        except BlockingIOError:
            ready = asyncio.Event()
            loop.add_writer(fd, ready.set)
            try:
                await ready.wait()
            finally:
                loop.remove_writer(fd)


def message_bytes(msg: Any) -> bytes | None:
    """A client message as raw frame bytes (the Python client sends text frames too)."""
    if msg.type == WSMsgType.BINARY:
        return bytes(msg.data)
    if msg.type == WSMsgType.TEXT:
        text = str(msg.data)
        return bytes((ord(text[0]),)) + text[1:].encode() if text else b""
    return None


async def read_client(ws: web.WebSocketResponse, ep: rexec.ExecProcess) -> str | None:
    """Feed stdin, resizes and closes to the command until the client closes; the reason if it
    broke the protocol."""
    async for msg in ws:
        raw = message_bytes(msg)
        if raw is None:
            continue
        try:
            ch, payload = channel.parse(raw)
            if ch == channel.STDIN:
                if ep.stdin is not None:
                    with contextlib.suppress(OSError):
                        await write_all(ep.stdin, payload)
            elif ch == channel.RESIZE:
                size = channel.parse_resize(payload)
                ep.resize(size.width, size.height)
            elif ch == channel.CLOSE:
                if payload[:1] == bytes((channel.STDIN,)):
                    ep.close_stdin()
            else:
                return f"a client may not write to channel {ch}"
        except channel.FrameError as exc:
            return str(exc)
    return None


async def until(ended: Callable[[], bool]) -> None:
    while not ended():
        await asyncio.sleep(CONTAINER_POLL)


def attempt_ended(request: web.Request, ns: str, name: str, container: str) -> Callable[[], bool]:
    """Whether the container attempt an exec runs in has ended (or its pod is gone)."""
    view = request.app[VIEW]
    uid = str(((view.find(ns, name) or {}).get("metadata") or {}).get("uid") or "")
    picked = pick_attempt(view.pod_dir(uid), name, container, False)
    if isinstance(picked, web.Response):
        return lambda: True
    return picked[1]


async def run_session(
    ws: web.WebSocketResponse, ep: rexec.ExecProcess, argv: list[str], ended: Callable[[], bool]
) -> None:
    async def sender(ch: int) -> Send:
        async def send(data: bytes) -> None:
            await ws.send_bytes(channel.frame(ch, data))

        return send

    outputs = [
        asyncio.create_task(pump_fd(fd, await sender(ch)))
        for fd, ch in ((ep.stdout, channel.STDOUT), (ep.stderr, channel.STDERR))
        if fd is not None
    ]
    client = asyncio.create_task(read_client(ws, ep))
    exited = asyncio.create_task(ep.proc.wait())
    gone = asyncio.create_task(until(ended))
    try:
        await asyncio.wait({client, exited, gone}, return_when=asyncio.FIRST_COMPLETED)
        if gone.done() and not exited.done():
            # The container ended (or its pod was deleted): what runs in it dies with it.
            ep.signal_group(signal.SIGKILL)
            await asyncio.wait({exited}, timeout=OUTPUT_GRACE)
        if not exited.done():  # the client left (or broke the protocol) first
            problem = client.result()
            await ep.hang_up()
            if problem is not None and not ws.closed:
                status = channel.failure_status(problem, 400, "BadRequest")
                await ws.send_bytes(channel.status_frame(status))
            return
        code = exited.result()
        if outputs:
            await asyncio.wait(outputs, timeout=OUTPUT_GRACE)
        if not ws.closed:
            await ws.send_bytes(channel.status_frame(channel.exit_status(code, argv)))
    finally:
        for t in (*outputs, client, exited, gone):
            t.cancel()
        for t in (*outputs, client, exited, gone):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if ep.proc.returncode is None:
            await ep.hang_up()
        ep.close()
        await ws.close()


async def exec_handler(request: web.Request) -> web.StreamResponse:
    ns, name, container = (request.match_info[k] for k in ("ns", "pod", "container"))
    pid = running_pid(request, ns, name, container)
    if isinstance(pid, web.Response):
        return pid
    argv = request.query.getall("command", [])
    tty = flag(request.query, "tty")
    ws = web.WebSocketResponse(protocols=channel.PROTOCOLS, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    try:
        ep = await rexec.start(pid, argv, stdin=flag(request.query, "stdin"), tty=tty)
    except rexec.ExecFailed as exc:
        status = channel.failure_status(str(exc))
        await ws.send_bytes(channel.status_frame(status))
        await ws.close()
        return ws
    log.info("exec in %s/%s/%s: %s", ns, name, container, json.dumps(argv))
    await run_session(ws, ep, argv, attempt_ended(request, ns, name, container))
    return ws
