"""The DNS transports: asyncio UDP and TCP listeners around one `QueryHandler`.

`QueryHandler.handle` takes a packet and returns the reply's bytes at once for everything the
index answers (no await on the common path), a coroutine for a query that must be forwarded, or
None to drop the packet (a runt shorter than a header, or a packet that is itself a response).
Repeated in-zone questions are answered from `fastpath`'s rendered bytes.
Over UDP a reply is cut to the client's EDNS payload size (512 without EDNS): the additional
section goes first, and if the answer still does not fit the client gets an empty reply with TC
set and asks again over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Coroutine
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.rcode

from knet.dns import answer as rules
from knet.dns.cache import AnswerCache, cache_key
from knet.dns.fastpath import FastPath
from knet.dns.forward import Forwarder
from knet.dns.metrics import OTHER, DnsMetrics
from knet.dns.records import RecordIndex

log = logging.getLogger("knet.dns")

Reply = bytes | None | Coroutine[Any, Any, bytes | None]
TCP_IDLE = 10.0  # seconds a TCP client may sit idle between queries


def udp_limit(query: dns.message.Message) -> int:
    if query.edns >= 0:
        return max(512, min(int(query.payload), 65535))
    return 512


def render(resp: dns.message.Message, limit: int) -> bytes:
    """The response's wire form within `limit` bytes, shedding sections as a server must."""
    with contextlib.suppress(dns.exception.TooBig):
        return resp.to_wire(max_size=limit)
    resp.additional.clear()  # additional records are optional: no TC for dropping them
    with contextlib.suppress(dns.exception.TooBig):
        return resp.to_wire(max_size=limit)
    resp.answer.clear()
    resp.authority.clear()
    resp.flags |= dns.flags.TC
    return resp.to_wire(max_size=limit)


def formerr(data: bytes) -> bytes | None:
    """FORMERR for a query we cannot parse, built from its header alone (NOTIMP if its opcode
    is not QUERY: we implement no other, whatever its body); None to drop the packet."""
    if len(data) < 12 or data[2] & 0x80:
        return None  # too short to answer, or a response (answering those can loop)
    opcode_rd = data[2] & 0x79
    rcode = dns.rcode.NOTIMP if opcode_rd & 0x78 else dns.rcode.FORMERR
    flags = 0x8000 | (opcode_rd << 8) | rcode
    return data[:2] + struct.pack("!HHHHH", flags, 0, 0, 0, 0)


def _servfail(data: bytes) -> bytes | None:
    """SERVFAIL from the header alone, for a query whose answer failed on our side."""
    reply = formerr(data)
    if reply is None:
        return None
    return reply[:3] + bytes(((reply[3] & 0xF0) | dns.rcode.SERVFAIL,)) + reply[4:]


