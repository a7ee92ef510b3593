"""The meaning of one write, independent of where state lives: given the key's current value
and the revision the write would get, produce the event or raise. Both stores apply writes
through `apply_write`, so their semantics cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from knet.storage.interface import (
    Event,
    EventType,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    RevisionMismatchError,
)
from knet.storage.keys import check_key, check_revision, check_value


class OpKind(Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class WriteOp:
    kind: OpKind
    key: str
    value: bytes = b""
    expected_mod_revision: int | None = None

    @classmethod
    def create(cls, key: str, value: bytes) -> WriteOp:
        return cls(OpKind.CREATE, check_key(key), check_value(value))

    @classmethod
    def update(cls, key: str, value: bytes, expected_mod_revision: int | None) -> WriteOp:
        return cls(
            OpKind.UPDATE,
            check_key(key),
            check_value(value),
            _check_expected(expected_mod_revision),
        )

    @classmethod
    def delete(cls, key: str, expected_mod_revision: int | None) -> WriteOp:
        return cls(OpKind.DELETE, check_key(key), b"", _check_expected(expected_mod_revision))


def _check_expected(expected: int | None) -> int | None:
    if expected is None:
        return None
    # Every live key was written at revision >= 1, so 0 or less can never match.
    return check_revision(expected, "expected_mod_revision", minimum=1)


def apply_write(op: WriteOp, current: KeyValue | None, revision: int) -> Event:
    """The event `op` produces at `revision` when the key currently holds `current`."""
    if op.kind is OpKind.CREATE:
        if current is not None:
            raise KeyExistsError(op.key)
        return Event(EventType.PUT, KeyValue(op.key, op.value, revision, revision, 1), None)
    if current is None:
        raise KeyNotFoundError(op.key)
    if op.expected_mod_revision is not None and op.expected_mod_revision != current.mod_revision:
        raise RevisionMismatchError(op.key, op.expected_mod_revision, current)
    if op.kind is OpKind.UPDATE:
        kv = KeyValue(op.key, op.value, current.create_revision, revision, current.version + 1)
        return Event(EventType.PUT, kv, current)
    # A DELETE carries the last value at the delete's own revision (see Event).
    kv = KeyValue(op.key, current.value, current.create_revision, revision, current.version)
    return Event(EventType.DELETE, kv, current)
