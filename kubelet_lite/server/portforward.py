"""``/portForward/{ns}/{pod}``: TCP to the pod's ports over a WebSocket (``v4.channel.k8s.io``,
as the Python client's ``portforward()`` speaks it).

For the i-th port of ``?ports=`` the data channel is 2i and the error channel 2i+1; both start
with the port number (2 bytes, little-endian). One TCP connection per port per WebSocket, made
from inside the pod's network namespace to 127.0.0.1 (the socket is created there by a
short-lived thread; the kubelet never moves). A port that refuses gets its error on its error
channel; the others stay up. The WebSocket ends when every connection has ended. A ``255``
frame naming a data channel (v5's close signal, which the API server's SPDY tunnel sends for
kubectl's half-close) shuts the connection's sending side; the answer still comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from knet.apiserver.streaming import channel
from knet.netlink.nsthread import call_in_netns
from kubelet_lite.server.exec import MAX_MESSAGE, message_bytes
from kubelet_lite.server.view import VIEW, text_error

READ_SIZE = 64 * 1024

Send = Callable[[bytes], Awaitable[None]]


def parse_ports(values: list[str]) -> list[int]:
    ports = []
    for v in (p for raw in values for p in raw.split(",") if p):
        if not v.isdigit() or not 0 < int(v) < 65536:
            raise ValueError(f"invalid port {v!r}")
        ports.append(int(v))
    if not ports:
        raise ValueError("at least one port is required (?ports=)")
    return ports


def pod_netns(request: web.Request, ns: str, name: str) -> str | web.Response:
    """/proc/<pid>/ns/net of a running container of the pod, or the error to answer with."""
    view = request.app[VIEW]
    pod = view.find(ns, name)
    if pod is None:
        return text_error(404, f'pod "{name}" not found in namespace "{ns}"')
    uid = str((pod.get("metadata") or {}).get("uid") or "")
    for attempts in view.pod_dir(uid).attempts().values():
        last = attempts[-1] if attempts else None
        if last is not None and last.process is not None and last.exit is None:
            return f"/proc/{last.process.pid}/ns/net"
    return text_error(400, f'pod "{name}" has no running container to forward to')


async def connect_in(netns_path: str, port: int) -> socket.socket:
    def make() -> socket.socket:
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)

    sock = await asyncio.to_thread(call_in_netns, netns_path, make)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 5
        )
    except BaseException:
        sock.close()
        raise
    return sock


class Forward:
    """One port's connection: socket → data channel; frames on its data channel → socket."""

    def __init__(self, index: int, port: int, send: Send) -> None:
        self.index, self.port, self.send = index, port, send
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()  # set once connecting ended, either way

    @property
    def data_channel(self) -> int:
        return 2 * self.index

    async def run(self, netns_path: str, pod: str) -> None:
        prefix = struct.pack("<H", self.port)
        await self.send(channel.frame(self.data_channel, prefix))
        await self.send(channel.frame(self.data_channel + 1, prefix))
        try:
            reader, self.writer = await asyncio.open_connection(
                sock=await connect_in(netns_path, self.port)
            )
        except (OSError, TimeoutError) as exc:
            reason = os.strerror(exc.errno) if exc.errno else "timed out"
            message = (
                f"error forwarding port {self.port} to pod {pod}: failed to connect to "
                f"localhost:{self.port} inside the pod's namespace: dial tcp4 "
                f"127.0.0.1:{self.port}: connect: {reason.lower()}"
            )
            await self.send(channel.frame(self.data_channel + 1, message.encode()))
            return
        finally:
            self.connected.set()
        try:
            while data := await reader.read(READ_SIZE):
                await self.send(channel.frame(self.data_channel, data))
        except OSError:
            pass
        finally:
            self.writer.close()

    async def write(self, data: bytes) -> None:
        # What the client sends while the connection is still being made waits for it.
        await self.connected.wait()
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(data)
            await self.writer.drain()

    async def half_close(self) -> None:
        """The client will send no more: pass the EOF on, keep reading the answer."""
        await self.connected.wait()
        if self.writer is not None and not self.writer.is_closing() and self.writer.can_write_eof():
            self.writer.write_eof()


async def read_client(ws: web.WebSocketResponse, forwards: list[Forward]) -> None:
    async for msg in ws:
        raw = message_bytes(msg)
        if not raw:
            continue
        ch, payload = raw[0], raw[1:]
        if ch == channel.CLOSE and payload and payload[0] % 2 == 0:
            # Not in v4 itself: the API server's SPDY tunnel passes kubectl's half-close on.
            if payload[0] // 2 < len(forwards):
                with contextlib.suppress(OSError):
                    await forwards[payload[0] // 2].half_close()
            continue
        index, kind = divmod(ch, 2)
        if index >= len(forwards) or kind != 0:
            continue  # a client writes only to data channels
        with contextlib.suppress(OSError):
            await forwards[index].write(payload)


async def portforward_handler(request: web.Request) -> web.StreamResponse:
    ns, name = request.match_info["ns"], request.match_info["pod"]
    try:
        ports = parse_ports(request.query.getall("ports", []) or request.query.getall("port", []))
    except ValueError as exc:
        return text_error(400, str(exc))
    netns_path = pod_netns(request, ns, name)
    if isinstance(netns_path, web.Response):
        return netns_path
    ws = web.WebSocketResponse(protocols=(channel.V4,), max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    lock = asyncio.Lock()

    async def send(data: bytes) -> None:
        async with lock:
            if not ws.closed:
                await ws.send_bytes(data)

    forwards = [Forward(i, port, send) for i, port in enumerate(ports)]
    tasks = [asyncio.create_task(f.run(netns_path, name)) for f in forwards]
    client = asyncio.create_task(read_client(ws, forwards))
    all_done: asyncio.Future[list[None]] = asyncio.ensure_future(asyncio.gather(*tasks))
    try:
        first: set[asyncio.Future[Any]] = {client, all_done}
        await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    finally:
        pending: list[asyncio.Future[Any]] = [*tasks, client, all_done]
        for t in pending:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for f in forwards:
            if f.writer is not None:
                f.writer.close()
        await ws.close()
    return ws