class QueryHandler:
    """One packet in, one reply out: the fast path (rendered answers), then the general rules,
    then the forward cache, then the upstreams."""

    def __init__(
        self,
        index: RecordIndex,
        forwarder: Forwarder,
        cache: AnswerCache,
        metrics: DnsMetrics,
        fast: bool = True,
    ) -> None:
        self.index = index
        self.forwarder = forwarder
        self.cache = cache
        self.metrics = metrics
        self.fastpath = FastPath(index) if fast else None
        self.synced = True  # False until the index holds the cluster: then SERVFAIL

    def handle(self, data: bytes, proto: str, family: str) -> Reply:
        start = time.perf_counter()
        if not self.synced:
            return _servfail(data)
        try:
            if self.fastpath is not None:
                hit = self.fastpath.answer(data, proto == "udp")
                if hit is not None:
                    reply, rdtype, rcode = hit
                    seconds = time.perf_counter() - start
                    self.metrics.observe(proto, family, rdtype, rcode, "kubernetes", seconds)
                    return reply
            return self._parsed(data, proto, family, start)
        except Exception:
            # A bug must cost one query, never the server.
            log.exception("failed to answer a query")
            return _servfail(data)

    def _parsed(self, data: bytes, proto: str, family: str, start: float) -> Reply:
        try:
            query = dns.message.from_wire(data)
        except Exception:
            bad = formerr(data)
            if bad is not None:
                self.metrics.observe(proto, family, OTHER, bad[3] & 0x0F, "", 0.0)
            return bad
        if query.flags & dns.flags.QR:
            return None
        return self._handle(query, proto, family, start)

    def _handle(self, query: dns.message.Message, proto: str, family: str, start: float) -> Reply:
        limit = udp_limit(query) if proto == "udp" else 65535
        error = rules.classify(query)
        qtype = int(query.question[0].rdtype) if query.question else OTHER
        if error is not None:
            resp = rules.error_response(query, error)
            self._observe(proto, family, qtype, resp, "", start)
            return render(resp, limit)
        resp_or_none = rules.answer(self.index, query)
        if resp_or_none is not None:
            self._observe(proto, family, qtype, resp_or_none, "kubernetes", start)
            return render(resp_or_none, limit)
        key = cache_key(query)
        cached = self.cache.get(key, query.id)
        if cached is not None:
            resp, denial = cached
            self.metrics.cache_hit(denial)
            _mirror_edns(resp, query)
            self._observe(proto, family, qtype, resp, "cache", start)
            return render(resp, limit)
        return self._forward(query, key, proto, family, qtype, limit, start)

    async def _forward(
        self,
        query: dns.message.Message,
        key: Any,
        proto: str,
        family: str,
        qtype: int,
        limit: int,
        start: float,
    ) -> bytes | None:
        resp = await self.forwarder.forward(query, tcp=proto == "tcp")
        if resp is None:
            resp = rules.error_response(query, dns.rcode.SERVFAIL)
            resp.flags |= dns.flags.RA
        else:
            self.cache.put(key, resp)
            _mirror_edns(resp, query)
        self._observe(proto, family, qtype, resp, "forward", start)
        return render(resp, limit)

    def _observe(
        self,
        proto: str,
        family: str,
        qtype: int,
        resp: dns.message.Message,
        plugin: str,
        start: float,
    ) -> None:
        seconds = time.perf_counter() - start
        self.metrics.observe(proto, family, qtype, int(resp.rcode()), plugin, seconds)


def _mirror_edns(resp: dns.message.Message, query: dns.message.Message) -> None:
    """An upstream's or the cache's answer carries EDNS exactly when the client's query did."""
    if query.edns >= 0:
        resp.use_edns(0, payload=rules.OUR_PAYLOAD)
    else:
        resp.use_edns(False)


def _family(addr: Any) -> str:
    return "2" if isinstance(addr, tuple) and len(addr) == 4 else "1"


class _UdpServer:
    """A UDP socket read straight from the event loop: one wake-up drains up to BATCH
    datagrams (asyncio's datagram transport makes one loop pass per datagram, which costs more
    than answering it)."""

    BATCH = 64

    def __init__(self, handler: QueryHandler, sock: socket.socket) -> None:
        self.handler = handler
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        handle, sock = self.handler.handle, self.sock
        for _ in range(self.BATCH):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # an ICMP error for an earlier reply: nothing to do
                log.debug("udp receive error: %s", e)
                continue
            reply = handle(data, "udp", _family(addr))
            if reply is None:
                continue
            if isinstance(reply, bytes):
                self._send(reply, addr)
                continue
            task = self.loop.create_task(self._later(reply, addr))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _send(self, reply: bytes, addr: Any) -> None:
        try:
            self.sock.sendto(reply, addr)
        except OSError as e:  # a full send buffer drops the reply, as a busy server does
            log.debug("udp send to %s failed: %s", addr, e)

    async def _later(self, reply: Coroutine[Any, Any, bytes | None], addr: Any) -> None:
        try:
            data = await reply
        except Exception:
            log.exception("forwarding failed")
            return
        if data is not None:
            self._send(data, addr)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        for task in self._tasks:
            task.cancel()
        self.sock.close()


def _udp_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)  # ride out bursts
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


async def _serve_tcp_client(
    handler: QueryHandler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    family = _family(writer.get_extra_info("peername"))
    try:
        while True:
            head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
            (size,) = struct.unpack("!H", head)
            data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE)
            reply = handler.handle(data, "tcp", family)
            if reply is not None and not isinstance(reply, bytes):
                reply = await reply
            if reply is None:
                break  # nothing to say to garbage: close the connection
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


class DnsListener:
    """The UDP socket and TCP server on one address."""

    def __init__(self, handler: QueryHandler, host: str, port: int) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self._udp: _UdpServer | None = None
        self._tcp: asyncio.Server | None = None

    async def start(self) -> None:
        self._udp = _UdpServer(self.handler, _udp_socket(self.host, self.port))
        self._tcp = await asyncio.start_server(
            lambda r, w: _serve_tcp_client(self.handler, r, w), self.host, self.port
        )

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
