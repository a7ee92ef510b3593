"""Answers kept rendered, so a repeated question costs a dict look-up and a byte splice.

An answer from the index depends only on the name (case aside), the type, whether the query
had EDNS, and the index's contents. So the first plain query for a (name, type) is answered by
the general rules (`answer.answer`) for a canonical query, and the rendered bytes are kept; later
ones get those bytes with their own id, RD bit and question (their spelling: the records point
back at it by compression, so the case is the asker's).

The index tells the memo each name whose answers a change touched, and only those are dropped:
churn in a few Services leaves every other answer rendered. (A kept negative answer keeps the
SOA serial it was rendered with; the serial only matters to zone transfers, not done here.)

Queries that are not plain (several questions, EDNS options, not class IN, not a QUERY) and
names that are forwarded take the general path. A memo hit costs ~3 µs of Python; building a
dnspython message costs ~200 µs.
"""

from __future__ import annotations

import struct

import dns.exception
import dns.message
import dns.name
import dns.rdatatype

from knet.dns import answer as rules
from knet.dns.records import RecordIndex

OPT = 41
MEMO_LIMIT = 50_000  # rendered answers kept; random names must not grow it without end
Memo = dict[tuple[bytes, int, bool], bytes | None]


class FastPath:
    def __init__(self, index: RecordIndex) -> None:
        self.index = index
        self._answers: Memo = {}
        self._keys: dict[bytes, list[tuple[bytes, int, bool]]] = {}  # name → its memo keys
        index.listeners.append(self._forget)

    def _forget(self, name: str) -> None:
        for key in self._keys.pop(_wire(name), ()):
            self._answers.pop(key, None)

    def answer(self, data: bytes, udp: bool) -> tuple[bytes, int, int] | None:
        """(reply, qtype, rcode) or None for the general path."""
        parsed = _parse(data)
        if parsed is None:
            return None
        qend, qtype, payload = parsed
        key = (data[12 : qend - 4].lower(), qtype, payload is not None)
        try:
            canned = self._answers[key]
        except KeyError:
            if len(self._answers) >= MEMO_LIMIT:
                self._answers.clear()
                self._keys.clear()
            canned = self._answers[key] = self._render(data[12:qend], qtype, payload is not None)
            self._keys.setdefault(key[0], []).append(key)
        if canned is None:
            return None
        limit = (max(512, payload) if payload is not None else 512) if udp else 65535
        if len(canned) > limit:
            return None  # the general path truncates
        flags = bytes((canned[2] | (data[2] & 0x01),))
        reply = data[:2] + flags + canned[3:12] + data[12:qend] + canned[qend:]
        return reply, qtype, canned[3] & 0x0F

    def _render(self, question: bytes, qtype: int, edns: bool) -> bytes | None:
        try:
            name, _ = dns.name.from_wire(b"\0" * 12 + question, 12)
        except dns.exception.DNSException:
            return None
        rdtype = dns.rdatatype.RdataType.make(qtype)
        query = dns.message.make_query(name, rdtype, use_edns=0 if edns else None)
        query.id = 0
        query.flags = 0
        resp = rules.answer(self.index, query)
        if resp is None:
            return None  # forwarded: neither ours to keep nor fixed
        return resp.to_wire(max_size=65535)  # not the query's payload: size is judged later


def _wire(name: str) -> bytes:
    """`a.b` → the name's wire form, as the memo keys it (lower case, root label last)."""
    return b"".join(bytes((len(label),)) + label.encode() for label in name.split(".")) + b"\0"


def _parse(data: bytes) -> tuple[int, int, int | None] | None:
    """(end of question, qtype, EDNS payload or None) for a plain query, else None."""
    n = len(data)
    if n < 17 or data[2] & 0xF8 or data[4:10] != b"\x00\x01\x00\x00\x00\x00":
        return None  # a response, not QUERY, or not exactly one question and nothing else
    arcount = data[10] << 8 | data[11]
    if arcount > 1:
        return None
    i = 12
    while True:
        if i >= n:
            return None
        length = data[i]
        if length == 0:
            break
        if length > 63:
            return None  # compression or a bad label: the general parser judges it
        i += length + 1
    if i - 12 > 254 or i + 5 > n:
        return None
    qtype, qclass = struct.unpack_from("!HH", data, i + 1)
    qend = i + 5
    if qclass != 1 or qtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR, OPT):
        return None
    if arcount == 0:
        return (qend, qtype, None) if qend == n else None
    # Exactly one bare OPT: root owner, version 0, no options.
    if n != qend + 11 or data[qend] != 0:
        return None
    rtype, payload, _ercode, version, _flags, rdlen = struct.unpack_from("!HHBBHH", data, qend + 1)
    if rtype != OPT or version != 0 or rdlen != 0:
        return None
    return qend, qtype, payload
