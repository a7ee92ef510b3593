"""The common queries answered straight from bytes, without building dnspython messages.

A plain query (one question, class IN, no EDNS options beyond the payload size) for A or AAAA
of a Service name, or for a name of the zone that does not exist (what a pod's search list
makes of most external names), is answered by splicing the question's own bytes (so its case)
into a reply whose records point back at it by compression. Anything else returns None and
takes the general path, which gives the same answers (a unit test holds the two to that).
Measured on one core it answers several times as many queries a second as the general path.
"""

from __future__ import annotations

import ipaddress
import struct

from knet.dns.answer import OUR_PAYLOAD, TTL, name_exists
from knet.dns.records import RecordIndex

A, AAAA, OPT = 1, 28, 41
_SIMPLE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_OUR_OPT = b"\x00" + struct.pack("!HHIH", OPT, OUR_PAYLOAD, 0, 0)
MEMO_LIMIT = 50_000  # rendered answers kept; random names must not grow it without end
_RR_HEAD = struct.Struct("!HHHIH")  # pointer, type, class, ttl, rdlength


class FastPath:
    def __init__(self, index: RecordIndex) -> None:
        self.index = index
        self._generation = -1
        self._answers: dict[tuple[bytes, int], tuple[int, bytes] | None] = {}
        self._zone_wire = b"".join(
            bytes([len(label)]) + label.encode() for label in index.zone.split(".")
        )
        self._zone_tail = self._zone_wire + b"\x00"

    def answer(self, data: bytes, udp: bool) -> tuple[bytes, str, str] | None:
        """(reply, type label, rcode label) or None for the general path."""
        parsed = _parse(data)
        if parsed is None:
            return None
        qend, qtype, payload = parsed
        qname = data[12 : qend - 4]
        lower = qname.lower()
        if not lower.endswith(self._zone_tail):
            return None
        if self._generation != self.index.generation or len(self._answers) > MEMO_LIMIT:
            self._answers.clear()
            self._generation = self.index.generation
        memo_key = (lower, qtype)
        if memo_key not in self._answers:
            self._answers[memo_key] = self._build(lower, qtype)
        built = self._answers[memo_key]
        if built is None:
            return None
        count, records = built
        edns = payload is not None
        if count == 0:  # NXDOMAIN: the zone's SOA, its owner a pointer into the question
            zone_at = 12 + len(qname) - 1 - len(self._zone_wire)
            records = self._soa(zone_at)
        flags = 0x8400 | (data[2] & 0x01) << 8 | (0 if count else 3)
        header = data[:2] + struct.pack(
            "!HHHHH", flags, 1, count, 0 if count else 1, 1 if edns else 0
        )
        reply = header + data[12:qend] + records + (_OUR_OPT if edns else b"")
        limit = (max(512, payload) if payload is not None else 512) if udp else 65535
        if len(reply) > limit:
            return None  # the general path truncates
        return reply, "A" if qtype == A else "AAAA", "NOERROR" if count else "NXDOMAIN"

    def _build(self, lower: bytes, qtype: int) -> tuple[int, bytes] | None:
        key = _text(lower)
        if not key.endswith("." + self.index.zone):
            return None  # the zone's labels matched inside a longer label, or the apex
        records = self.index.lookup(key)
        if records is None:
            if name_exists(self.index, key):
                return None
            return (0, b"")
        if records.cname is not None:
            return None
        addrs = records.a if qtype == A else records.aaaa
        if not addrs:
            return None
        out = b"".join(
            _RR_HEAD.pack(0xC00C, qtype, 1, TTL, len(raw)) + raw
            for raw in (ipaddress.ip_address(ip).packed for ip in addrs)
        )
        return len(addrs), out

    def _soa(self, zone_at: int) -> bytes:
        pointer = struct.pack("!H", 0xC000 | zone_at)
        rdata = (
            b"\x02ns\x03dns"
            + pointer
            + b"\x0ahostmaster"
            + pointer
            + struct.pack("!IIIII", self.index.serial & 0xFFFFFFFF, 7200, 1800, 86400, TTL)
        )
        return pointer + struct.pack("!HHIH", 6, 1, TTL, len(rdata)) + rdata


def _parse(data: bytes) -> tuple[int, int, int | None] | None:
    """(end of question, qtype, EDNS payload or None) for a plain A/AAAA query, else None."""
    n = len(data)
    if n < 17 or data[2] & 0xF8 or data[4:10] != b"\x00\x01\x00\x00\x00\x00":
        return None
    arcount = data[10] << 8 | data[11]
    if arcount > 1:
        return None
    i = 12
    while True:
        length = data[i] if i < n else 0xFF
        if length == 0:
            break
        if (
            length > 63
            or i + length + 1 >= n
            or not _SIMPLE.issuperset(data[i + 1 : i + 1 + length])
        ):
            return None
        i += length + 1
    if i - 12 > 254 or i + 5 > n:
        return None
    qtype, qclass = struct.unpack_from("!HH", data, i + 1)
    qend = i + 5
    if qclass != 1 or qtype not in (A, AAAA):
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


def _text(lower: bytes) -> str:
    labels: list[str] = []
    i = 0
    while lower[i]:
        labels.append(lower[i + 1 : i + 1 + lower[i]].decode())
        i += lower[i] + 1
    return ".".join(labels)
