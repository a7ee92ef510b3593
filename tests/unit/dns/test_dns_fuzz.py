"""Garbage in, in-process: the handler answers FORMERR/NOTIMP (or a valid reply to what happens
to be a valid query) or drops the packet, and never raises."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator

import dns.message
import dns.rcode
import pytest
from dns_objects import service
from hypothesis import given, settings
from hypothesis import strategies as st

from knet.dns.cache import AnswerCache
from knet.dns.forward import Forwarder
from knet.dns.metrics import DnsMetrics
from knet.dns.records import RecordIndex
from knet.dns.server import QueryHandler

GOOD = dns.message.make_query("web.default.svc.cluster.local", "A").to_wire()
GOOD_EDNS = dns.message.make_query("web.default.svc.cluster.local", "A", use_edns=0).to_wire()


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def handler() -> QueryHandler:
    index = RecordIndex()
    index.upsert_service(service("web", cluster_ip="10.96.0.10"))
    # No upstreams: a forwarded query comes back None at once, so SERVFAIL.
    return QueryHandler(index, Forwarder([]), AnswerCache(), DnsMetrics("dns://test:53"))


def reply_to(handler: QueryHandler, loop: asyncio.AbstractEventLoop, data: bytes) -> bytes | None:
    reply = handler.handle(data, "udp", "1")
    if reply is not None and not isinstance(reply, bytes):
        reply = loop.run_until_complete(reply)
    return reply


def check(data: bytes, reply: bytes | None) -> None:
    if reply is None:
        return
    m = dns.message.from_wire(reply)
    assert m.id == struct.unpack("!H", data[:2])[0]
    assert len(reply) <= 512 or (len(data) > 12 and data[11] > 0)  # 512 without EDNS


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes(handler: QueryHandler, loop: asyncio.AbstractEventLoop, data: bytes) -> None:
    check(data, reply_to(handler, loop, data))


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from([GOOD, GOOD_EDNS]),
    st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), min_size=1, max_size=6),
    st.integers(0, 80),
)
def test_mutated_good_queries(
    handler: QueryHandler,
    loop: asyncio.AbstractEventLoop,
    base: bytes,
    flips: list[tuple[int, int]],
    cut: int,
) -> None:
    data = bytearray(base)
    for at, value in flips:
        if at < len(data):
            data[at] = value
    wire = bytes(data[: len(data) - cut // 8])  # sometimes cut short as well
    check(wire, reply_to(handler, loop, wire))


def header(qd: int = 1, flags: int = 0x0100, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", 0xBEEF, flags, qd, 0, 0, ar)


QUESTION_TAIL = struct.pack("!HH", 1, 1)
MALFORMED = {
    "compression loop": header() + b"\xc0\x0c" + QUESTION_TAIL,
    "pointer forward": header() + b"\xc0\x20" + QUESTION_TAIL,
    "oversized label": header() + b"\x40" + b"a" * 64 + b"\x00" + QUESTION_TAIL,
    "name over 255": header() + (b"\x3f" + b"a" * 63) * 5 + b"\x00" + QUESTION_TAIL,
    "question cut": header() + b"\x03web\x00\x00",
    "missing question": header(qd=1),
    "counts lie": header(qd=3) + b"\x00" + QUESTION_TAIL,
    "bad OPT": header(ar=1) + b"\x00" + QUESTION_TAIL + b"\x00\x00\x29\x10",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_packets_get_formerr(
    handler: QueryHandler, loop: asyncio.AbstractEventLoop, name: str
) -> None:
    data = MALFORMED[name]
    reply = reply_to(handler, loop, data)
    assert reply is not None
    assert dns.message.from_wire(reply).rcode() == dns.rcode.FORMERR


@pytest.mark.parametrize("length", range(12))
def test_short_headers_are_dropped(
    handler: QueryHandler, loop: asyncio.AbstractEventLoop, length: int
) -> None:
    assert reply_to(handler, loop, header()[:length]) is None


def test_unknown_class_opcode_and_responses(
    handler: QueryHandler, loop: asyncio.AbstractEventLoop
) -> None:
    name = b"\x03web\x07default\x03svc\x07cluster\x05local\x00"
    unknown_class = header() + name + struct.pack("!HH", 1, 0x1234)
    reply = reply_to(handler, loop, unknown_class)
    assert reply is not None and dns.message.from_wire(reply).rcode() == dns.rcode.NOTIMP
    for opcode in (1, 2, 4, 5):
        wire = header(flags=opcode << 11) + name + QUESTION_TAIL
        reply = reply_to(handler, loop, wire)
        assert reply is not None and dns.message.from_wire(reply).rcode() == dns.rcode.NOTIMP
    unknown_type = header() + name + struct.pack("!HH", 0xFF00, 1)
    reply = reply_to(handler, loop, unknown_type)
    assert reply is not None
    m = dns.message.from_wire(reply)
    assert m.rcode() == dns.rcode.NOERROR and m.answer == [] and m.authority  # NODATA
    assert reply_to(handler, loop, header(flags=0x8100) + name + QUESTION_TAIL) is None


def test_still_answers_after_the_garbage(
    handler: QueryHandler, loop: asyncio.AbstractEventLoop
) -> None:
    reply = reply_to(handler, loop, GOOD)
    assert reply is not None
    assert dns.message.from_wire(reply).answer[0][0].to_text() == "10.96.0.10"


def test_a_bug_costs_one_query_not_the_server(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = RecordIndex()
    handler = QueryHandler(index, Forwarder([]), AnswerCache(), DnsMetrics("dns://test:53"))

    def broken(name: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(index, "lookup", broken)
    reply = reply_to(handler, loop, GOOD)
    assert reply is not None
    assert dns.message.from_wire(reply).rcode() == dns.rcode.SERVFAIL


def test_servfail_until_synced(loop: asyncio.AbstractEventLoop) -> None:
    handler = QueryHandler(RecordIndex(), Forwarder([]), AnswerCache(), DnsMetrics("dns://t:53"))
    handler.synced = False
    reply = reply_to(handler, loop, GOOD)
    assert reply is not None
    assert dns.message.from_wire(reply).rcode() == dns.rcode.SERVFAIL
    handler.synced = True
    reply = reply_to(handler, loop, GOOD)
    assert reply is not None and dns.message.from_wire(reply).rcode() == dns.rcode.NXDOMAIN
