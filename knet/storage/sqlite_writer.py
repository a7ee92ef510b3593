"""The single writer thread of `SqliteStore`, with group commit.

Requests queue up while the previous transaction is being fsynced; the writer then takes all
of them, applies them in order (each gets its own revision, and each compare sees the state
left by the one before), commits ONE transaction and reports every outcome to the event loop.
One fsync is thereby shared by every request that arrived during the previous one, which is
what keeps latency low with many concurrent writers and `synchronous=FULL`.

A request that fails its own checks (exists, not found, revision mismatch) fails alone; a
failure of the database itself rolls back and fails the whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass

from knet.storage import sqlite_db
from knet.storage.interface import Event, EventType, KeyValue, StoreError
from knet.storage.ops import WriteOp, apply_write

log = logging.getLogger(__name__)

MAX_BATCH = 512


@dataclass(frozen=True, slots=True)
class CompactOp:
    revision: int


Outcome = Event | None | Exception
"""An event for a write, None for a compaction, or the request's error."""


@dataclass(frozen=True, slots=True)
class Request:
    op: WriteOp | CompactOp
    future: asyncio.Future[Event | None]


@dataclass(frozen=True, slots=True)
class BatchResult:
    outcomes: list[tuple[Request, Outcome]]
    revision: int
    compacted: int


class _Stop:
    pass


_STOP = _Stop()


class Writer:
    """Owns the write connection; every mutation of the database happens on its thread."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        revision: int,
        compacted: int,
        history_window: int,
        loop: asyncio.AbstractEventLoop,
        on_batch: Callable[[BatchResult], None],
        on_stopped: Callable[[], None],
    ) -> None:
        self._conn = conn
        self._revision = revision
        self._compacted = compacted
        self._history_window = history_window
        # Compact in steps of ~10% of the window (at most 1000 rows) so each DELETE is small.
        self._compact_step = max(1, min(1000, history_window // 10))
        self._loop = loop
        self._on_batch = on_batch
        self._on_stopped = on_stopped
        self._queue: queue.SimpleQueue[Request | _Stop] = queue.SimpleQueue()
        # Daemon: a store that is never closed must not keep the interpreter alive; anything
        # acknowledged is already durable.
        self._thread = threading.Thread(target=self._run, name="knet-store-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, request: Request) -> None:
        self._queue.put(request)

    def stop(self) -> None:
        """Finish every request submitted so far, then close the connection and report."""
        self._queue.put(_STOP)

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                batch, stopping = self._take()
                if batch and not self._report(self._on_batch, self._commit(batch)):
                    return
        finally:
            self._conn.close()
        self._report(self._on_stopped)

    def _report(self, callback: Callable[..., None], *args: object) -> bool:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            log.warning("store writer: event loop closed, stopping")
            return False
        return True

    def _take(self) -> tuple[list[Request], bool]:
        first = self._queue.get()
        if isinstance(first, _Stop):
            return [], True
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Stop):
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, batch: list[Request]) -> BatchResult:
        start_revision, start_compacted = self._revision, self._compacted
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            outcomes = self._apply_all(batch)
            self._auto_compact()
            if self._revision != start_revision:
                sqlite_db.write_meta(self._conn, "revision", self._revision)
            self._conn.execute("COMMIT")
        except Exception as exc:
            log.exception("store writer: transaction of %d requests failed", len(batch))
            self._rollback()
            self._revision, self._compacted = start_revision, start_compacted
            outcomes = [(request, _batch_error(exc)) for request in batch]
        return BatchResult(outcomes, self._revision, self._compacted)

    def _apply_all(self, batch: list[Request]) -> list[tuple[Request, Outcome]]:
        """Apply the batch in order inside the open transaction: each write sees the state left
        by the one before. A request's own errors are its outcome; database errors propagate
        and fail the batch. Reads and writes go to SQLite in bulk (see write_events)."""
        keys = list({r.op.key for r in batch if isinstance(r.op, WriteOp)})
        state: dict[str, KeyValue | None] = dict(sqlite_db.read_many(self._conn, keys))
        outcomes: list[tuple[Request, Outcome]] = []
        pending: list[Event] = []
        for request in batch:
            op = request.op
            if isinstance(op, CompactOp):
                # Compaction deletes log rows: flush what is pending first to keep order.
                if pending:
                    sqlite_db.write_events(self._conn, pending)
                    pending = []
                if op.revision > self._revision:
                    outcomes.append(
                        (
                            request,
                            ValueError(
                                f"cannot compact to revision {op.revision}: the store is at "
                                f"{self._revision}"
                            ),
                        )
                    )
                    continue
                self._compact_to(op.revision)
                outcomes.append((request, None))
                continue
            try:
                event = apply_write(op, state.get(op.key), self._revision + 1)
            except StoreError as exc:
                outcomes.append((request, exc))
                continue
            state[op.key] = None if event.type is EventType.DELETE else event.kv
            pending.append(event)
            self._revision = event.revision
            outcomes.append((request, event))
        if pending:
            sqlite_db.write_events(self._conn, pending)
        return outcomes

    def _auto_compact(self) -> None:
        if self._revision - self._compacted >= self._history_window + self._compact_step:
            self._compact_to(self._revision - self._history_window)

    def _compact_to(self, revision: int) -> None:
        if revision <= self._compacted:
            return
        sqlite_db.delete_log_upto(self._conn, revision)
        sqlite_db.write_meta(self._conn, "compacted", revision)
        self._compacted = revision

    def _rollback(self) -> None:
        # SQLite may already have rolled back by itself (e.g. after an I/O error).
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")


def _batch_error(exc: Exception) -> StoreError:
    error = StoreError(f"store write failed: {exc}")
    error.__cause__ = exc
    return error
