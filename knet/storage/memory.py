"""An in-memory store with the same semantics as the durable one, for fast tests.

Everything runs on the event loop, so each write is atomic without locks. History lives only
in the watch hub's ring, which is exactly the last `history_window` revisions.
"""

from __future__ import annotations

from knet.storage.interface import (
    CompactedError,
    Event,
    EventType,
    KeyValue,
    Store,
    StoreError,
    Watch,
    WatchClosedError,
)
from knet.storage.keys import check_key, check_prefix, check_revision
from knet.storage.ops import WriteOp, apply_write
from knet.storage.watchhub import WatchHub


class MemoryStore(Store):
    def __init__(self, *, history_window: int = 50_000, watch_queue_size: int = 10_000) -> None:
        check_revision(history_window, "history_window", minimum=1)
        check_revision(watch_queue_size, "watch_queue_size", minimum=1)
        self._history_window = history_window
        self._data: dict[str, KeyValue] = {}
        self._revision = 0
        self._compacted = 0
        self._hub = WatchHub(revision=0, ring_size=history_window, queue_size=watch_queue_size)
        self._closed = False

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def compacted_revision(self) -> int:
        return self._compacted

    async def get(self, key: str) -> KeyValue | None:
        self._check_open()
        return self._data.get(check_key(key))

    async def range(self, prefix: str) -> tuple[list[KeyValue], int]:
        self._check_open()
        check_prefix(prefix)
        keys = sorted(k for k in self._data if k.startswith(prefix))
        return [self._data[k] for k in keys], self._revision

    async def create(self, key: str, value: bytes) -> KeyValue:
        return self._write(WriteOp.create(key, value)).kv

    async def update(
        self, key: str, value: bytes, *, expected_mod_revision: int | None = None
    ) -> KeyValue:
        return self._write(WriteOp.update(key, value, expected_mod_revision)).kv

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> KeyValue:
        return self._write(WriteOp.delete(key, expected_mod_revision)).kv

    def _write(self, op: WriteOp) -> Event:
        self._check_open()
        event = apply_write(op, self._data.get(op.key), self._revision + 1)
        self._revision = event.revision
        if event.type is EventType.DELETE:
            del self._data[op.key]
        else:
            self._data[op.key] = event.kv
        self._hub.publish(event)
        # The ring holds exactly `history_window` events; older ones are gone.
        self._compacted = max(self._compacted, self._revision - self._history_window)
        return event

    def watch(self, prefix: str, after_revision: int) -> Watch:
        if self._closed:
            raise WatchClosedError("store is closed")
        check_prefix(prefix)
        check_revision(after_revision, "after_revision")
        if after_revision < self._compacted:
            raise CompactedError(after_revision, self._compacted)
        return self._hub.open(prefix, after_revision, None)

    async def compact(self, revision: int) -> None:
        self._check_open()
        check_revision(revision, "compact revision")
        if revision > self._revision:
            raise ValueError(
                f"cannot compact to revision {revision}: the store is at {self._revision}"
            )
        if revision > self._compacted:
            self._compacted = revision
            self._hub.trim(revision)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hub.close_all("store closed")

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")
