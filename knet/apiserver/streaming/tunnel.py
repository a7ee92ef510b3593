"""``pods/portforward`` as kubectl 1.31+ speaks it: SPDY/3.1 tunnelled inside a WebSocket
(subprotocol ``SPDY/3.1+portforward.k8s.io``; each binary message carries the next bytes of the
SPDY connection).

kubectl opens two streams per forwarded connection, an ``error`` stream then a ``data`` stream,
both with headers ``port`` and ``requestID``. The API server ends the SPDY here and, for every
such pair, opens one ``v4.channel.k8s.io`` WebSocket to the kubelet's ``/portForward`` for that
port (the kubelet makes one TCP connection per port per WebSocket): the kubelet's data channel
goes to the data stream, its error channel to the error stream. A connection that fails reports
on its own error stream and the tunnel stays up. When the pod side ends, both streams get FIN.

kubectl half-closes its data stream when its local client stops sending; that is passed to the
kubelet as v5's close signal (``255``, then the data channel), which kubelet-lite takes on its
port-forward socket too and turns into a TCP half-close; the answer still flows back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import WSMsgType, web

from knet.apiserver.errors import ApiError
from knet.apiserver.streaming import channel, spdy

log = logging.getLogger(__name__)
PROTOCOL = "SPDY/3.1+portforward.k8s.io"
QUEUE_DEPTH = 64  # client messages waiting for the kubelet, per connection
HALF_CLOSE = b""  # in a pair's inbox: kubectl will send no more on this connection

Dial = Callable[[int], Awaitable[aiohttp.ClientWebSocketResponse]]


@dataclass
class Pair:
    """One forwarded connection: kubectl's error and data streams for one requestID."""

    port: int
    error_sid: int | None = None
    data_sid: int | None = None
    reset: bool = False
    inbox: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_DEPTH))
    task: asyncio.Task[None] | None = None


def parse_port(headers: spdy.Headers) -> int:
    raw = headers.get("port", "")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"invalid port header {raw!r}")
    return int(raw)


class Tunnel:
    """The SPDY side of one WebSocket: streams in, kubelet WebSockets out."""

    def __init__(self, ws: web.WebSocketResponse, dial: Dial, pod: str) -> None:
        self.ws, self.dial, self.pod = ws, dial, pod
        self.codec = spdy.Codec()
        self.lock = asyncio.Lock()
        self.pairs: dict[str, Pair] = {}
        self.by_stream: dict[int, Pair] = {}

    async def send(self, *frames: spdy.Frame) -> None:
        # Encoding and sending stay in one order: the header compressor is a stream.
        async with self.lock:
            for f in frames:
                if self.ws.closed:
                    return
                await self.ws.send_bytes(self.codec.encode(f))

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    if msg.type == WSMsgType.TEXT:
                        break  # the tunnel carries binary messages only
                    continue
                try:
                    frames = self.codec.feed(msg.data)
                except spdy.SpdyError as exc:
                    log.info("port-forward to %s: %s", self.pod, exc)
                    await self.send(spdy.GoAway(0, 1))
                    break
                for frame in frames:
                    if not await self.handle(frame):
                        return
        finally:
            await self.close()

    async def handle(self, frame: spdy.Frame) -> bool:
        """Act on one frame; False when the client is going away."""
        match frame:
            case spdy.SynStream():
                await self.open_stream(frame)
            case spdy.Data(sid, data, fin):
                pair = self.by_stream.get(sid)
                if pair is not None and sid == pair.data_sid:
                    if data:
                        await pair.inbox.put(data)
                    if fin:
                        await pair.inbox.put(HALF_CLOSE)
            case spdy.RstStream(sid):
                pair = self.by_stream.get(sid)
                if pair is not None:
                    pair.reset = pair.reset or sid == pair.data_sid
                    await pair.inbox.put(None)
            case spdy.Ping(ping_id):
                await self.send(spdy.Ping(ping_id))
            case spdy.GoAway():
                return False
        return True

    async def open_stream(self, frame: spdy.SynStream) -> None:
        kind = frame.headers.get("streamtype", "")
        request_id = frame.headers.get("requestid", "")
        try:
            port = parse_port(frame.headers)
            if kind not in ("error", "data"):
                raise ValueError(f"invalid stream type {kind!r}")
        except ValueError as exc:
            log.info("port-forward to %s: %s", self.pod, exc)
            await self.send(spdy.RstStream(frame.stream_id, spdy.PROTOCOL_ERROR))
            return
        await self.send(spdy.SynReply(frame.stream_id))
        pair = self.pairs.setdefault(request_id, Pair(port))
        if kind == "error":
            pair.error_sid = frame.stream_id
        else:
            pair.data_sid = frame.stream_id
        self.by_stream[frame.stream_id] = pair
        if pair.error_sid is not None and pair.data_sid is not None and pair.task is None:
            pair.task = asyncio.create_task(self.forward(request_id, pair))

    async def forward(self, request_id: str, pair: Pair) -> None:
        assert pair.error_sid is not None and pair.data_sid is not None
        try:
            try:
                kubelet = await self.dial(pair.port)
            except ApiError as exc:
                message = f"error forwarding port {pair.port} to pod {self.pod}: {exc.message}"
                await self.send(spdy.Data(pair.error_sid, message.encode()))
                return
            try:
                await self.relay(pair, kubelet)
            finally:
                await kubelet.close()
        finally:
            ends: list[spdy.Frame] = [spdy.Data(pair.error_sid, b"", fin=True)]
            if not pair.reset:
                ends.insert(0, spdy.Data(pair.data_sid, b"", fin=True))
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send(*ends)
            self.pairs.pop(request_id, None)
            self.by_stream.pop(pair.error_sid, None)
            self.by_stream.pop(pair.data_sid, None)

    async def relay(self, pair: Pair, kubelet: aiohttp.ClientWebSocketResponse) -> None:
        """Copy both ways until the kubelet ends the connection or kubectl resets it."""
        upstream = asyncio.create_task(self.from_kubelet(pair, kubelet))
        downstream = asyncio.create_task(to_kubelet(pair, kubelet))
        try:
            await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (upstream, downstream):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    async def from_kubelet(self, pair: Pair, kubelet: aiohttp.ClientWebSocketResponse) -> None:
        assert pair.error_sid is not None and pair.data_sid is not None
        prefix_left = {0: 2, 1: 2}  # each channel opens with the port, 2 bytes
        async for msg in kubelet:
            if msg.type != WSMsgType.BINARY or not msg.data:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.ERROR):
                    return
                continue
            ch, payload = channel.parse(msg.data)
            if ch not in prefix_left:
                continue
            skip = min(prefix_left[ch], len(payload))
            prefix_left[ch] -= skip
            payload = payload[skip:]
            if payload and not pair.reset:
                sid = pair.data_sid if ch == 0 else pair.error_sid
                await self.send(spdy.Data(sid, payload))

    async def close(self) -> None:
        for pair in list(self.pairs.values()):
            if pair.task is not None:
                pair.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pair.task
        await self.ws.close()


async def to_kubelet(pair: Pair, kubelet: aiohttp.ClientWebSocketResponse) -> None:
    while (data := await pair.inbox.get()) is not None:
        if data == HALF_CLOSE:
            await kubelet.send_bytes(channel.frame(channel.CLOSE, bytes((0,))))
        else:
            await kubelet.send_bytes(channel.frame(0, data))
