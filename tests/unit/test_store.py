"""The store contract, modelled on Kubernetes' storage tests (store_tests.go, watcher_tests.go)
and the conformance watch tests. Everything that is part of the contract runs against every
store (memory, SQLite, a real etcd); durability across restarts runs against SqliteStore only,
etcd-specific behaviour is in test_store_etcd.py."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

import pytest
from _etcd import Rebased, etcd_server, needs_etcd, open_etcd_store

from knet.storage import (
    CompactedError,
    Event,
    EventType,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    MemoryStore,
    RevisionMismatchError,
    SqliteStore,
    Store,
    StoreError,
    Watch,
    WatchClosedError,
)
from knet.storage.keys import prefix_end
from knet.testing.etcd import EtcdProcess

__all__ = ["etcd_server"]  # a fixture, used through request.getfixturevalue

# Guards against hangs only; no test asserts on speed.
WAIT = 30.0


class MakeStore(Protocol):
    async def __call__(
        self, *, history_window: int = 50_000, watch_queue_size: int = 10_000
    ) -> Store: ...


@pytest.fixture(params=["memory", "sqlite", pytest.param("etcd", marks=needs_etcd)])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStore]:
    stores: list[Store] = []

    async def make(*, history_window: int = 50_000, watch_queue_size: int = 10_000) -> Store:
        store: Store
        if request.param == "memory":
            store = MemoryStore(history_window=history_window, watch_queue_size=watch_queue_size)
        elif request.param == "etcd":
            etcd: EtcdProcess = request.getfixturevalue("etcd_server")
            store = Rebased(
                await open_etcd_store(
                    etcd.url, history_window=history_window, watch_queue_size=watch_queue_size
                )
            )
        else:
            store = await SqliteStore.open(
                tmp_path / f"kt-store-{len(stores)}",
                history_window=history_window,
                watch_queue_size=watch_queue_size,
            )
        stores.append(store)
        return store

    try:
        yield make
    finally:
        for store in stores:
            await store.close()


@pytest.fixture
async def store(make_store: MakeStore) -> Store:
    return await make_store()


async def take(watch: Watch, count: int) -> list[Event]:
    async def run() -> list[Event]:
        events: list[Event] = []
        if count == 0:
            return events
        async for event in watch:
            events.append(event)
            if len(events) == count:
                break
        return events

    return await asyncio.wait_for(run(), WAIT)


async def take_until(watch: Watch, revision: int) -> list[Event]:
    """Events up to and including `revision`."""

    async def run() -> list[Event]:
        events: list[Event] = []
        async for event in watch:
            events.append(event)
            if event.revision >= revision:
                break
        return events

    return await asyncio.wait_for(run(), WAIT)


def summary(events: list[Event]) -> list[tuple[int, str, str]]:
    return [(e.revision, e.type.value, e.kv.key) for e in events]


# --- create / get / update / delete / range ------------------------------------------------


async def test_create_then_get(store: Store) -> None:
    assert store.revision == 0
    kv = await store.create("/pods/a", b"v1")
    assert kv == KeyValue("/pods/a", b"v1", create_revision=1, mod_revision=1, version=1)
    assert await store.get("/pods/a") == kv
    assert await store.get("/pods/missing") is None
    assert store.revision == 1


async def test_create_existing_key_fails_and_uses_no_revision(store: Store) -> None:
    await store.create("/pods/a", b"v1")
    with pytest.raises(KeyExistsError) as info:
        await store.create("/pods/a", b"v2")
    assert info.value.key == "/pods/a"
    assert store.revision == 1
    assert (await store.get("/pods/a")) == KeyValue("/pods/a", b"v1", 1, 1, 1)


async def test_update_keeps_create_revision_and_counts_versions(store: Store) -> None:
    await store.create("/pods/other", b"x")  # revision 1
    created = await store.create("/pods/a", b"v1")  # revision 2
    first = await store.update("/pods/a", b"v2")
    second = await store.update("/pods/a", b"v3", expected_mod_revision=first.mod_revision)
    assert first == KeyValue("/pods/a", b"v2", create_revision=2, mod_revision=3, version=2)
    assert second == KeyValue("/pods/a", b"v3", create_revision=2, mod_revision=4, version=3)
    assert created.create_revision == second.create_revision
    assert await store.get("/pods/a") == second
    assert store.revision == 4


async def test_update_and_delete_of_missing_key_fail(store: Store) -> None:
    with pytest.raises(KeyNotFoundError) as info:
        await store.update("/pods/nope", b"x")
    assert info.value.key == "/pods/nope"
    with pytest.raises(KeyNotFoundError):
        await store.delete("/pods/nope")
    with pytest.raises(KeyNotFoundError):
        await store.update("/pods/nope", b"x", expected_mod_revision=1)
    assert store.revision == 0


async def test_stale_update_fails_and_carries_current_value(store: Store) -> None:
    created = await store.create("/pods/a", b"v1")
    current = await store.update("/pods/a", b"v2")
    with pytest.raises(RevisionMismatchError) as info:
        await store.update("/pods/a", b"v3", expected_mod_revision=created.mod_revision)
    assert info.value.key == "/pods/a"
    assert info.value.expected == created.mod_revision
    assert info.value.current == current
    assert await store.get("/pods/a") == current
    assert store.revision == 2


async def test_delete_returns_last_value_at_the_delete_revision(store: Store) -> None:
    created = await store.create("/pods/a", b"v1")
    updated = await store.update("/pods/a", b"v2")
    with pytest.raises(RevisionMismatchError) as info:
        await store.delete("/pods/a", expected_mod_revision=created.mod_revision)
    assert info.value.current == updated
    deleted = await store.delete("/pods/a", expected_mod_revision=updated.mod_revision)
    assert deleted == KeyValue("/pods/a", b"v2", create_revision=1, mod_revision=3, version=2)
    assert await store.get("/pods/a") is None
    assert store.revision == 3
    # A key created again starts a new life.
    again = await store.create("/pods/a", b"new")
    assert again == KeyValue("/pods/a", b"new", create_revision=4, mod_revision=4, version=1)


async def test_range_by_prefix_is_sorted_and_reports_its_revision(store: Store) -> None:
    for key in ["/b/1", "/a/2", "/ab/1", "/a/1", "/a/10", "/a"]:
        await store.create(key, key.encode())
    await store.delete("/a/10")
    kvs, revision = await store.range("/a/")
    assert [kv.key for kv in kvs] == ["/a/1", "/a/2"]
    assert [kv.value for kv in kvs] == [b"/a/1", b"/a/2"]
    assert revision == store.revision == 7
    everything, _ = await store.range("")
    assert [kv.key for kv in everything] == ["/a", "/a/1", "/a/2", "/ab/1", "/b/1"]
    assert await store.range("/zzz/") == ([], 7)


async def test_range_handles_non_ascii_prefixes(store: Store) -> None:
    keys = ["/é/1", "/é/2", "/ê/1", "/\U0010ffff/x", "/\U0010ffff\U0010ffff"]
    for key in keys:
        await store.create(key, b"")
    assert [kv.key for kv in (await store.range("/é/"))[0]] == ["/é/1", "/é/2"]
    top = [kv.key for kv in (await store.range("/\U0010ffff"))[0]]
    assert top == ["/\U0010ffff/x", "/\U0010ffff\U0010ffff"]


def test_prefix_end() -> None:
    assert prefix_end("/a/") == "/a0"
    assert prefix_end("") is None
    assert prefix_end("\U0010ffff") is None
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\ud7ff") == "\ue000"


async def test_bad_input_is_rejected_with_clear_errors(store: Store) -> None:
    with pytest.raises(ValueError, match="empty"):
        await store.create("", b"x")
    with pytest.raises(TypeError, match="bytes"):
        await store.create("/k", "text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        await store.create("/k\x00", b"x")
    await store.create("/k", b"x")
    with pytest.raises(ValueError, match="expected_mod_revision"):
        await store.update("/k", b"y", expected_mod_revision=0)
    with pytest.raises(ValueError, match="after_revision"):
        store.watch("/", -1)
    with pytest.raises(ValueError, match="compact"):
        await store.compact(store.revision + 1)
    assert store.revision == 1


# --- guaranteed update under conflict -------------------------------------------------------


async def guaranteed_update(
    store: Store, key: str, mutate: Callable[[bytes], bytes], before_write: asyncio.Barrier
) -> int:
    """Read-modify-CAS until it sticks, like GuaranteedUpdate; returns the number of tries."""
    tries = 0
    while True:
        tries += 1
        current = await store.get(key)
        assert current is not None
        if tries == 1:
            await before_write.wait()  # both loops have read the same revision
        try:
            await store.update(
                key, mutate(current.value), expected_mod_revision=current.mod_revision
            )
            return tries
        except RevisionMismatchError:
            continue


async def test_guaranteed_update_with_conflict_retries_and_keeps_both(store: Store) -> None:
    await store.create("/cm/x", b"[]")
    barrier = asyncio.Barrier(2)

    def append(item: str) -> Callable[[bytes], bytes]:
        return lambda raw: json.dumps([*json.loads(raw), item]).encode()

    tries = await asyncio.wait_for(
        asyncio.gather(
            guaranteed_update(store, "/cm/x", append("a"), barrier),
            guaranteed_update(store, "/cm/x", append("b"), barrier),
        ),
        WAIT,
    )
    assert sorted(tries) == [1, 2]  # exactly one loop lost the race and retried
    final = await store.get("/cm/x")
    assert final is not None
    assert sorted(json.loads(final.value)) == ["a", "b"]
    assert final.version == 3
    assert store.revision == 3


async def test_concurrent_cas_on_one_revision_has_exactly_one_winner(store: Store) -> None:
    base = await store.create("/cm/x", b"0")
    results = await asyncio.gather(
        *(
            store.update("/cm/x", str(i).encode(), expected_mod_revision=base.mod_revision)
            for i in range(20)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, KeyValue)]
    losers = [r for r in results if isinstance(r, RevisionMismatchError)]
    assert len(winners) == 1 and len(losers) == 19
    assert all(loser.current == winners[0] for loser in losers)
    assert store.revision == 2


async def test_concurrent_creates_get_distinct_contiguous_revisions(store: Store) -> None:
    kvs = await asyncio.gather(*(store.create(f"/n/{i}", b"x") for i in range(50)))
    assert sorted(kv.mod_revision for kv in kvs) == list(range(1, 51))
    assert store.revision == 50
    assert len((await store.range("/n/"))[0]) == 50


# --- watch ---------------------------------------------------------------------------------


async def test_watch_from_zero_sees_every_change_in_order(store: Store) -> None:
    watch = store.watch("/pods/", 0)
    a1 = await store.create("/pods/a", b"1")
    a2 = await store.update("/pods/a", b"2")
    b1 = await store.create("/pods/b", b"1")
    a3 = await store.delete("/pods/a")
    events = await take(watch, 4)
    watch.close()
    assert [e.type for e in events] == [EventType.PUT] * 3 + [EventType.DELETE]
    assert [e.kv for e in events] == [a1, a2, b1, a3]
    assert [e.prev_kv for e in events] == [None, a1, None, a2]
    assert [e.is_create for e in events] == [True, False, True, False]
    # A watch opened later from 0 replays the same history.
    replay = store.watch("/pods/", 0)
    assert summary(await take(replay, 4)) == summary(events)
    replay.close()


async def test_watch_from_a_revision_gets_exactly_the_later_events(store: Store) -> None:
    # Conformance "watch-configmaps-from-resource-version".
    await store.create("/cm/a", b"0")
    first_update = await store.update("/cm/a", b"1")
    await store.update("/cm/a", b"2")
    await store.delete("/cm/a")
    watch = store.watch("/cm/", first_update.mod_revision)
    await store.create("/cm/end", b"")  # a marker, so "nothing else" needs no timeout
    events = await take_until(watch, store.revision)
    watch.close()
    assert summary(events) == [(3, "PUT", "/cm/a"), (4, "DELETE", "/cm/a"), (5, "PUT", "/cm/end")]
    assert events[0].kv.value == b"2"


async def test_restarted_watch_resumes_without_gap_or_duplicate(store: Store) -> None:
    # Conformance "watch-configmaps-closed-and-restarted".
    watch = store.watch("/cm/", 0)
    await store.create("/cm/a", b"0")
    await store.update("/cm/a", b"1")
    seen = await take(watch, 2)
    watch.close()
    await store.update("/cm/a", b"2")  # while no watch is open
    await store.delete("/cm/a")
    resumed = store.watch("/cm/", seen[-1].revision)
    rest = await take(resumed, 2)
    resumed.close()
    assert [e.revision for e in seen + rest] == [1, 2, 3, 4]
    assert [e.type for e in rest] == [EventType.PUT, EventType.DELETE]


async def test_delete_event_has_the_delete_revision_and_the_last_value(store: Store) -> None:
    created = await store.create("/pods/a", b"v1")
    updated = await store.update("/pods/a", b"v2")
    watch = store.watch("/pods/", updated.mod_revision)
    deleted = await store.delete("/pods/a")
    [event] = await take(watch, 1)
    watch.close()
    assert event.type is EventType.DELETE
    assert event.kv == deleted
    assert event.revision == deleted.mod_revision == 3 != updated.mod_revision
    assert event.kv.value == b"v2"
    assert event.prev_kv == updated
    assert event.kv.create_revision == created.create_revision


async def test_watch_before_compacted_revision_fails_at_once(store: Store) -> None:
    for i in range(5):
        await store.create(f"/k/{i}", b"x")
    await store.compact(3)
    assert store.compacted_revision == 3
    with pytest.raises(CompactedError) as info:
        store.watch("/k/", 2)
    assert (info.value.requested, info.value.compacted) == (2, 3)
    with pytest.raises(CompactedError):
        store.watch("/k/", 0)
    watch = store.watch("/k/", 3)
    assert [e.revision for e in await take(watch, 2)] == [4, 5]
    watch.close()
    await store.compact(1)  # older than the current compaction: nothing to do
    assert store.compacted_revision == 3
    assert len((await store.range("/k/"))[0]) == 5  # compaction never touches live keys


async def test_history_is_compacted_automatically_to_the_window(make_store: MakeStore) -> None:
    store = await make_store(history_window=10)
    for i in range(100):
        await store.create(f"/k/{i}", b"x")
    assert 0 < store.compacted_revision <= store.revision - 10
    with pytest.raises(CompactedError):
        store.watch("/k/", 0)
    watch = store.watch("/k/", store.compacted_revision)
    events = await take_until(watch, store.revision)
    watch.close()
    assert [e.revision for e in events] == list(range(store.compacted_revision + 1, 101))


async def test_watch_sees_only_its_prefix(store: Store) -> None:
    under_a = store.watch("/a/", 0)
    under_a_loose = store.watch("/a", 0)
    await store.create("/ab/1", b"")
    await store.create("/a/1", b"")
    await store.create("/b/1", b"")
    await store.create("/a", b"")
    await store.update("/ab/1", b"2")
    await store.create("/a/end", b"")
    assert summary(await take_until(under_a, 6)) == [(2, "PUT", "/a/1"), (6, "PUT", "/a/end")]
    loose = await take_until(under_a_loose, 6)
    assert [e.kv.key for e in loose] == ["/ab/1", "/a/1", "/a", "/ab/1", "/a/end"]
    under_a.close()
    under_a_loose.close()


async def test_watch_from_a_future_revision_starts_there(store: Store) -> None:
    await store.create("/k/0", b"")
    watch = store.watch("/k/", 3)
    for i in range(1, 5):
        await store.create(f"/k/{i}", b"")
    assert [e.revision for e in await take(watch, 2)] == [4, 5]
    watch.close()


async def test_closing_a_watch_ends_iteration_at_once(store: Store) -> None:
    watch = store.watch("/k/", 0)
    await store.create("/k/1", b"")
    assert [e.revision for e in await take(watch, 1)] == [1]

    iterator = aiter(watch)

    async def next_or_end() -> str:
        try:
            return (await anext(iterator)).kv.key
        except StopAsyncIteration:
            return "end"

    waiting = asyncio.create_task(next_or_end())
    await asyncio.sleep(0)  # the reader is now parked waiting for the next event
    watch.close()
    await store.create("/k/2", b"")
    assert await asyncio.wait_for(waiting, WAIT) == "end"
    assert await next_or_end() == "end"


async def test_closing_the_store_ends_watches(make_store: MakeStore) -> None:
    store = await make_store()
    watch = store.watch("", 0)
    reader = asyncio.create_task(take(watch, 1000))
    await store.create("/k", b"")
    await store.close()
    with pytest.raises(WatchClosedError):
        await asyncio.wait_for(reader, WAIT)
    with pytest.raises(StoreError):
        await store.create("/k2", b"")
    with pytest.raises(WatchClosedError):
        store.watch("", 0)


async def test_hundred_watchers_see_identical_order(store: Store) -> None:
    # Conformance "watch-consistency": a writer creates, updates and deletes every 5 ms;
    # watchers opened along the way from the current revision must agree on the order.
    rng = random.Random(7)
    writes = 200
    first = store.watch("/cm/", 0)
    late: list[tuple[int, Watch]] = []

    async def writer() -> None:
        live: list[str] = []
        for i in range(writes):
            if live and rng.random() < 0.3:
                await store.delete(live.pop(rng.randrange(len(live))))
            elif live and rng.random() < 0.5:
                await store.update(rng.choice(live), str(i).encode())
            else:
                live.append(f"/cm/{i}")
                await store.create(live[-1], b"")
            await asyncio.sleep(0.005)

    async def opener() -> None:
        for _ in range(99):
            late.append((store.revision, store.watch("/cm/", store.revision)))
            await asyncio.sleep(rng.random() * 0.01)

    await asyncio.wait_for(asyncio.gather(writer(), opener()), WAIT)
    reference = summary(await take_until(first, writes))
    assert [r for r, _, _ in reference] == list(range(1, writes + 1))
    for start, watch in late:
        got = summary(await take(watch, writes - start))
        assert got == reference[start:]
        watch.close()
    first.close()


async def test_list_then_watch_from_its_revision_reconstructs_the_state(store: Store) -> None:
    # What an informer does: range, then watch from the range's revision, while writes go on.
    # Applying the watched events to the listed state must give exactly the final state.
    rng = random.Random(3)
    writes = 150
    snapshots: list[tuple[dict[str, bytes], int, Watch]] = []

    async def writer() -> None:
        for i in range(writes):
            key = f"/cm/{rng.randrange(20)}"
            try:
                if rng.random() < 0.2:
                    await store.delete(key)
                else:
                    await store.update(key, str(i).encode())
            except KeyNotFoundError:
                await store.create(key, str(i).encode())
            await asyncio.sleep(0)  # MemoryStore never yields by itself

    async def lister() -> None:
        while store.revision < writes:
            kvs, revision = await store.range("/cm/")
            state = {kv.key: kv.value for kv in kvs}
            snapshots.append((state, revision, store.watch("/cm/", revision)))
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(writer(), lister()), WAIT)
    final = {kv.key: kv.value for kv in (await store.range("/cm/"))[0]}
    assert len(snapshots) > 1
    for state, revision, watch in snapshots:
        events = await take(watch, store.revision - revision)
        watch.close()
        assert [e.revision for e in events] == list(range(revision + 1, store.revision + 1))
        for event in events:
            if event.type is EventType.DELETE:
                del state[event.kv.key]
            else:
                state[event.kv.key] = event.kv.value
        assert state == final


async def test_slow_watcher_is_ended_while_a_reader_keeps_up(make_store: MakeStore) -> None:
    store = await make_store(watch_queue_size=20)
    slow = store.watch("/k/", 0)  # never read while the writes happen
    fast = store.watch("/k/", 0)
    reader = asyncio.create_task(take(fast, 60))
    for i in range(60):
        await store.create(f"/k/{i}", b"")
        await asyncio.sleep(0)  # let the reader run, as network I/O would
    events = await asyncio.wait_for(reader, WAIT)
    assert [e.revision for e in events] == list(range(1, 61))
    assert store.revision == 60  # writers were never blocked by the slow watcher
    # etcd streams each watch on its own and may hand a watcher its backlog in one batch, which
    # alone is not the consumer's fault (knet/storage/etcd_watch.py). News arriving while that
    # backlog still waits is: the other stores have ended the slow watcher already.
    await asyncio.sleep(0.5)
    await store.create("/k/more", b"")
    await asyncio.sleep(0.5)
    with pytest.raises(WatchClosedError, match="behind"):
        await take(slow, 1)
    fast.close()


# --- SqliteStore durability ----------------------------------------------------------------


async def test_sqlite_data_and_revision_survive_reopen(tmp_path: Path) -> None:
    data_dir = tmp_path / "kt-store"
    store = await SqliteStore.open(data_dir)
    await store.create("/pods/a", b"1")
    a2 = await store.update("/pods/a", b"2")
    await store.create("/pods/b", b"1")
    await store.delete("/pods/b")
    await store.close()
    assert (data_dir / "knet.db").exists()

    store = await SqliteStore.open(data_dir)
    try:
        assert store.revision == 4
        assert await store.get("/pods/a") == a2
        assert await store.get("/pods/b") is None
        assert await store.range("/pods/") == ([a2], 4)
        # Delete everything and compact all history: the revision must still not drop.
        await store.delete("/pods/a")
        await store.compact(store.revision)
    finally:
        await store.close()

    store = await SqliteStore.open(data_dir)
    try:
        assert (store.revision, store.compacted_revision) == (5, 5)
        assert await store.range("") == ([], 5)
        assert (await store.create("/pods/c", b"")).mod_revision == 6
    finally:
        await store.close()


async def test_sqlite_watch_from_before_restart_replays_from_log(tmp_path: Path) -> None:
    data_dir = tmp_path / "kt-store"
    store = await SqliteStore.open(data_dir)
    before = [
        await store.create("/pods/a", b"1"),
        await store.update("/pods/a", b"2"),
        await store.create("/other/x", b""),
        await store.delete("/pods/a"),
    ]
    await store.close()

    store = await SqliteStore.open(data_dir)
    try:
        watch = store.watch("/pods/", 1)
        after = await store.create("/pods/z", b"new")  # live, after the replay
        events = await take(watch, 3)
        watch.close()
        assert summary(events) == [
            (2, "PUT", "/pods/a"),
            (4, "DELETE", "/pods/a"),
            (5, "PUT", "/pods/z"),
        ]
        assert events[0].kv == before[1] and events[0].prev_kv == before[0]
        assert events[1].kv == before[3] and events[1].prev_kv == before[1]
        assert events[2].kv == after and events[2].prev_kv is None
    finally:
        await store.close()


async def test_sqlite_replay_from_log_hands_over_to_live_without_gap(tmp_path: Path) -> None:
    # memory_window=3: almost every watch starts with a backfill from disk while writes go on.
    store = await SqliteStore.open(tmp_path / "kt-store", memory_window=3)
    rng = random.Random(11)
    writes = 300
    watches: list[tuple[int, Watch]] = []
    try:

        async def writer() -> None:
            for i in range(writes):
                await store.create(f"/k/{i}", str(i).encode())
                if i % 10 == 0:
                    await asyncio.sleep(0.001)

        async def opener() -> None:
            while store.revision < writes:
                start = rng.randrange(0, store.revision + 1)
                watches.append((start, store.watch("/k/", start)))
                await asyncio.sleep(0.002)

        await asyncio.wait_for(asyncio.gather(writer(), opener()), WAIT)
        assert len(watches) > 5
        for start, watch in watches:
            got = [e.revision for e in await take(watch, writes - start)]
            assert got == list(range(start + 1, writes + 1))
            watch.close()
    finally:
        await store.close()


async def test_sqlite_data_dir_can_be_opened_once(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "kt-store")
    try:
        with pytest.raises(StoreError, match="already open"):
            await SqliteStore.open(tmp_path / "kt-store")
    finally:
        await store.close()
    again = await SqliteStore.open(tmp_path / "kt-store")
    await again.close()
