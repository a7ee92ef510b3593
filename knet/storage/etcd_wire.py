"""etcd v3's JSON gateway messages, both ways. Pure functions.

The gateway speaks etcd's protobuf messages as JSON: keys and values are base64, 64-bit
integers are strings, and fields at their zero value (a false `succeeded`, an empty `kvs`, the
PUT event type) are left out.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from knet.storage.interface import Event, EventType, KeyValue, StoreError
from knet.storage.keys import prefix_end

Json = dict[str, Any]


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def unb64(data: str | None) -> bytes:
    return base64.b64decode(data) if data else b""


@dataclass(frozen=True, slots=True)
class Mount:
    """Where the store's keys live in etcd: `etcd_root` + the key less `store_root`.

    With kube-apiserver's defaults both roots are `/registry` and keys are stored as they are;
    `--etcd-prefix /other` moves them under `/other`. Keys outside `store_root` are refused."""

    store_root: str = ""
    etcd_root: str = ""

    def to_etcd(self, key: str) -> str:
        if not key.startswith(self.store_root):
            raise ValueError(f"store key {key!r} is outside the store root {self.store_root!r}")
        return self.etcd_root + key[len(self.store_root) :]

    def from_etcd(self, raw: bytes) -> str:
        key = raw.decode()
        if not key.startswith(self.etcd_root):
            raise StoreError(f"etcd returned key {key!r} outside {self.etcd_root!r}")
        return self.store_root + key[len(self.etcd_root) :]

    def range_of(self, prefix: str) -> tuple[str, str] | None:
        """The etcd `[key, range_end)` (base64) holding the store keys under `prefix`, or None
        when no store key can start with `prefix`."""
        if prefix.startswith(self.store_root):
            start = self.to_etcd(prefix)
        elif self.store_root.startswith(prefix):
            start = self.etcd_root  # every store key starts with the root, so with `prefix`
        else:
            return None
        if not start:
            return b64(b"\0"), b64(b"\0")  # the whole keyspace
        end = prefix_end(start)
        return b64(start), b64(b"\0") if end is None else b64(end)


def header_revision(msg: Json) -> int:
    return int(msg.get("header", {}).get("revision", 0))


def key_value(mount: Mount, kv: Json) -> KeyValue:
    return KeyValue(
        mount.from_etcd(unb64(kv.get("key"))),
        unb64(kv.get("value")),
        int(kv.get("create_revision", 0)),
        int(kv.get("mod_revision", 0)),
        int(kv.get("version", 0)),
    )


def event(mount: Mount, ev: Json) -> Event:
    """One watch event. A DELETE carries the last value at the delete's revision (see Event),
    which etcd gives only through `prev_kv`, so watches always ask for it."""
    kv = key_value(mount, ev["kv"])
    prev = key_value(mount, ev["prev_kv"]) if "prev_kv" in ev else None
    if ev.get("type", "PUT") == "PUT":
        return Event(EventType.PUT, kv, prev)
    if prev is None:  # etcd could not read the previous value (compacted meanwhile)
        return Event(EventType.DELETE, kv, None)
    last = KeyValue(kv.key, prev.value, prev.create_revision, kv.mod_revision, prev.version)
    return Event(EventType.DELETE, last, prev)


# Compares and requests of a txn.


def exists(key: str) -> Json:
    # etcd compares a missing key as if every field were zero.
    return {"key": b64(key), "target": "CREATE", "result": "GREATER", "create_revision": "0"}


def missing(key: str) -> Json:
    return {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}


def mod_is(key: str, revision: int) -> Json:
    return {"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(revision)}


def put(key: str, value: bytes) -> Json:
    return {"request_put": {"key": b64(key), "value": b64(value), "prev_kv": True}}


def delete(key: str) -> Json:
    return {"request_delete_range": {"key": b64(key), "prev_kv": True}}


def get(key: str) -> Json:
    return {"request_range": {"key": b64(key)}}


def txn(compare: Json, success: Json, failure: Json | None = None) -> Json:
    failures = [] if failure is None else [failure]
    return {"compare": [compare], "success": [success], "failure": failures}


def first_response(msg: Json, kind: str) -> Json:
    responses = msg.get("responses", [])
    if not responses:
        return {}
    result: Json = responses[0].get(kind, {})
    return result


def watch_create(rng: tuple[str, str], start_revision: int) -> Json:
    key, end = rng
    request = {"key": key, "range_end": end, "start_revision": str(start_revision), "prev_kv": True}
    return {"create_request": request}
