"""SQLite schema, connections and the blocking queries of `SqliteStore`.

Tables: `kv` is the current state, `log` one row per revision (enough to rebuild the event with
its prev_kv after a restart), `meta` the current and compacted revisions. The revision lives in
`meta` so it survives even when every log row is compacted and every key deleted.

All functions here block; callers run them off the event loop.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from knet.storage.interface import CompactedError, Event, EventType, KeyValue
from knet.storage.keys import prefix_end
from knet.storage.layout import legacy_key

DB_NAME = "knet.db"
SCHEMA_VERSION = 1

_SCHEMA = f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    create_rev INTEGER NOT NULL,
    mod_rev INTEGER NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    rev INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    type INTEGER NOT NULL,
    value BLOB NOT NULL,
    create_rev INTEGER NOT NULL,
    version INTEGER NOT NULL,
    prev_mod_rev INTEGER,
    prev_value BLOB
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (name, value) VALUES
    ('schema', {SCHEMA_VERSION}), ('revision', 0), ('compacted', 0), ('layout', 1);
COMMIT;
"""

# Version of the key layout (see knet.storage.layout): 1 was knet's first one
# (`/registry/<group or core>/<plural>/...`), 2 is kube-apiserver's. A store without the row
# predates it and so has layout 1.
KEY_LAYOUT = 2

# log.type values.
_PUT = 0
_DELETE = 1

_KV_COLUMNS = "key, value, create_rev, mod_rev, version"
_LOG_COLUMNS = "rev, key, type, value, create_rev, version, prev_mod_rev, prev_value"

KvRow = tuple[str, bytes, int, int, int]
LogRow = tuple[int, str, int, bytes, int, int, int | None, bytes | None]


def connect(path: Path, *, reader: bool) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly
    # what the code says. check_same_thread=False: closed from another thread at shutdown.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    try:
        if reader:
            conn.execute("PRAGMA query_only = ON")
        else:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise sqlite3.OperationalError(f"{path}: cannot use WAL mode (got {mode!r})")
        # FULL: the WAL is fsynced on every commit, so an acknowledged write survives a crash
        # of the machine, not only of the process.
        conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def init_schema(conn: sqlite3.Connection) -> tuple[int, int]:
    """Create the tables if needed; return (revision, compacted revision)."""
    conn.executescript(_SCHEMA)
    schema = read_meta_value(conn, "schema")
    if schema != SCHEMA_VERSION:
        raise sqlite3.DatabaseError(f"unsupported store schema {schema} (want {SCHEMA_VERSION})")
    if read_meta_value(conn, "layout") < KEY_LAYOUT:
        migrate_key_layout(conn)
    return read_meta(conn)


