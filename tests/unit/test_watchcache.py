"""The watch cache over a real store (in-memory, and etcd when installed): list, replay, fan-out,
410 for revisions older than its ring, slow watchers ended without blocking others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from _etcd import etcd_server, open_etcd_store

from knet.api import registry
from knet.api.selectors import parse_label_selector
from knet.apiserver.stored import encode
from knet.apiserver.watchcache import CacheWatch, WatchCache, list_from_cache
from knet.storage import CompactedError, Event, Store, WatchClosedError
from knet.storage.memory import MemoryStore
from knet.testing.etcd import EtcdProcess

__all__ = ["etcd_server"]

CM = registry.by_kind("ConfigMap")


def _value(name: str, ns: str, labels: dict[str, str] | None = None) -> bytes:
    meta = {"name": name, "namespace": ns, "labels": labels or {}}
    return encode({"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta, "data": {}})


@pytest.fixture(params=["memory", "etcd"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        s: Store = MemoryStore()
    else:
        server: EtcdProcess = request.getfixturevalue("etcd_server")
        s = await open_etcd_store(server.url)
    try:
        yield s
    finally:
        await s.close()


async def _next(w: CacheWatch) -> Event:
    return await asyncio.wait_for(anext(aiter(w)), 5.0)


async def _caught_up(cache: WatchCache, revision: int) -> None:
    async with asyncio.timeout(5.0):
        while cache.revision < revision:
            await asyncio.sleep(0.01)


async def test_lists_and_follows_the_store(store: Store) -> None:
    await store.create(CM.key("a", "one"), _value("one", "a", {"app": "x"}))
    cache = WatchCache(store, CM.key_prefix(None))
    await cache.start()
    try:
        items, rev = cache.list(CM, CM.key_prefix(None), None, None)
        assert [o["metadata"]["name"] for o in items] == ["one"]
        assert rev == store.revision
        two = await store.create(CM.key("b", "two"), _value("two", "b", {"app": "y"}))
        await _caught_up(cache, two.mod_revision)
        sel = parse_label_selector("app=y")
        items, rev = cache.list(CM, CM.key_prefix(None), sel, None)
        assert [o["metadata"]["name"] for o in items] == ["two"]
        assert items[0]["metadata"]["resourceVersion"] == str(two.mod_revision)
        assert rev == two.mod_revision
        items, _ = cache.list(CM, CM.key_prefix("a"), None, None)
        assert [o["metadata"]["name"] for o in items] == ["one"]
        await store.delete(CM.key("a", "one"))
        await _caught_up(cache, store.revision)
        items, _ = cache.list(CM, CM.key_prefix(None), None, None)
        assert [o["metadata"]["name"] for o in items] == ["two"]
    finally:
        await cache.close()


async def test_watch_replays_the_ring_then_follows_live_changes(store: Store) -> None:
    cache = WatchCache(store, CM.key_prefix(None))
    await cache.start()
    try:
        start = cache.revision
        first = await store.create(CM.key("a", "one"), _value("one", "a"))
        await store.create(CM.key("b", "other"), _value("other", "b"))
        await _caught_up(cache, store.revision)
        w = cache.watch(CM.key_prefix("a"), start)  # namespace a only
        assert (await _next(w)).revision == first.mod_revision
        upd = await store.update(CM.key("a", "one"), _value("one", "a", {"k": "v"}))
        ev = await _next(w)
        assert (ev.revision, ev.prev_kv is not None) == (upd.mod_revision, True)
        w.close()
        assert cache.watcher_count == 0
    finally:
        await cache.close()


async def test_a_revision_older_than_the_ring_is_compacted(store: Store) -> None:
    cache = WatchCache(store, CM.key_prefix(None), ring_size=2)
    await cache.start()
    try:
        start = cache.revision
        for i in range(3):
            await store.create(CM.key("a", f"n{i}"), _value(f"n{i}", "a"))
        await _caught_up(cache, store.revision)
        with pytest.raises(CompactedError) as exc:
            cache.watch(CM.key_prefix(None), start)
        assert exc.value.requested == start
        assert exc.value.compacted == start + 1  # the first create fell out of the ring
        w = cache.watch(CM.key_prefix(None), start + 1)
        assert (await _next(w)).revision == start + 2
    finally:
        await cache.close()


async def test_a_slow_watcher_is_ended_and_blocks_nobody(store: Store) -> None:
    cache = WatchCache(store, CM.key_prefix(None), watcher_queue=2)
    await cache.start()
    try:
        slow = cache.watch(CM.key_prefix(None), cache.revision)
        fast = cache.watch(CM.key_prefix(None), cache.revision)
        seen: list[int] = []
        for i in range(5):
            kv = await store.create(CM.key("a", f"n{i}"), _value(f"n{i}", "a"))
            seen.append((await _next(fast)).revision)  # the fast one keeps up, write by write
            assert seen[-1] == kv.mod_revision
        got = [ev.revision async for ev in _until_closed(slow)]
        assert len(got) == 2  # what fitted in its queue, then the end
        assert cache.watcher_count == 1
    finally:
        await cache.close()


async def _until_closed(w: CacheWatch) -> AsyncIterator[Event]:
    with pytest.raises(WatchClosedError):
        async for ev in w:
            yield ev


async def test_close_ends_client_watches(store: Store) -> None:
    cache = WatchCache(store, CM.key_prefix(None))
    await cache.start()
    w = cache.watch(CM.key_prefix(None), cache.revision)
    await cache.close()
    with pytest.raises(WatchClosedError):
        await _next(w)


@pytest.mark.parametrize(
    ("rv", "match", "cache_rev", "from_cache"),
    [
        ("0", None, 5, True),
        ("0", "NotOlderThan", 5, True),
        ("5", "NotOlderThan", 5, True),
        ("6", "NotOlderThan", 5, False),  # the cache is behind: read the store
        (None, None, 5, False),  # unset: a consistent read
        ("5", None, 5, False),
        ("5", "Exact", 5, False),
        ("0", "Exact", 5, False),
        ("x", "NotOlderThan", 5, False),
    ],
)
def test_which_lists_the_cache_serves(
    rv: str | None, match: str | None, cache_rev: int, from_cache: bool
) -> None:
    assert list_from_cache(rv, match, cache_rev) is from_cache


async def test_a_new_cache_fills_its_ring_from_the_store_history(store: Store) -> None:
    before = store.revision
    first = await store.create(CM.key("a", "one"), _value("one", "a"))
    await store.update(CM.key("a", "one"), _value("one", "a", {"k": "v"}))
    cache = WatchCache(store, CM.key_prefix(None))  # started after the writes, as on a restart
    await cache.start()
    try:
        assert cache.floor <= before
        w = cache.watch(CM.key_prefix(None), before)
        got = [(await _next(w)).revision for _ in range(2)]
        assert got == [first.mod_revision, first.mod_revision + 1]
        items, _ = cache.list(CM, CM.key_prefix(None), None, None)
        assert items[0]["metadata"]["labels"] == {"k": "v"}  # history never rewinds the objects
    finally:
        await cache.close()


async def test_no_more_history_than_the_store_keeps() -> None:
    store = MemoryStore(history_window=2)
    cache = WatchCache(store, CM.key_prefix(None))
    await cache.start()
    try:
        for i in range(4):
            await store.create(CM.key("a", f"n{i}"), _value(f"n{i}", "a"))
        await _caught_up(cache, store.revision)
        assert store.compacted_revision > 0  # the ring still holds them all; the store does not
        with pytest.raises(CompactedError) as exc:
            cache.watch(CM.key_prefix(None), 0)
        assert exc.value.compacted == store.compacted_revision
        cache.watch(CM.key_prefix(None), store.compacted_revision).close()
    finally:
        await cache.close()
        await store.close()
