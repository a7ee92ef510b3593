"""etcd v3's gRPC messages, both ways: building requests, reading responses. Pure functions.

The messages are etcd's own protobufs (`etcdserverpb`, `mvccpb`), as shipped compiled in the
aetcd package; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aetcd.rpc import rpc_pb2

from knet.storage.interface import Event, EventType, KeyValue, StoreError
from knet.storage.keys import prefix_end

Pb = Any  # a protobuf message (the generated modules carry no type information)

_VERSION = rpc_pb2.Compare.VERSION
_CREATE = rpc_pb2.Compare.CREATE
_MOD = rpc_pb2.Compare.MOD
_EQUAL = rpc_pb2.Compare.EQUAL
_GREATER = rpc_pb2.Compare.GREATER
_DELETE_EVENT = 1  # mvccpb.Event.DELETE
ALL_KEYS = (b"\0", b"\0")  # etcd's "every key" range


@dataclass(frozen=True, slots=True)
class Mount:
    """Where the store's keys live in etcd: `etcd_root` + the key less `store_root`.

    With kube-apiserver's defaults both roots are `/registry` and keys are stored as they are;
    `--etcd-prefix /other` moves them under `/other`. Keys outside `store_root` are refused."""

    store_root: str = ""
    etcd_root: str = ""

    def to_etcd(self, key: str) -> bytes:
        if not key.startswith(self.store_root):
            raise ValueError(f"store key {key!r} is outside the store root {self.store_root!r}")
        return (self.etcd_root + key[len(self.store_root) :]).encode()

    def from_etcd(self, raw: bytes) -> str:
        key = raw.decode()
        if not key.startswith(self.etcd_root):
            raise StoreError(f"etcd returned key {key!r} outside {self.etcd_root!r}")
        return self.store_root + key[len(self.etcd_root) :]

    def range_of(self, prefix: str) -> tuple[bytes, bytes] | None:
        """The etcd `[key, range_end)` holding the store keys under `prefix`, or None when no
        store key can start with `prefix`."""
        if prefix.startswith(self.store_root):
            start = self.etcd_root + prefix[len(self.store_root) :]
        elif self.store_root.startswith(prefix):
            start = self.etcd_root  # every store key starts with the root, so with `prefix`
        else:
            return None
        if not start:
            return ALL_KEYS
        end = prefix_end(start)
        return start.encode(), b"\0" if end is None else end.encode()


def key_value(mount: Mount, kv: Pb) -> KeyValue:
    return KeyValue(
        mount.from_etcd(kv.key), kv.value, kv.create_revision, kv.mod_revision, kv.version
    )


def event(mount: Mount, ev: Pb) -> Event:
    """One watch event. A DELETE carries the last value at the delete's revision (see Event),
    which etcd gives only through `prev_kv`, so watches always ask for it."""
    kv = key_value(mount, ev.kv)
    prev = key_value(mount, ev.prev_kv) if ev.HasField("prev_kv") else None
    if ev.type != _DELETE_EVENT:
        return Event(EventType.PUT, kv, prev)
    if prev is None:  # etcd could not read the previous value (compacted meanwhile)
        return Event(EventType.DELETE, kv, None)
    last = KeyValue(kv.key, prev.value, prev.create_revision, kv.mod_revision, prev.version)
    return Event(EventType.DELETE, last, prev)


# Compares and requests of a txn.


def exists(key: bytes) -> Pb:
    # etcd compares a missing key as if every field were zero.
    return rpc_pb2.Compare(key=key, target=_CREATE, result=_GREATER, create_revision=0)


def missing(key: bytes) -> Pb:
    return rpc_pb2.Compare(key=key, target=_CREATE, result=_EQUAL, create_revision=0)


def version_is(key: bytes, version: int) -> Pb:
    return rpc_pb2.Compare(key=key, target=_VERSION, result=_EQUAL, version=version)


def mod_is(key: bytes, revision: int) -> Pb:
    return rpc_pb2.Compare(key=key, target=_MOD, result=_EQUAL, mod_revision=revision)


def put(key: bytes, value: bytes) -> Pb:
    return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value, prev_kv=True))


def delete(key: bytes) -> Pb:
    return rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key, prev_kv=True))


def get(key: bytes) -> Pb:
    return rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key))


def txn(compare: Pb, success: Pb, failure: Pb | None = None) -> Pb:
    failures = [] if failure is None else [failure]
    return rpc_pb2.TxnRequest(compare=[compare], success=[success], failure=failures)


def range_request(key: bytes, end: bytes | None = None, limit: int = 0, revision: int = 0) -> Pb:
    return rpc_pb2.RangeRequest(key=key, range_end=end or b"", limit=limit, revision=revision)


def watch_create(rng: tuple[bytes, bytes], start_revision: int) -> Pb:
    key, end = rng
    create = rpc_pb2.WatchCreateRequest(
        key=key, range_end=end, start_revision=start_revision, prev_kv=True
    )
    return rpc_pb2.WatchRequest(create_request=create)


def compaction(revision: int) -> Pb:
    return rpc_pb2.CompactionRequest(revision=revision)
