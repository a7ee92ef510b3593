"""Kubernetes' protobuf envelope to the JSON document a client would have sent instead.

A body is the 4-byte magic `k8s\\x00`, then a runtime.Unknown message: typeMeta (apiVersion = 1,
kind = 2) = 1, raw = 2 (the object's own message), contentEncoding = 3, contentType = 4. The
object is read against the table in schema.py, so everything after this module sees plain JSON.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from knet.api.times import micro_time, rfc3339
from knet.apiserver.protobuf import schema
from knet.apiserver.protobuf.wire import (
    LEN,
    VARINT,
    ProtobufError,
    WireField,
    as_int32,
    as_int64,
    as_text,
    iter_fields,
    packed_varints,
    wire_name,
)

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GO_ZERO_TIME = -62135596800  # 0001-01-01T00:00:00Z, Go's zero time.Time, which JSON calls null


def decode_k8s_protobuf(raw: bytes) -> dict[str, Any]:
    """The object in a Kubernetes protobuf body, as a JSON-shaped dict with apiVersion and kind."""
    if not raw.startswith(MAGIC):
        raise ProtobufError(
            'the body does not start with the Kubernetes protobuf prefix "k8s\\x00"'
        )
    api_version, kind, body = _read_unknown(memoryview(raw)[len(MAGIC) :])
    message = schema.message_for(api_version, kind)
    if message is None:
        raise ProtobufError(f'no kind "{kind}" is registered for version "{api_version}"')
    doc: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    doc.update(decode_message(body, message))
    return doc


def _read_unknown(buf: memoryview) -> tuple[str, str, memoryview]:
    api_version = kind = encoding = content_type = ""
    body = memoryview(b"")
    for f in _fields(buf, "envelope"):
        if f.number == 1:
            for t in _fields(_payload(f, "typeMeta"), "typeMeta"):
                if t.number == 1:
                    api_version = _text(_payload(t, "apiVersion"), "apiVersion")
                elif t.number == 2:
                    kind = _text(_payload(t, "kind"), "kind")
        elif f.number == 2:
            body = _payload(f, "raw")
        elif f.number == 3:
            encoding = _text(_payload(f, "contentEncoding"), "contentEncoding")
        elif f.number == 4:
            content_type = _text(_payload(f, "contentType"), "contentType")
    if not kind or not api_version:
        raise ProtobufError("the envelope names no apiVersion and kind")
    if encoding:
        raise ProtobufError(f'content encoding "{encoding}" is not supported')
    if content_type not in ("", MEDIA_TYPE):
        raise ProtobufError(f'content type "{content_type}" is not supported in the envelope')
    return api_version, kind, body


def decode_message(buf: memoryview, message: str, path: str = "") -> dict[str, Any]:
    """One message as JSON, per schema.MESSAGES[message]; unknown field numbers are skipped."""
    fields = schema.MESSAGES[message]
    out: dict[str, Any] = {}
    for f in _fields(buf, path):
        spec = fields.get(f.number)
        if spec is None:
            continue
        where = f"{path}.{spec.name}" if path else spec.name
        if spec.inline:
            out.update(decode_message(_payload(f, where), spec.type, path))
        elif spec.map_value is not None:
            key, value = _map_entry(f, spec.map_value, where)
            out.setdefault(spec.name, {})[key] = value
        elif spec.repeated:
            items = out.setdefault(spec.name, [])
            if f.wire_type == LEN and spec.type in (schema.INT32, schema.INT64, schema.BOOL):
                packed = _payload(f, where)
                try:
                    values = packed_varints(packed)
                except ProtobufError as e:
                    raise ProtobufError(f"{where}: {e}") from None
                items.extend(_scalar(spec.type, v) for v in values)
            else:
                items.append(_value(f, spec.type, f"{where}[{len(items)}]"))
        else:
            value = _value(f, spec.type, where)
            if isinstance(value, dict) and isinstance(out.get(spec.name), dict):
                out[spec.name].update(value)  # a repeated message field merges (protobuf rule)
            elif spec.keep_zero or spec.type not in schema.SCALARS or value:
                out[spec.name] = value
            else:
                out.pop(spec.name, None)  # a later zero overrides an earlier value
    return out


def _value(f: WireField, type_: str, where: str) -> Any:
    if type_ in (schema.INT32, schema.INT64, schema.BOOL):
        if f.wire_type != VARINT:
            raise _wrong_wire(f, VARINT, where)
        assert isinstance(f.value, int)
        return _scalar(type_, f.value)
    payload = _payload(f, where)
    if type_ == schema.STRING:
        return _text(payload, where)
    if type_ == schema.BYTES:
        return base64.b64encode(payload).decode()  # as Go's encoding/json writes []byte
    if type_ in schema.SPECIALS:
        return _special(payload, type_, where)
    return decode_message(payload, type_, where)


def _fields(buf: memoryview, where: str) -> Iterator[WireField]:
    """iter_fields, with the JSON path of the message in its errors."""
    try:
        yield from iter_fields(buf)
    except ProtobufError as e:
        raise ProtobufError(f"{where or 'object'}: {e}") from None


def _text(buf: memoryview, where: str) -> str:
    try:
        return as_text(buf)
    except ProtobufError as e:
        raise ProtobufError(f"{where}: {e}") from None


def _scalar(type_: str, value: int) -> int | bool:
    if type_ == schema.BOOL:
        return value != 0
    return as_int32(value) if type_ == schema.INT32 else as_int64(value)


def _payload(f: WireField, where: str) -> memoryview:
    if f.wire_type != LEN or not isinstance(f.value, memoryview):
        raise _wrong_wire(f, LEN, where)
    return f.value


def _wrong_wire(f: WireField, expected: int, where: str) -> ProtobufError:
    return ProtobufError(
        f"{where}: field {f.number} at offset {f.offset} is {wire_name(f.wire_type)}, "
        f"expected {wire_name(expected)}"
    )


def _map_entry(f: WireField, value_type: str, where: str) -> tuple[str, Any]:
    key = ""
    value: Any = None
    for e in _fields(_payload(f, where), where):
        if e.number == 1:
            key = _text(_payload(e, where), where)
        elif e.number == 2:
            value = _value(e, value_type, f"{where}[{key!r}]")
    if value is None:  # an absent value is the type's zero value
        if value_type in (schema.STRING, schema.BYTES):
            value = ""  # an empty string; empty bytes are "" in base64 too
        else:
            value = _special(memoryview(b""), value_type, where)
    return key, value


def _special(buf: memoryview, type_: str, where: str) -> Any:
    values: dict[int, WireField] = {f.number: f for f in _fields(buf, where)}
    if type_ in (schema.TIME, schema.MICRO_TIME):
        return _timestamp(values, micro=type_ == schema.MICRO_TIME, where=where)
    if type_ == schema.INT_OR_STRING:
        kind = _int_field(values.get(1), where)
        if kind == 0:
            return as_int32(_int_field(values.get(2), where))
        if kind == 1:
            return _text_field(values.get(3), where)
        raise ProtobufError(f"{where}: IntOrString type {kind} is neither 0 (int) nor 1 (string)")
    if type_ == schema.QUANTITY:
        return _text_field(values.get(1), where) or "0"
    if type_ == schema.FIELDS_V1:
        raw = values.get(1)
        if raw is None:
            return {}
        try:
            return orjson.loads(bytes(_payload(raw, where)))
        except orjson.JSONDecodeError as e:
            raise ProtobufError(f"{where}: FieldsV1 does not hold JSON: {e}") from None
    raise AssertionError(f"no decoder for {type_}")


def _int_field(f: WireField | None, where: str) -> int:
    if f is None:
        return 0
    if f.wire_type != VARINT or not isinstance(f.value, int):
        raise _wrong_wire(f, VARINT, where)
    return f.value


def _text_field(f: WireField | None, where: str) -> str:
    return "" if f is None else _text(_payload(f, where), where)


def _timestamp(values: dict[int, WireField], *, micro: bool, where: str) -> str | None:
    """metav1.Time / MicroTime as Go marshals them to JSON: an empty message is the zero time,
    which is null; otherwise RFC 3339 in UTC, in whole seconds (Time) or microseconds."""
    if not values:
        return None
    seconds = as_int64(_int_field(values.get(1), where))
    nanos = as_int32(_int_field(values.get(2), where))
    if not 0 <= nanos < 1_000_000_000:
        raise ProtobufError(f"{where}: nanos {nanos} is outside [0, 1e9)")
    if seconds == _GO_ZERO_TIME and nanos == 0:
        return None
    try:
        when = _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise ProtobufError(f"{where}: {seconds} seconds is outside years 1 to 9999") from None
    return micro_time(when) if micro else rfc3339(when)
