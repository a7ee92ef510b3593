"""10,000 random and malformed packets at a running `knet dns`: it answers what it can (FORMERR,
NOTIMP, or a real answer to what happens to be a query), drops the rest, and never dies."""

from __future__ import annotations

import random
import socket
import struct
import time

import dns.message
import dns.query
import dns.rcode
import pytest
from dns_process import DnsProcess
from hypothesis import given, settings
from hypothesis import strategies as st

PACKETS = 10_000


def good_query_answered(server: DnsProcess) -> bool:
    q = dns.message.make_query("dns-version.cluster.local", "TXT")
    resp = dns.query.udp(q, "127.0.0.1", port=server.dns_port, timeout=3)
    return resp.answer[0][0].to_text() == '"1.1.0"'


def drain(sock: socket.socket, replies: list[bytes], wait: float) -> None:
    sock.settimeout(wait)
    while True:
        try:
            replies.append(sock.recv(65535))
        except TimeoutError:
            return


@pytest.mark.slow
def test_ten_thousand_random_packets(dns_server: DnsProcess) -> None:
    rng = random.Random(17)
    replies: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", dns_server.dns_port))
        for i in range(PACKETS):
            size = rng.choice((rng.randrange(0, 12), rng.randrange(12, 64), rng.randrange(0, 600)))
            packet = bytearray(rng.randbytes(size))
            if size >= 12 and rng.random() < 0.5:
                packet[2] &= 0x7F  # mostly queries, so most get past the QR check
            sock.send(bytes(packet))
            if i % 200 == 199:
                drain(sock, replies, 0.002)  # keep the socket buffers from overflowing
        drain(sock, replies, 0.5)
    assert dns_server.proc.poll() is None, "knet dns died"
    assert replies, "not one packet answered"
    for reply in replies:
        m = dns.message.from_wire(reply)
        assert m.flags & 0x8000  # every reply is a response
    rcodes = {dns.message.from_wire(r).rcode() for r in replies}
    assert dns.rcode.FORMERR in rcodes
    assert good_query_answered(dns_server)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=12, max_size=300))
def test_hypothesis_packets_over_udp_and_tcp(dns_server: DnsProcess, data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", dns_server.dns_port))
        sock.send(data)
    # TCP: every query gets a response with its id; a response sent to us is dropped (the
    # connection closes), as answering responses could loop.
    with socket.create_connection(("127.0.0.1", dns_server.dns_port), timeout=3) as conn:
        conn.sendall(struct.pack("!H", len(data)) + data)
        reader = conn.makefile("rb")
        head = reader.read(2)
        if data[2] & 0x80:
            assert head == b""
        else:
            (size,) = struct.unpack("!H", head)
            reply = dns.message.from_wire(reader.read(size))
            assert reply.id == struct.unpack("!H", data[:2])[0] and reply.flags & 0x8000
    assert dns_server.proc.poll() is None


def test_still_alive_afterwards(dns_server: DnsProcess) -> None:
    time.sleep(0.1)
    assert dns_server.proc.poll() is None
    assert good_query_answered(dns_server)
