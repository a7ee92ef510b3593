"""SIGKILL a process in the middle of a write storm; every write it acknowledged must be there
after reopening, the revision must not go back, and the history must replay without gaps.

A SIGKILL keeps the kernel's page cache, so this checks atomicity and recovery of the commit
path, not fsync itself (that would need a power cut or a cache-dropping filesystem)."""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from knet.storage import CompactedError, Event, SqliteStore, Watch

HELPER = Path(__file__).with_name("_store_writer.py")
WAIT = 60.0  # guards against hangs only
CLIENTS = 32
HISTORY_WINDOW = 300  # small, so that compaction runs during the storm too


@dataclass
class Acks:
    creates: dict[str, int] = field(default_factory=dict)
    updates: dict[str, int] = field(default_factory=dict)  # highest acknowledged per key

    def add(self, line: bytes) -> None:
        kind, key, revision = line.decode().split()
        if kind == "C":
            self.creates[key] = int(revision)
        else:
            self.updates[key] = max(int(revision), self.updates.get(key, 0))

    @property
    def highest(self) -> int:
        return max([*self.creates.values(), *self.updates.values()], default=0)


async def storm_then_kill(data_dir: Path, prefix: str, kill_after: int, log: Path) -> Acks:
    """Run the writer until it has acknowledged `kill_after` writes, then SIGKILL it."""
    with log.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HELPER),
            str(data_dir),
            prefix,
            str(CLIENTS),
            str(HISTORY_WINDOW),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    assert proc.stdout is not None
    acks = Acks()
    try:
        lines = 0
        while lines < kill_after:
            line = await asyncio.wait_for(proc.stdout.readline(), WAIT)
            if not line.endswith(b"\n"):
                raise AssertionError(f"writer stopped early:\n{log.read_text()}")
            acks.add(line)
            lines += 1
        proc.send_signal(signal.SIGKILL)
        # Lines already in the pipe were acknowledged before the kill: they count too.
        rest = await asyncio.wait_for(proc.stdout.read(), WAIT)
        for line in rest.splitlines(keepends=True):
            if line.endswith(b"\n"):  # a torn last line is not a complete acknowledgement
                acks.add(line)
        assert await asyncio.wait_for(proc.wait(), WAIT) == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return acks


async def take_until(watch: Watch, revision: int) -> list[Event]:
    async def run() -> list[Event]:
        events: list[Event] = []
        async for event in watch:
            events.append(event)
            if event.revision >= revision:
                break
        return events

    return await asyncio.wait_for(run(), WAIT)


@pytest.mark.slow
async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "kt-crash-store"
    last_revision = 0
    compacted_seen = 0
    for round_, kill_after in enumerate([250, 400, 150, 600, 300]):
        acks = await storm_then_kill(
            data_dir, f"/r{round_}", kill_after, tmp_path / f"kt-writer-{round_}.log"
        )
        assert len(acks.creates) + len(acks.updates) > 0
        store = await SqliteStore.open(data_dir, history_window=HISTORY_WINDOW)
        try:
            # Every acknowledged write is there; nothing acknowledged went back in time.
            for key, revision in acks.creates.items():
                kv = await store.get(key)
                assert kv is not None, f"acknowledged create of {key} at {revision} lost"
                assert kv.create_revision == revision
                assert kv.mod_revision == revision or key.startswith(f"/r{round_}/counter/")
            for key, revision in acks.updates.items():
                kv = await store.get(key)
                assert kv is not None and kv.mod_revision >= revision, key
            assert store.revision >= acks.highest
            assert store.revision >= last_revision
            last_revision = store.revision

            # From the last acknowledged revision: no gap, or a clean CompactedError.
            if store.revision > acks.highest:
                try:
                    watch = store.watch("", acks.highest)
                except CompactedError:
                    pass
                else:
                    tail = await take_until(watch, store.revision)
                    watch.close()
                    assert [e.revision for e in tail] == list(
                        range(acks.highest + 1, store.revision + 1)
                    )

            # The whole retained history replays contiguously and agrees with the acks.
            start = store.compacted_revision
            assert start < store.revision
            watch = store.watch("", start)
            history = await take_until(watch, store.revision)
            watch.close()
            assert [e.revision for e in history] == list(range(start + 1, store.revision + 1))
            key_at = {e.revision: e.kv.key for e in history}
            for key, revision in acks.creates.items():
                if revision > start:
                    assert key_at[revision] == key
            if start > 0:
                with pytest.raises(CompactedError):
                    store.watch("", start - 1)
        finally:
            await store.close()
        compacted_seen = max(compacted_seen, start)
    assert compacted_seen > 0  # compaction ran during some storm and survived the kill
