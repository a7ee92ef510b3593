"""Userspace mode's listeners on loopback: relaying, retries, refusal, UDP sessions."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from typing import cast

import pytest

from kproxy.userspace.chooser import Chooser
from kproxy.userspace.copy import COPIERS, PIPES
from kproxy.userspace.listeners import TcpListener, UdpListener

LO = "127.0.0.1"


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read()  # until the client half-closes
    writer.write(data)
    await writer.drain()
    writer.close()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(_echo, LO, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind((LO, 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens here now: connects are refused


async def _round_trip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(LO, port)
    writer.write(payload)
    await writer.drain()
    writer.write_eof()
    data = await reader.read()
    writer.close()
    return data


@pytest.mark.parametrize("copier", sorted(COPIERS))
async def test_tcp_relays_both_ways_with_half_close(echo_port: int, copier: str) -> None:
    chooser = Chooser()
    chooser.update("svc", [f"{LO}:{echo_port}"])
    listener = TcpListener("svc", 0, chooser, COPIERS[copier], host=LO)
    listener.open()
    try:
        payload = bytes(range(256)) * 8192  # 2 MiB: many splice/recv rounds
        assert await _round_trip(listener.port, payload) == payload
    finally:
        listener.close()


async def test_failed_connect_moves_on_to_the_next_endpoint(echo_port: int) -> None:
    chooser = Chooser()
    chooser.update("svc", [f"{LO}:{_closed_port()}", f"{LO}:{echo_port}"])
    listener = TcpListener("svc", 0, chooser, COPIERS["splice"], host=LO)
    listener.open()
    try:
        # Round-robin starts every other connection at the dead endpoint; all succeed.
        for i in range(4):
            assert await _round_trip(listener.port, b"ping%d" % i) == b"ping%d" % i
    finally:
        listener.close()


async def test_no_endpoints_resets_and_a_closed_listener_refuses() -> None:
    chooser = Chooser()
    chooser.update("svc", [])
    listener = TcpListener("svc", 0, chooser, COPIERS["splice"], host=LO)
    listener.open()
    port = listener.port
    writers = []
    with pytest.raises(ConnectionResetError):
        # The reset follows the accept at once; on loopback it can reach the client before
        # its connect call has returned, so either call may be the one that sees it.
        reader, writer = await asyncio.open_connection(LO, port)
        writers.append(writer)
        await reader.read()
        raise AssertionError("expected a reset, got EOF")
    for writer in writers:
        writer.close()
    listener.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(LO, port)


async def test_connections_survive_the_listener_closing(echo_port: int) -> None:
    chooser = Chooser()
    chooser.update("svc", [f"{LO}:{echo_port}"])
    listener = TcpListener("svc", 0, chooser, COPIERS["splice"], host=LO)
    listener.open()
    reader, writer = await asyncio.open_connection(LO, listener.port)
    writer.write(b"before")
    await writer.drain()
    listener.close()
    chooser.update("svc", [])  # endpoints changed too: the relayed connection is unaffected
    writer.write(b" and after")
    writer.write_eof()
    assert await reader.read() == b"before and after"
    writer.close()


class _UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"echo:" + data, addr)


async def _udp_ask(port: int, client: socket.socket, data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    client.sendto(data, (LO, port))
    reply: bytes = await asyncio.wait_for(loop.sock_recv(client, 2048), 5)
    return reply


async def test_udp_sessions_relay_expire_and_follow_endpoints() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_UdpEcho, local_addr=(LO, 0))
    backend = transport.get_extra_info("sockname")[1]
    chooser = Chooser()
    chooser.update("dns", [f"{LO}:{backend}"])
    listener = UdpListener("dns", 0, chooser, idle_timeout=0.2, host=LO)
    listener.open()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setblocking(False)
    client.bind((LO, 0))
    try:
        assert await _udp_ask(listener.port, client, b"a") == b"echo:a"
        assert await _udp_ask(listener.port, client, b"b") == b"echo:b"
        assert len(listener.sessions) == 1  # one client address, one session
        for _ in range(100):  # bounded wait for the idle sweep
            if not listener.sessions:
                break
            await asyncio.sleep(0.05)
        assert listener.sessions == {}
        assert await _udp_ask(listener.port, client, b"c") == b"echo:c"
        listener.keep_endpoints(set())  # its endpoint is gone: the session ends
        assert listener.sessions == {}
    finally:
        client.close()
        listener.close()
        transport.close()


async def test_udp_replies_leave_from_the_address_the_request_reached() -> None:
    """A client that wrote to 127.0.0.2 hears back from 127.0.0.2, not from the address
    routing would pick (127.0.0.1): in the node, the reply must match the REDIRECT's conntrack
    entry to be rewritten back to the Service address."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_UdpEcho, local_addr=(LO, 0))
    backend = transport.get_extra_info("sockname")[1]
    chooser = Chooser()
    chooser.update("dns", [f"{LO}:{backend}"])
    # Every address: the whole of 127.0.0.0/8 reaches it, as REDIRECTed datagrams reach a
    # listener on whichever local address the rule picked.
    listener = UdpListener("dns", 0, chooser, idle_timeout=5.0, host="0.0.0.0")
    listener.open()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setblocking(False)
    client.bind((LO, 0))
    try:
        for target in ("127.0.0.2", LO, "127.0.0.2"):
            client.sendto(b"q", (target, listener.port))
            reply, source = await asyncio.wait_for(loop.sock_recvfrom(client, 2048), 5)
            assert (reply, source) == (b"echo:q", (target, listener.port))
    finally:
        client.close()
        listener.close()
        transport.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_splice_reuses_pipes_and_leaks_no_descriptors(echo_port: int) -> None:
    chooser = Chooser()
    chooser.update("svc", [f"{LO}:{echo_port}"])
    listener = TcpListener("svc", 0, chooser, COPIERS["splice"], host=LO)
    listener.open()
    try:
        for i in range(20):
            assert await _round_trip(listener.port, b"warm%d" % i) == b"warm%d" % i
        await asyncio.sleep(0.05)  # let the relays' tasks finish closing
        steady, pooled = _open_fds(), len(PIPES)
        assert pooled >= 2  # both directions' pipes came back empty
        for i in range(50):
            assert await _round_trip(listener.port, b"x%d" % i) == b"x%d" % i
        await asyncio.sleep(0.05)
        assert _open_fds() == steady
        assert len(PIPES) == pooled
    finally:
        listener.close()


