"""Forwarding of queries outside the cluster zone to the node's resolvers, as CoreDNS's
`forward . /etc/resolv.conf`: upstreams are tried in turn within one deadline, and a query none
of them answers in time gets SERVFAIL (the caller's job) well inside 2 s. Queries go over UDP
(over TCP again only when an upstream truncates an answer for a TCP client)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
import struct
import time
from pathlib import Path

import dns.flags
import dns.message

Upstream = tuple[str, int]
DEADLINE = 1.5  # seconds for all upstreams together; the client gets SERVFAIL after it


def parse_upstream(text: str) -> Upstream:
    """`10.0.0.2`, `10.0.0.2:5353`, `fd00::2` or `[fd00::2]:5353` → (address, port)."""
    text = text.strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r} is not address[:port]")
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text, text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r}: {host!r} is not an IP address") from None
    return host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{whole!r}: {text!r} is not a port number")
    return int(text)


def resolv_conf_upstreams(path: Path) -> list[Upstream]:
    """The `nameserver` lines of a resolv.conf (others ignored), in order."""
    out: list[Upstream] = []
    for line in path.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            with contextlib.suppress(ValueError):
                out.append((str(ipaddress.ip_address(fields[1].split("%")[0])), 53))
    return out


class _OneReply(asyncio.DatagramProtocol):
    def __init__(self, want_id: int) -> None:
        self.want_id = want_id
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        # Only the reply to our id counts: anything else on this port is ignored.
        ours = len(data) >= 12 and data[:2] == struct.pack("!H", self.want_id)
        if ours and not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


class Forwarder:
    def __init__(self, upstreams: list[Upstream], deadline: float = DEADLINE) -> None:
        self.upstreams = upstreams
        self.deadline = deadline

    async def forward(self, query: dns.message.Message, tcp: bool) -> dns.message.Message | None:
        """The upstream's answer (with the query's own id), or None if none answered in time."""
        if not self.upstreams:
            return None
        client_id = query.id
        query.id = secrets.randbelow(65536)  # a fresh id: replies are matched on it
        try:
            wire = query.to_wire()
        finally:
            query.id = client_id
        end = time.monotonic() + self.deadline
        for i, upstream in enumerate(self.upstreams):
            left = end - time.monotonic()
            if left <= 0:
                break
            # Each upstream gets an equal share of what is left, the last one all of it.
            budget = left / (len(self.upstreams) - i)
            reply = await self._try(upstream, wire, tcp, budget)
            if reply is None:
                continue
            with contextlib.suppress(Exception):
                resp = dns.message.from_wire(reply)
                # Only a response to this very question counts (names compare case-blind).
                if resp.flags & dns.flags.QR and resp.question == query.question:
                    resp.id = client_id
                    return resp
        return None

    async def _try(self, upstream: Upstream, wire: bytes, tcp: bool, budget: float) -> bytes | None:
        """UDP first, as most forwarders do; TCP only when the UDP answer was truncated and the
        client, having come over TCP, can take a whole one."""
        end = time.monotonic() + budget
        try:
            reply = await asyncio.wait_for(_udp_exchange(upstream, wire), budget)
            if tcp and len(reply) > 2 and reply[2] & 0x02:
                left = end - time.monotonic()
                reply = await asyncio.wait_for(_tcp_exchange(upstream, wire), max(left, 0.01))
            return reply
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            return None


async def _udp_exchange(upstream: Upstream, wire: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    (want_id,) = struct.unpack("!H", wire[:2])
    transport, proto = await loop.create_datagram_endpoint(
        lambda: _OneReply(want_id), remote_addr=upstream
    )
    try:
        transport.sendto(wire)
        return await proto.reply
    finally:
        transport.close()


async def _tcp_exchange(upstream: Upstream, wire: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*upstream)
    try:
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        (size,) = struct.unpack("!H", await reader.readexactly(2))
        return await reader.readexactly(size)
    finally:
        writer.close()
