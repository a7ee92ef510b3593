"""kubectl's port-forward protocol as the API server ends it (knet.apiserver.streaming.tunnel),
against a stand-in kubelet on loopback: connections map to kubelet WebSockets, a refused one
reports on its own error stream and the tunnel stays up, a reset stream is cleaned up, pings
are answered, and bytes that are not SPDY end the tunnel with a GOAWAY, never a crash."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from knet.apiserver.errors import ApiError
from knet.apiserver.streaming import channel, spdy, tunnel

REFUSED = 9999


@dataclass
class FakeKubelet:
    """`/portForward` as kubelet-lite speaks it: echo on any port but REFUSED."""

    open_sockets: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        port = int(request.query["ports"])
        ws = web.WebSocketResponse(protocols=(channel.V4,))
        await ws.prepare(request)
        prefix = struct.pack("<H", port)
        await ws.send_bytes(channel.frame(0, prefix))
        await ws.send_bytes(channel.frame(1, prefix))
        if port == REFUSED:
            await ws.send_bytes(channel.frame(1, b"dial tcp4 127.0.0.1:9999: connection refused"))
            await ws.close()
            return ws
        self.open_sockets += 1
        try:
            async for msg in ws:
                ch, data = channel.parse(msg.data)
                if ch == channel.CLOSE:  # the client's half-close: answer, then end
                    await ws.send_bytes(channel.frame(0, b"eof on channel %d" % data[0]))
                    break
                if data == b"bye":
                    break  # the pod side ends the connection
                await ws.send_bytes(channel.frame(ch, b"echo:" + data))
        finally:
            self.open_sockets -= 1
            self.closed.set()
            await ws.close()
        return ws


@dataclass
class Client:
    ws: aiohttp.ClientWebSocketResponse
    codec: spdy.Codec = field(default_factory=spdy.Codec)
    pending: list[spdy.Frame] = field(default_factory=list)

    async def send(self, *frames: spdy.Frame) -> None:
        await self.ws.send_bytes(b"".join(self.codec.encode(f) for f in frames))

    async def next(self) -> spdy.Frame:
        while not self.pending:
            msg = await asyncio.wait_for(self.ws.receive(), 10)
            assert msg.type == aiohttp.WSMsgType.BINARY, msg
            self.pending += self.codec.feed(msg.data)
        return self.pending.pop(0)

    async def open(self, request_id: int, port: int) -> tuple[int, int]:
        """kubectl's pair for one connection: error stream, then data stream."""
        err, data = 4 * request_id + 1, 4 * request_id + 3
        headers = {"port": str(port), "requestID": str(request_id)}
        await self.send(
            spdy.SynStream(err, {**headers, "streamType": "error"}),
            spdy.SynStream(data, {**headers, "streamType": "data"}),
        )
        assert await self.next() == spdy.SynReply(err)
        assert await self.next() == spdy.SynReply(data)
        return err, data


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Client, FakeKubelet]]:
    kubelet = FakeKubelet()
    session = aiohttp.ClientSession()
    kubelet_app = web.Application()
    kubelet_app.router.add_get("/portForward", kubelet.handler)
    kubelet_server = TestServer(kubelet_app, host="127.0.0.1")
    await kubelet_server.start_server()

    async def dial(port: int) -> aiohttp.ClientWebSocketResponse:
        if port == 7:
            raise ApiError(503, "ServiceUnavailable", "node unreachable")
        url = kubelet_server.make_url("/portForward")
        return await session.ws_connect(url, protocols=(channel.V4,), params={"ports": str(port)})

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=(tunnel.PROTOCOL,))
        await ws.prepare(request)
        await tunnel.Tunnel(ws, dial, "web").run()
        return ws

    app = web.Application()
    app.router.add_get("/pf", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    ws = await session.ws_connect(server.make_url("/pf"), protocols=(tunnel.PROTOCOL,))
    try:
        yield Client(ws), kubelet
    finally:
        await ws.close()
        await server.close()
        await kubelet_server.close()
        await session.close()


async def test_connections_echo_and_a_refused_one_leaves_the_tunnel_up(
    setup: tuple[Client, FakeKubelet],
) -> None:
    c, kubelet = setup
    err, data = await c.open(0, REFUSED)
    frames = {await c.next() for _ in range(3)}
    assert spdy.Data(err, b"dial tcp4 127.0.0.1:9999: connection refused") in frames
    assert {spdy.Data(data, b"", fin=True), spdy.Data(err, b"", fin=True)} < frames
    # Two more connections at once on the same tunnel.
    pairs = [await c.open(i, 8080) for i in (1, 2)]
    for i, (_, d) in enumerate(pairs):
        await c.send(spdy.Data(d, f"hi{i}".encode()))
    got = {await c.next() for _ in range(2)}
    assert got == {spdy.Data(pairs[0][1], b"echo:hi0"), spdy.Data(pairs[1][1], b"echo:hi1")}
    # The pod side ends one: both its streams get FIN, the other still echoes.
    await c.send(spdy.Data(pairs[0][1], b"bye"))
    assert {await c.next() for _ in range(2)} == {
        spdy.Data(pairs[0][1], b"", fin=True),
        spdy.Data(pairs[0][0], b"", fin=True),
    }
    await c.send(spdy.Data(pairs[1][1], b"again"))
    assert await c.next() == spdy.Data(pairs[1][1], b"echo:again")
    assert kubelet.open_sockets == 1


async def test_a_reset_data_stream_closes_its_kubelet_socket_and_ends_the_error_stream(
    setup: tuple[Client, FakeKubelet],
) -> None:
    c, kubelet = setup
    err, data = await c.open(0, 8080)
    await c.send(spdy.Data(data, b"x"))
    assert await c.next() == spdy.Data(data, b"echo:x")
    await c.send(spdy.RstStream(data, spdy.CANCEL))
    assert await c.next() == spdy.Data(err, b"", fin=True)  # kubectl waits for this
    await asyncio.wait_for(kubelet.closed.wait(), 10)
    assert kubelet.open_sockets == 0


async def test_unreachable_node_reports_on_the_error_stream(
    setup: tuple[Client, FakeKubelet],
) -> None:
    c, _ = setup
    err, data = await c.open(0, 7)
    frames = [await c.next() for _ in range(3)]
    assert frames[0] == spdy.Data(err, b"error forwarding port 7 to pod web: node unreachable")
    assert set(frames[1:]) == {spdy.Data(data, b"", fin=True), spdy.Data(err, b"", fin=True)}


async def test_pings_are_answered_and_bad_headers_reset_only_that_stream(
    setup: tuple[Client, FakeKubelet],
) -> None:
    c, _ = setup
    await c.send(spdy.Ping(1))
    assert await c.next() == spdy.Ping(1)
    await c.send(spdy.SynStream(1, {"streamType": "data", "port": "http", "requestID": "0"}))
    assert await c.next() == spdy.RstStream(1, spdy.PROTOCOL_ERROR)
    await c.send(spdy.SynStream(3, {"streamType": "weird", "port": "80", "requestID": "0"}))
    assert await c.next() == spdy.RstStream(3, spdy.PROTOCOL_ERROR)
    _, data = await c.open(1, 8080)
    await c.send(spdy.Data(data, b"ok"))
    assert await c.next() == spdy.Data(data, b"echo:ok")


async def test_bytes_that_are_not_spdy_end_the_tunnel_with_goaway(
    setup: tuple[Client, FakeKubelet],
) -> None:
    c, _ = setup
    await c.ws.send_bytes(struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1")
    assert await c.next() == spdy.GoAway(0, 1)
    msg = await asyncio.wait_for(c.ws.receive(), 10)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_kubectls_half_close_reaches_the_kubelet(setup: tuple[Client, FakeKubelet]) -> None:
    c, _ = setup
    err, data = await c.open(0, 8080)
    await c.send(spdy.Data(data, b"last", fin=True))
    assert await c.next() == spdy.Data(data, b"echo:last")
    assert await c.next() == spdy.Data(data, b"eof on channel 0")  # the answer still comes
    assert {await c.next() for _ in range(2)} == {
        spdy.Data(data, b"", fin=True),
        spdy.Data(err, b"", fin=True),
    }