def migrate_key_layout(conn: sqlite3.Connection) -> None:
    """Rename every key of the first layout to kube-apiserver's, in `kv` and in the history,
    in one transaction. Revisions are kept: a key's history stays its history, so a watch
    resumed from before the upgrade still works (under the new prefix)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table in ("kv", "log"):
            keys = [r[0] for r in conn.execute(f"SELECT DISTINCT key FROM {table}")]
            renames = [(new, old) for old in keys if (new := legacy_key(old)) is not None]
            conn.executemany(f"UPDATE {table} SET key = ? WHERE key = ?", renames)
        write_meta(conn, "layout", KEY_LAYOUT)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def fsync_dir(path: Path) -> None:
    """Make the creation of files in `path` durable (the WAL's directory entry included)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_meta_value(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise sqlite3.DatabaseError(f"store metadata {name!r} is missing")
    return int(row[0])


def read_meta(conn: sqlite3.Connection) -> tuple[int, int]:
    return read_meta_value(conn, "revision"), read_meta_value(conn, "compacted")


def write_meta(conn: sqlite3.Connection, name: str, value: int) -> None:
    conn.execute("UPDATE meta SET value = ? WHERE name = ?", (value, name))


def kv_from_row(row: KvRow) -> KeyValue:
    return KeyValue(row[0], row[1], row[2], row[3], row[4])


def read_get(conn: sqlite3.Connection, key: str) -> KeyValue | None:
    row = conn.execute(f"SELECT {_KV_COLUMNS} FROM kv WHERE key = ?", (key,)).fetchone()
    return None if row is None else kv_from_row(row)


def read_range(conn: sqlite3.Connection, prefix: str) -> tuple[list[KeyValue], int]:
    """Keys under `prefix` and the revision, both from one snapshot."""
    where, args = _prefix_clause(prefix)
    with _read_snapshot(conn):
        revision = read_meta_value(conn, "revision")
        rows = conn.execute(
            f"SELECT {_KV_COLUMNS} FROM kv WHERE {where} ORDER BY key", args
        ).fetchall()
    return [kv_from_row(r) for r in rows], revision


def read_log(
    conn: sqlite3.Connection, prefix: str, after: int, upto: int, limit: int
) -> list[Event]:
    """At most `limit` events under `prefix` with after < rev <= upto, oldest first."""
    where, args = _prefix_clause(prefix)
    with _read_snapshot(conn):
        compacted = read_meta_value(conn, "compacted")
        if after < compacted:
            raise CompactedError(after, compacted)
        rows = conn.execute(
            f"SELECT {_LOG_COLUMNS} FROM log WHERE rev > ? AND rev <= ? AND {where} "
            "ORDER BY rev LIMIT ?",
            (after, upto, *args, limit),
        ).fetchall()
    return [event_from_row(r) for r in rows]


def event_from_row(row: LogRow) -> Event:
    rev, key, kind, value, create_rev, version, prev_mod_rev, prev_value = row
    kv = KeyValue(key, value, create_rev, rev, version)
    if kind == _DELETE:
        if prev_mod_rev is None:
            raise sqlite3.DatabaseError(f"log row {rev}: delete without previous revision")
        return Event(EventType.DELETE, kv, KeyValue(key, value, create_rev, prev_mod_rev, version))
    if prev_mod_rev is None:
        return Event(EventType.PUT, kv, None)
    if prev_value is None:
        raise sqlite3.DatabaseError(f"log row {rev}: update without previous value")
    return Event(
        EventType.PUT, kv, KeyValue(key, prev_value, create_rev, prev_mod_rev, version - 1)
    )


def read_many(conn: sqlite3.Connection, keys: list[str]) -> dict[str, KeyValue]:
    """The live keys among `keys`, in as few statements as SQLite's parameter limit allows."""
    found: dict[str, KeyValue] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {_KV_COLUMNS} FROM kv WHERE key IN ({marks})", chunk):
            found[row[0]] = kv_from_row(row)
    return found


def write_events(conn: sqlite3.Connection, events: list[Event]) -> None:
    """Apply `events` (in revision order) to `kv` and append them to `log`, inside the caller's
    transaction. Statements are batched: each one releases and retakes the GIL, and a writer
    thread that does that per row starves behind a busy event loop."""
    final: dict[str, Event] = {}
    log_rows = []
    for event in events:
        kv, prev = event.kv, event.prev_kv
        final[kv.key] = event
        if event.type is EventType.DELETE:
            kind, prev_value = _DELETE, None  # the deleted value is the row's own value
        else:
            kind, prev_value = _PUT, None if prev is None else prev.value
        log_rows.append(
            (
                kv.mod_revision,
                kv.key,
                kind,
                kv.value,
                kv.create_revision,
                kv.version,
                None if prev is None else prev.mod_revision,
                prev_value,
            )
        )
    deletes = [(k,) for k, e in final.items() if e.type is EventType.DELETE]
    upserts = [
        (e.kv.key, e.kv.value, e.kv.create_revision, e.kv.mod_revision, e.kv.version)
        for e in final.values()
        if e.type is EventType.PUT
    ]
    if deletes:
        conn.executemany("DELETE FROM kv WHERE key = ?", deletes)
    if upserts:
        conn.executemany(
            f"INSERT INTO kv ({_KV_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, create_rev = "
            "excluded.create_rev, mod_rev = excluded.mod_rev, version = excluded.version",
            upserts,
        )
    conn.executemany(f"INSERT INTO log ({_LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", log_rows)


def delete_log_upto(conn: sqlite3.Connection, revision: int) -> None:
    conn.execute("DELETE FROM log WHERE rev <= ?", (revision,))


def _prefix_clause(prefix: str) -> tuple[str, tuple[str, ...]]:
    if not prefix:
        return "1", ()
    end = prefix_end(prefix)
    if end is None:
        return "key >= ?", (prefix,)
    return "key >= ? AND key < ?", (prefix, end)


@contextmanager
def _read_snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction: every statement inside sees the same committed state."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")  # ends a read-only transaction; nothing to undo