async def test_a_cancelled_relay_unregisters_and_closes_its_pipes(echo_port: int) -> None:
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    for s in (a, b, c, d):
        s.setblocking(False)
    before = _open_fds()
    task = asyncio.create_task(COPIERS["splice"](b, c))
    a.send(b"half-way")  # the relay takes a pipe and moves these bytes to d
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert d.recv(64) == b"half-way"
    loop = asyncio.get_running_loop()
    assert not loop.remove_reader(b.fileno()) and not loop.remove_reader(c.fileno())
    assert _open_fds() <= before  # the pipe went back to the pool or was closed
    for s in (a, b, c, d):
        s.close()


async def test_cancelling_a_quick_relay_closes_the_connection(echo_port: int) -> None:
    # What the proxier's shutdown does to connections still open after its grace period.
    chooser = Chooser()
    chooser.update("svc", [f"{LO}:{echo_port}"])
    listener = TcpListener("svc", 0, chooser, COPIERS["splice"], host=LO)
    listener.open()
    try:
        reader, writer = await asyncio.open_connection(LO, listener.port)
        writer.write(b"open")
        await writer.drain()
        for _ in range(100):
            if listener.connections:
                break
            await asyncio.sleep(0.01)
        (connection,) = listener.connections
        connection.cancel()
        await asyncio.sleep(0.05)
        assert not listener.connections
        try:
            rest = await asyncio.wait_for(reader.read(), 2)
        except ConnectionResetError:
            rest = b""
        assert rest == b""  # closed by the proxy; the echo never answered (no half-close)
        writer.close()
    finally:
        listener.close()
