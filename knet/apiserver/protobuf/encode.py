"""A JSON-shaped object to a Kubernetes protobuf body: the inverse of decode.py.

Written against the same table (schema.py), so whatever the server can read it can also write,
and `decode_k8s_protobuf(encode_k8s_protobuf(doc)) == doc` for documents in the decoder's shape.
Fields are written in field-number order and map entries sorted by key, as Kubernetes' generated
Go code writes them. JSON keys the table does not list are left out, as the decoder skips field
numbers it does not know.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from knet.apiserver.protobuf import schema
from knet.apiserver.protobuf.wire import LEN, VARINT, ProtobufError

MAGIC = b"k8s\x00"


def encode_k8s_protobuf(doc: Mapping[str, Any]) -> bytes:
    """`doc` (with apiVersion and kind) as a protobuf body: the magic, then a runtime.Unknown."""
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise ProtobufError("the object names no apiVersion and kind")
    message = schema.message_for(api_version, kind)
    if message is None:
        raise ProtobufError(f'no kind "{kind}" is registered for version "{api_version}"')
    type_meta = _len(1, api_version.encode()) + _len(2, kind.encode())
    unknown = _len(1, type_meta) + _len(2, encode_message(doc, message))
    return MAGIC + unknown + _len(3, b"") + _len(4, b"")


def encode_message(doc: Mapping[str, Any], message: str, path: str = "") -> bytes:
    out = bytearray()
    for number, spec in sorted(schema.MESSAGES[message].items()):
        if spec.inline:
            out += _len(number, encode_message(doc, spec.type, path))
            continue
        value = doc.get(spec.name)
        if value is None:
            if spec.name in doc and spec.type in schema.SPECIALS and not spec.keep_zero:
                out += _len(number, b"")  # a zero metav1.Time: Go writes it, JSON says null
            continue
        where = f"{path}.{spec.name}" if path else spec.name
        if spec.map_value is not None:
            for key in sorted(_mapping(value, where)):
                entry = _len(1, key.encode()) + _field(2, spec.map_value, value[key], where)
                out += _len(number, entry)
        elif spec.repeated:
            if not isinstance(value, list):
                raise ProtobufError(f"{where}: expected a list")
            for i, item in enumerate(value):
                out += _field(number, spec.type, item, f"{where}[{i}]")
        else:
            out += _field(number, spec.type, value, where)
    return bytes(out)


def _field(number: int, type_: str, value: Any, where: str) -> bytes:
    if type_ == schema.BOOL:
        if not isinstance(value, bool):
            raise ProtobufError(f"{where}: expected a boolean")
        return _varint_field(number, int(value))
    if type_ in (schema.INT32, schema.INT64):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProtobufError(f"{where}: expected an integer")
        return _varint_field(number, value)
    if type_ == schema.STRING:
        if not isinstance(value, str):
            raise ProtobufError(f"{where}: expected a string")
        return _len(number, value.encode())
    if type_ == schema.BYTES:
        return _len(number, _base64(value, where))
    if type_ in schema.SPECIALS:
        return _len(number, _special(type_, value, where))
    return _len(number, encode_message(_mapping(value, where), type_, where))


def _special(type_: str, value: Any, where: str) -> bytes:
    if type_ in (schema.TIME, schema.MICRO_TIME):
        return _timestamp(value, where)
    if type_ == schema.INT_OR_STRING:
        if isinstance(value, int) and not isinstance(value, bool):
            return _varint_field(1, 0) + _varint_field(2, value)
        if isinstance(value, str):
            return _varint_field(1, 1) + _len(3, value.encode())
        raise ProtobufError(f"{where}: expected an integer or a string")
    if type_ == schema.QUANTITY:
        return _len(1, str(value).encode())
    if type_ == schema.FIELDS_V1:
        return _len(1, orjson.dumps(value))
    raise AssertionError(f"no encoder for {type_}")


def _timestamp(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise ProtobufError(f"{where}: expected an RFC 3339 time")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ProtobufError(f"{where}: {value!r} is not an RFC 3339 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int(when.timestamp() // 1)
    nanos = when.microsecond * 1000
    return _varint_field(1, seconds) + (_varint_field(2, nanos) if nanos else b"")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ProtobufError(f"{where}: expected an object")
    return value


def _base64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise ProtobufError(f"{where}: expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProtobufError(f"{where}: not valid base64") from None


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative numbers travel as 64-bit two's complement, as Go writes them
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3 | VARINT) + _varint(value)


def _len(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | LEN) + _varint(len(payload)) + payload
