"""SPDY/3.1 framing, the part kubectl's port-forward speaks (it tunnels SPDY inside a WebSocket).

Frames: SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE and
DATA. Header blocks are compressed with one zlib stream per direction for the whole connection,
primed with SPDY/3's dictionary, so a ``Codec`` keeps that state; it does no I/O. kubectl's SPDY
library does not enforce flow control, so WINDOW_UPDATE is parsed and ignored by the caller.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_FRAME = 16 * 1024 * 1024 - 1  # the 24-bit length field
MAX_HEADER_BLOCK = 256 * 1024  # decompressed; a header block past this is a protocol error

# RST_STREAM status codes (SPDY/3 section 2.6.2).
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL = 1, 2, 3, 5

# The zlib dictionary of SPDY/3 (section 2.6.10.1): these names, each with a 4-byte length,
# then the tail below as plain bytes.
_DICT_WORDS = (
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
)
_DICT_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = (
    b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICT_WORDS) + _DICT_TAIL.encode()
)

Headers = dict[str, str]


class SpdyError(ValueError):
    """Bytes that are not SPDY/3 frames (the connection cannot go on)."""


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: Headers
    fin: bool = False
    associated: int = 0
    priority: int = 0


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    fin: bool = False


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int = CANCEL


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_stream_id: int
    status: int = 0


@dataclass(frozen=True)
class HeadersFrame:
    stream_id: int
    headers: Headers
    fin: bool = False


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass(frozen=True)
class Settings:
    entries: tuple[tuple[int, int, int], ...]  # (flags, id, value)


@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes
    fin: bool = False


Frame = (
    SynStream | SynReply | RstStream | Ping | GoAway | HeadersFrame | WindowUpdate | Settings | Data
)


def encode_header_block(headers: Headers) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        out.append(struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def decode_header_block(raw: bytes) -> Headers:
    """Names lowercased; a repeated name keeps its values NUL-separated, as on the wire."""

    def take(pos: int, n: int) -> tuple[bytes, int]:
        if pos + n > len(raw):
            raise SpdyError("truncated header block")
        return raw[pos : pos + n], pos + n

    count_raw, pos = take(0, 4)
    headers: Headers = {}
    for _ in range(struct.unpack(">I", count_raw)[0]):
        size, pos = take(pos, 4)
        name, pos = take(pos, struct.unpack(">I", size)[0])
        size, pos = take(pos, 4)
        value, pos = take(pos, struct.unpack(">I", size)[0])
        key = name.decode(errors="replace").lower()
        text = value.decode(errors="replace")
        headers[key] = f"{headers[key]}\0{text}" if key in headers else text
    return headers


def _control(kind: int, flags: int, body: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body


class Codec:
    """One side of a SPDY connection: bytes in → frames, frames → bytes out.

    The two zlib streams make it stateful: feed every received byte to ``feed`` in order, and
    send every ``encode``d frame in the order it was encoded."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._deflate = zlib.compressobj(zdict=DICTIONARY)
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def _compress(self, headers: Headers) -> bytes:
        block = encode_header_block(headers)
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def _decompress(self, data: bytes) -> Headers:
        try:
            raw = self._inflate.decompress(data, MAX_HEADER_BLOCK)
        except zlib.error as exc:
            raise SpdyError(f"header block: {exc}") from None
        if self._inflate.unconsumed_tail:
            raise SpdyError("header block too large")
        return decode_header_block(raw)

    def encode(self, frame: Frame) -> bytes:
        match frame:
            case Data(sid, data, fin):
                if len(data) > MAX_FRAME:
                    raise SpdyError("data frame too large")
                return struct.pack(">II", sid & 0x7FFFFFFF, (fin << 24) | len(data)) + data
            case SynStream(sid, headers, fin, assoc, prio):
                head = struct.pack(">IIBB", sid, assoc, (prio & 7) << 5, 0)
                return _control(SYN_STREAM, int(fin), head + self._compress(headers))
            case SynReply(sid, headers, fin) | HeadersFrame(sid, headers, fin):
                kind = SYN_REPLY if isinstance(frame, SynReply) else HEADERS
                return _control(kind, int(fin), struct.pack(">I", sid) + self._compress(headers))
            case RstStream(sid, status):
                return _control(RST_STREAM, 0, struct.pack(">II", sid, status))
            case Ping(ping_id):
                return _control(PING, 0, struct.pack(">I", ping_id))
            case GoAway(last, status):
                return _control(GOAWAY, 0, struct.pack(">II", last, status))
            case WindowUpdate(sid, delta):
                return _control(WINDOW_UPDATE, 0, struct.pack(">II", sid, delta))
            case Settings(entries):
                body = struct.pack(">I", len(entries)) + b"".join(
                    struct.pack(">II", (f << 24) | i, v) for f, i, v in entries
                )
                return _control(SETTINGS, 0, body)
        raise TypeError(f"not a SPDY frame: {frame!r}")

    def feed(self, data: bytes) -> list[Frame]:
        """The frames ``data`` completes (a frame may span several calls)."""
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            first, second = struct.unpack_from(">II", self._buf)
            length = second & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            body = bytes(self._buf[8 : 8 + length])
            del self._buf[: 8 + length]
            flags = second >> 24
            if first & 0x80000000:
                frame = self._control_frame(first, flags, body)
                if frame is not None:
                    frames.append(frame)
            else:
                frames.append(Data(first & 0x7FFFFFFF, body, bool(flags & FLAG_FIN)))
        return frames

    def _control_frame(self, first: int, flags: int, body: bytes) -> Frame | None:
        version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise SpdyError(f"unsupported SPDY version {version}")
        fin = bool(flags & FLAG_FIN)
        try:
            if kind == SYN_STREAM:
                sid, assoc, prio = struct.unpack_from(">IIB", body)
                headers = self._decompress(body[10:])
                return SynStream(sid & 0x7FFFFFFF, headers, fin, assoc & 0x7FFFFFFF, prio >> 5)
            if kind in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", body)
                cls = SynReply if kind == SYN_REPLY else HeadersFrame
                return cls(sid & 0x7FFFFFFF, self._decompress(body[4:]), fin)
            if kind in (RST_STREAM, GOAWAY, WINDOW_UPDATE):
                a, b = struct.unpack_from(">II", body)
                if kind == RST_STREAM:
                    return RstStream(a & 0x7FFFFFFF, b)
                if kind == GOAWAY:
                    return GoAway(a & 0x7FFFFFFF, b)
                return WindowUpdate(a & 0x7FFFFFFF, b & 0x7FFFFFFF)
            if kind == PING:
                return Ping(struct.unpack_from(">I", body)[0])
            if kind == SETTINGS:
                (count,) = struct.unpack_from(">I", body)
                pairs = (struct.unpack_from(">II", body, 4 + 8 * i) for i in range(count))
                return Settings(tuple((fi >> 24, fi & 0xFFFFFF, v) for fi, v in pairs))
        except struct.error:
            raise SpdyError(f"control frame {kind}: too short") from None
        return None  # unknown control frames are ignored (SPDY/3 section 2.2.1)
