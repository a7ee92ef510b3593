"""The protobuf wire format, read-only: tags, varints, fixed-width values, length-delimited bytes.

Pure functions over bytes. Anything truncated or malformed raises `ProtobufError` with the offset,
so the API server can answer 400 instead of failing inside a decoder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

VARINT = 0
I64 = 1
LEN = 2
I32 = 5

_WIRE_NAMES = {VARINT: "varint", I64: "64-bit", LEN: "length-delimited", I32: "32-bit"}
_MAX_FIELD = (1 << 29) - 1


class ProtobufError(ValueError):
    """The body is not a well-formed protobuf message of the type it claims to be."""


def wire_name(wire_type: int) -> str:
    return _WIRE_NAMES.get(wire_type, f"wire type {wire_type}")


@dataclass(frozen=True)
class WireField:
    number: int
    wire_type: int
    value: int | memoryview  # int for VARINT/I64/I32, the payload for LEN
    offset: int  # where the tag starts, for error messages


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """The unsigned varint at `pos` and the offset just past it (at most 10 bytes, < 2**64)."""
    result = 0
    for i in range(10):
        if pos + i >= len(buf):
            raise ProtobufError(f"truncated varint at offset {pos}")
        byte = buf[pos + i]
        result |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            if i == 9 and byte > 1:
                raise ProtobufError(f"varint at offset {pos} overflows 64 bits")
            return result, pos + i + 1
    raise ProtobufError(f"varint at offset {pos} is longer than 10 bytes")


def _fixed(buf: memoryview, pos: int, size: int) -> tuple[int, int]:
    if pos + size > len(buf):
        raise ProtobufError(f"truncated {size * 8}-bit value at offset {pos}")
    return int.from_bytes(buf[pos : pos + size], "little"), pos + size


def iter_fields(buf: memoryview) -> Iterator[WireField]:
    """Every field of one message, in wire order."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0 or number > _MAX_FIELD:
            raise ProtobufError(f"invalid field number {number} at offset {start}")
        value: int | memoryview
        if wire_type == VARINT:
            value, pos = read_varint(buf, pos)
        elif wire_type == I64:
            value, pos = _fixed(buf, pos, 8)
        elif wire_type == I32:
            value, pos = _fixed(buf, pos, 4)
        elif wire_type == LEN:
            size, pos = read_varint(buf, pos)
            if size > len(buf) - pos:
                raise ProtobufError(
                    f"field {number} at offset {start} claims {size} bytes but only "
                    f"{len(buf) - pos} remain"
                )
            value, pos = buf[pos : pos + size], pos + size
        else:
            # Groups (3, 4) are proto1 leftovers that Kubernetes never writes; 6 and 7 don't exist.
            raise ProtobufError(f"unsupported wire type {wire_type} at offset {start}")
        yield WireField(number, wire_type, value, start)


def packed_varints(buf: memoryview) -> list[int]:
    """A packed repeated varint field's values (parsers must accept packed and unpacked alike)."""
    values: list[int] = []
    pos = 0
    while pos < len(buf):
        value, pos = read_varint(buf, pos)
        values.append(value)
    return values


def as_int64(value: int) -> int:
    """A varint as Go's int64: the low 64 bits, two's complement."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def as_int32(value: int) -> int:
    """A varint as Go's int32 (negative int32s travel sign-extended to 64 bits): the low 32 bits."""
    value &= (1 << 32) - 1
    return value - (1 << 32) if value >= 1 << 31 else value


def as_text(buf: memoryview) -> str:
    try:
        return bytes(buf).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtobufError(f"string is not valid UTF-8 ({e.reason} at byte {e.start})") from None
