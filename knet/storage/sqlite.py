"""The default store: SQLite in WAL mode with `synchronous=FULL`, embedded in the process.

Writes go through one writer thread with group commit (see `sqlite_writer`); reads run on a
small pool of reader threads, each with its own connection, so a read never waits for an
fsync. A write is acknowledged (its coroutine returns) only after its transaction committed
and its event was published to watchers, so a client that saw a write can always watch from
its revision.

Reads see committed state, which may be a revision or two ahead of what watchers have been sent
yet; `range()` returns the revision of its own snapshot, and a watch from that revision skips
what the snapshot already contains, so list-then-watch never loses or repeats a change.

Watches replay recent history from an in-memory ring and older history (for example, after a
restart) from the `log` table. If the history being replayed from disk is compacted while the
replay runs, iteration raises CompactedError. Only one process may open a data directory at a
time.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from knet.storage import sqlite_db
from knet.storage.interface import (
    CompactedError,
    Event,
    KeyValue,
    Store,
    StoreError,
    StoreUnavailableError,
    Watch,
    WatchClosedError,
)
from knet.storage.keys import check_key, check_prefix, check_revision
from knet.storage.ops import WriteOp
from knet.storage.sqlite_writer import BatchResult, CompactOp, Request, Writer
from knet.storage.watchhub import WatchHub

T = TypeVar("T")

LOCK_NAME = "knet.db.lock"


@dataclass(frozen=True, slots=True)
class _Opened:
    """What the blocking part of `open` hands back to the event loop."""

    path: Path
    lock_fd: int
    conn: sqlite3.Connection
    revision: int
    compacted: int


class SqliteStore(Store):
    """Use `await SqliteStore.open(data_dir)`; close with `await store.close()`."""

    health_check_name = "sqlite"

    def __init__(
        self,
        opened: _Opened,
        *,
        history_window: int,
        watch_queue_size: int,
        memory_window: int,
        read_threads: int,
    ) -> None:
        self._path = opened.path
        self._lock_fd: int | None = opened.lock_fd
        self._revision = opened.revision
        self._compacted = opened.compacted
        self._loop = asyncio.get_running_loop()
        self._hub = WatchHub(
            revision=opened.revision,
            ring_size=min(memory_window, history_window),
            queue_size=watch_queue_size,
        )
        self._stopped: asyncio.Future[None] = self._loop.create_future()
        self._writer = Writer(
            opened.conn,
            revision=opened.revision,
            compacted=opened.compacted,
            history_window=history_window,
            loop=self._loop,
            on_batch=self._on_batch,
            on_stopped=self._on_writer_stopped,
        )
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._readers = ThreadPoolExecutor(
            max_workers=read_threads,
            thread_name_prefix="knet-store-read",
            initializer=self._open_reader,
        )
        self._closed = False
        self._writer.start()

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        *,
        history_window: int = 50_000,
        watch_queue_size: int = 10_000,
        memory_window: int = 5_000,
        read_threads: int = 4,
    ) -> SqliteStore:
        """Open (creating if needed) the store in `data_dir/knet.db`.

        `history_window`: revisions of history kept for watches. `memory_window`: how many of
        the newest are also kept in memory (older ones replay from disk). `watch_queue_size`:
        how far a watcher may fall behind before it is ended."""
        check_revision(history_window, "history_window", minimum=1)
        check_revision(watch_queue_size, "watch_queue_size", minimum=1)
        check_revision(memory_window, "memory_window")
        check_revision(read_threads, "read_threads", minimum=1)
        opened = await asyncio.to_thread(_open_files, Path(data_dir))
        return cls(
            opened,
            history_window=history_window,
            watch_queue_size=watch_queue_size,
            memory_window=memory_window,
            read_threads=read_threads,
        )

    @property
    def path(self) -> Path:
        return self._path

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def compacted_revision(self) -> int:
        return self._compacted

    # Reads.

    async def get(self, key: str) -> KeyValue | None:
        check_key(key)
        return await self._read(lambda conn: sqlite_db.read_get(conn, key))

    async def range(self, prefix: str) -> tuple[list[KeyValue], int]:
        check_prefix(prefix)
        return await self._read(lambda conn: sqlite_db.read_range(conn, prefix))

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
        return await self._loop.run_in_executor(self._readers, self._run_read, query)

    def _run_read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection = self._local.conn
        return query(conn)

    def _open_reader(self) -> None:
        conn = sqlite_db.connect(self._path, reader=True)
        self._local.conn = conn
        with self._reader_lock:
            self._reader_conns.append(conn)

    # Writes.

    async def create(self, key: str, value: bytes) -> KeyValue:
        return (await self._write(WriteOp.create(key, value))).kv

    async def update(
        self, key: str, value: bytes, *, expected_mod_revision: int | None = None
    ) -> KeyValue:
        return (await self._write(WriteOp.update(key, value, expected_mod_revision))).kv

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> KeyValue:
        return (await self._write(WriteOp.delete(key, expected_mod_revision))).kv

    async def compact(self, revision: int) -> None:
        check_revision(revision, "compact revision")
        await self._submit(CompactOp(revision))

    async def _write(self, op: WriteOp) -> Event:
        event = await self._submit(op)
        if event is None:
            raise AssertionError("the store writer returned no event for a write")
        return event

    async def _submit(self, op: WriteOp | CompactOp) -> Event | None:
        self._check_open()
        future: asyncio.Future[Event | None] = self._loop.create_future()
        self._writer.submit(Request(op, future))
        return await future

    def _on_batch(self, result: BatchResult) -> None:
        """On the loop, after a commit: publish events in revision order, then acknowledge."""
        for _, outcome in result.outcomes:
            if isinstance(outcome, Event):
                self._hub.publish(outcome)
        self._revision = result.revision
        if result.compacted > self._compacted:
            self._compacted = result.compacted
            self._hub.trim(result.compacted)
        for request, outcome in result.outcomes:
            if request.future.done():  # the caller was cancelled; the write still happened
                continue
            if isinstance(outcome, Exception):
                request.future.set_exception(outcome)
            else:
                request.future.set_result(outcome)

    def _on_writer_stopped(self) -> None:
        if not self._stopped.done():
            self._stopped.set_result(None)

    # Watches.

    def watch(self, prefix: str, after_revision: int) -> Watch:
        if self._closed:
            raise WatchClosedError("store is closed")
        check_prefix(prefix)
        check_revision(after_revision, "after_revision")
        if after_revision < self._compacted:
            raise CompactedError(after_revision, self._compacted)
        return self._hub.open(prefix, after_revision, self._read_log)

    async def _read_log(self, prefix: str, after: int, upto: int, limit: int) -> Sequence[Event]:
        return await self._read(lambda conn: sqlite_db.read_log(conn, prefix, after, upto, limit))

    # Lifecycle.

    async def check(self) -> None:
        """The database answers a read and the writer thread still runs."""
        self._check_open()
        if self._stopped.done():
            raise StoreUnavailableError("the SQLite writer has stopped")
        try:
            await self._read(lambda conn: conn.execute("SELECT 1").fetchone())
        except sqlite3.Error as e:
            raise StoreUnavailableError(f"SQLite: {e}") from e

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
        await self._stopped  # every write submitted before close is committed and answered
        self._hub.close_all("store closed")
        await asyncio.to_thread(self._readers.shutdown, wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")


def _open_files(data_dir: Path) -> _Opened:
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_fd = _lock_data_dir(data_dir)
    try:
        path = data_dir / sqlite_db.DB_NAME
        conn = sqlite_db.connect(path, reader=False)
        try:
            revision, compacted = sqlite_db.init_schema(conn)
            sqlite_db.fsync_dir(data_dir)
        except BaseException:
            conn.close()
            raise
    except BaseException:
        os.close(lock_fd)
        raise
    return _Opened(path, lock_fd, conn, revision, compacted)


def _lock_data_dir(data_dir: Path) -> int:
    # The revision counter lives in this process, so two processes on one database would
    # hand out the same revisions. An flock is dropped by the kernel when the holder dies,
    # so a crashed server never leaves a stale lock behind.
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(f"store {data_dir} is already open (by this or another process)") from None
    except BaseException:
        os.close(fd)
        raise
    return fd
