"""SPDY/3.1 framing (knet.apiserver.streaming.spdy): frames round-trip through two codecs,
the wire layout is SPDY/3's, header compression keeps state across frames, and bad bytes are
a SpdyError, never a crash."""

from __future__ import annotations

import struct
import zlib

import pytest

from knet.apiserver.streaming import spdy


def test_dictionary_is_spdy3s() -> None:
    # SPDY/3's dictionary is 1423 bytes; zlib refuses a stream primed with any other.
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert b"\x00\x00\x00\x06200 OK\x00\x00\x00\x07version" in spdy.DICTIONARY
    assert spdy.DICTIONARY.endswith(b"utf-,*,enq=0.")


FRAMES: list[spdy.Frame] = [
    spdy.SynStream(1, {"streamtype": "error", "port": "8080", "requestid": "0"}),
    spdy.SynStream(3, {"streamtype": "data", "port": "8080", "requestid": "0"}, fin=True),
    spdy.SynReply(1),
    spdy.SynReply(3, {"a": "b"}, fin=True),
    spdy.HeadersFrame(5, {"x": "y"}),
    spdy.Data(3, b"hello"),
    spdy.Data(3, b"", fin=True),
    spdy.RstStream(3, spdy.CANCEL),
    spdy.Ping(7),
    spdy.GoAway(5, 0),
    spdy.WindowUpdate(3, 65536),
    spdy.Settings(((0, 7, 65536),)),
]


def test_frames_round_trip_one_by_one_and_in_one_read() -> None:
    sender, receiver, bulk = spdy.Codec(), spdy.Codec(), spdy.Codec()
    wire = [sender.encode(f) for f in FRAMES]
    assert [g for w in wire for g in receiver.feed(w)] == FRAMES
    again = spdy.Codec()
    assert bulk.feed(b"".join(again.encode(f) for f in FRAMES)) == FRAMES


def test_a_frame_split_anywhere_is_read_once_complete() -> None:
    raw = spdy.Codec().encode(spdy.SynStream(1, {"port": "80"})) + spdy.Codec().encode(
        spdy.Data(1, b"abc")
    )
    # Two fresh encoders: the second frame is data, which carries no compressed state.
    for cut in range(1, len(raw)):
        rx = spdy.Codec()
        assert rx.feed(raw[:cut]) + rx.feed(raw[cut:]) == [
            spdy.SynStream(1, {"port": "80"}),
            spdy.Data(1, b"abc"),
        ]


def test_wire_layout() -> None:
    c = spdy.Codec()
    assert c.encode(spdy.Data(5, b"xy", fin=True)) == struct.pack(">II", 5, 0x01000002) + b"xy"
    assert c.encode(spdy.Ping(9)) == struct.pack(">HHII", 0x8003, 6, 4, 9)
    assert c.encode(spdy.RstStream(3, 5)) == struct.pack(">HHIII", 0x8003, 3, 8, 3, 5)
    syn = c.encode(spdy.SynStream(1, {"Port": "80"}))
    first, kind, flags_len, sid, assoc = struct.unpack_from(">HHIII", syn)
    assert (first, kind, sid, assoc) == (0x8003, spdy.SYN_STREAM, 1, 0)
    assert flags_len & 0xFFFFFF == len(syn) - 8
    # The header block: zlib primed with the dictionary; names lowercased on the wire.
    inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)
    block = inflate.decompress(syn[18:])
    assert (
        block
        == struct.pack(">I", 1) + struct.pack(">I", 4) + b"port" + struct.pack(">I", 2) + b"80"
    )


def test_header_compression_is_one_stream_per_direction() -> None:
    tx, rx = spdy.Codec(), spdy.Codec()
    a = tx.encode(spdy.SynStream(1, {"streamtype": "error", "port": "8080"}))
    b = tx.encode(spdy.SynStream(3, {"streamtype": "error", "port": "8080"}))
    assert len(b) < len(a)  # the second block refers back to the first
    assert rx.feed(a + b)[1] == spdy.SynStream(3, {"streamtype": "error", "port": "8080"})
    # ...so a fresh reader cannot decode the second block alone.
    with pytest.raises(spdy.SpdyError):
        spdy.Codec().feed(b)


def test_repeated_header_names_keep_every_value() -> None:
    block = struct.pack(">I", 2) + b"".join(
        struct.pack(">I", 1) + b"a" + struct.pack(">I", 1) + v for v in (b"1", b"2")
    )
    assert spdy.decode_header_block(block) == {"a": "1\x002"}


@pytest.mark.parametrize(
    "raw",
    [
        struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1",  # SPDY/2
        struct.pack(">HHI", 0x8003, spdy.PING, 2) + b"\0\0",  # too short
        struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, 14) + b"\0" * 10 + b"junk",  # not zlib
    ],
)
def test_bad_frames_are_spdy_errors(raw: bytes) -> None:
    with pytest.raises(spdy.SpdyError):
        spdy.Codec().feed(raw)


def test_truncated_header_block_is_an_error() -> None:
    with pytest.raises(spdy.SpdyError):
        spdy.decode_header_block(struct.pack(">II", 1, 10) + b"abc")


def test_unknown_control_frames_are_skipped() -> None:
    unknown = struct.pack(">HHI", 0x8003, 10, 4) + b"\0\0\0\0"
    c = spdy.Codec()
    assert c.feed(unknown + c.encode(spdy.Ping(1))) == [spdy.Ping(1)]
