"""What only the etcd store has: a real etcd that compacts, goes away and comes back. The
contract shared with the other stores is in test_store.py (which runs on etcd too)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from _etcd import etcd_server, needs_etcd, open_etcd_store

from knet.storage import (
    CompactedError,
    EventType,
    StoreError,
    StoreTimeoutError,
    StoreUnavailableError,
    WatchClosedError,
)
from knet.storage import etcd as etcd_store
from knet.storage.etcd import EtcdStore
from knet.storage.etcd_client import EtcdClient
from knet.storage.etcd_wire import Mount
from knet.testing.etcd import EtcdProcess, running_etcd

pytestmark = needs_etcd
__all__ = ["etcd_server"]  # a module-scoped fixture, shared by the tests that do not kill etcd

WAIT = 30.0


@pytest.fixture
def own_etcd(tmp_path: Path) -> Iterator[EtcdProcess]:
    """An etcd this test may kill and restart (same data dir and ports)."""
    with running_etcd(tmp_path) as server:
        yield server


@pytest.fixture
async def stores() -> AsyncIterator[list[EtcdStore]]:
    opened: list[EtcdStore] = []
    yield opened
    for store in opened:
        await store.close()


def test_mount_maps_keys_and_ranges() -> None:
    m = Mount("/registry", "/knet")
    assert m.to_etcd("/registry/pods/a/b") == b"/knet/pods/a/b"
    assert m.from_etcd(b"/knet/pods/a/b") == "/registry/pods/a/b"
    with pytest.raises(ValueError, match="outside"):
        m.to_etcd("/other/x")
    assert m.range_of("/elsewhere/") is None
    assert m.range_of("") == m.range_of("/registry")  # every store key is under the root
    identity = Mount("/registry", "/registry")
    assert identity.to_etcd("/registry/minions/n") == b"/registry/minions/n"
    assert m.range_of("/registry/pods/") == (b"/knet/pods/", b"/knet/pods0")


async def test_keys_live_under_the_etcd_prefix(etcd_server: EtcdProcess) -> None:
    client = EtcdClient([etcd_server.url], timeout=5.0)
    store = await EtcdStore.open(client, mount=Mount("/registry", "/kt-prefix"))
    try:
        await store.create("/registry/pods/default/a", b"{}")
        assert [kv.key for kv in (await store.range("/registry/pods/"))[0]] == [
            "/registry/pods/default/a"
        ]
    finally:
        await store.close()
    keys = etcdctl(etcd_server, "get", "/kt-prefix", "--prefix", "--keys-only").split()
    assert keys == ["/kt-prefix/pods/default/a"]


async def test_range_pages_at_one_revision(
    etcd_server: EtcdProcess, stores: list[EtcdStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(etcd_store, "RANGE_PAGE", 3)
    store = await open_etcd_store(etcd_server.url)
    stores.append(store)
    for i in range(10):
        await store.create(f"/p/{i:02}", str(i).encode())
    kvs, revision = await store.range("/p/")
    assert [kv.key for kv in kvs] == [f"/p/{i:02}" for i in range(10)]
    assert revision == store.revision == kvs[-1].mod_revision


async def test_compaction_makes_old_watches_fail(
    etcd_server: EtcdProcess, stores: list[EtcdStore]
) -> None:
    store = await open_etcd_store(etcd_server.url)
    stores.append(store)
    first = await store.create("/c/a", b"1")
    for i in range(5):
        await store.update("/c/a", str(i).encode())
    await store.compact(store.revision - 1)
    with pytest.raises(CompactedError):
        store.watch("/c/", first.mod_revision)
    # Another process that did not compact learns it from etcd, when the watch starts.
    other = await open_etcd_store(etcd_server.url)
    stores.append(other)
    assert other.compacted_revision == 0
    watch = other.watch("/c/", first.mod_revision)
    with pytest.raises(CompactedError) as info:
        await asyncio.wait_for(anext(aiter(watch)), WAIT)
    assert info.value.compacted == store.revision - 1
    watch.close()


async def test_interval_compaction_takes_turns_through_compact_rev_key(
    own_etcd: EtcdProcess, stores: list[EtcdStore]
) -> None:
    # Two API servers on one etcd, compacting every 0.2 s, as kube-apiserver's compactor does.
    for _ in range(2):
        client = EtcdClient([own_etcd.url], timeout=5.0)
        stores.append(await EtcdStore.open(client, compaction_interval=0.2))
    first = await stores[0].create("/i/a", b"0")
    deadline = time.monotonic() + WAIT
    while True:  # compaction reaches past `first` after two ticks of whichever wins them
        await stores[1].update("/i/a", b"x")
        await asyncio.sleep(0.1)
        probe = await EtcdStore.open(EtcdClient([own_etcd.url], timeout=5.0))
        stores.append(probe)  # a third process: it learns of the compaction from etcd only
        watch = probe.watch("", first.mod_revision - 1)
        try:
            await asyncio.wait_for(anext(aiter(watch)), WAIT)
        except CompactedError:
            break
        finally:
            watch.close()
        assert time.monotonic() < deadline, "history was never compacted"
    claims = etcdctl(own_etcd, "get", "compact_rev_key", "-w", "json")
    assert '"version"' in claims  # the turn-taking key exists, as upstream's does
    assert (await stores[0].get("/i/a")) is not None  # compaction never touches live keys


async def test_watch_resumes_with_prev_kv_across_an_etcd_restart(
    own_etcd: EtcdProcess, stores: list[EtcdStore]
) -> None:
    store = await open_etcd_store(own_etcd.url, reconnect_timeout=30.0)
    stores.append(store)
    created = await store.create("/w/a", b"1")
    watch = store.watch("/w/", 0)
    events = aiter(watch)
    assert (await asyncio.wait_for(anext(events), WAIT)).kv == created
    own_etcd.kill()
    own_etcd.start()  # same data dir and ports
    updated = await store.update("/w/a", b"2")
    deleted = await store.delete("/w/a")
    got = [await asyncio.wait_for(anext(events), WAIT) for _ in range(2)]
    watch.close()
    assert [e.type for e in got] == [EventType.PUT, EventType.DELETE]
    assert [e.kv for e in got] == [updated, deleted]
    assert [e.prev_kv for e in got] == [created, updated]


async def test_a_killed_etcd_fails_writes_quickly_and_the_store_recovers(
    own_etcd: EtcdProcess, stores: list[EtcdStore]
) -> None:
    store = await open_etcd_store(own_etcd.url, timeout=2.0, reconnect_timeout=1.0)
    stores.append(store)
    await store.create("/l/a", b"1")
    watch = store.watch("/l/", store.revision)
    own_etcd.kill()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="etcd"):
        await store.create("/l/b", b"1")
    with pytest.raises(StoreUnavailableError):
        await store.get("/l/a")
    assert time.monotonic() - started < 5.0
    # The watch cannot resume within its reconnect timeout: it ends, it does not hang.
    with pytest.raises(WatchClosedError, match="lost"):
        await asyncio.wait_for(anext(aiter(watch)), WAIT)
    own_etcd.start()
    again = await store.create("/l/b", b"1")
    assert again.mod_revision == store.revision
    assert [kv.key for kv in (await store.range("/l/"))[0]] == ["/l/a", "/l/b"]


async def test_acknowledged_writes_survive_a_killed_etcd(
    own_etcd: EtcdProcess, stores: list[EtcdStore]
) -> None:
    store = await open_etcd_store(own_etcd.url)
    stores.append(store)
    acked = await asyncio.gather(*(store.create(f"/d/{i:03}", str(i).encode()) for i in range(50)))
    own_etcd.kill()  # no clean shutdown: what etcd acknowledged is in its WAL
    own_etcd.start()
    kvs, revision = await store.range("/d/")
    assert sorted(kvs, key=lambda kv: kv.key) == sorted(acked, key=lambda kv: kv.key)
    assert revision == max(kv.mod_revision for kv in acked)


async def test_a_hung_etcd_times_out_instead_of_hanging(
    own_etcd: EtcdProcess, stores: list[EtcdStore]
) -> None:
    store = await open_etcd_store(own_etcd.url, timeout=1.0)
    stores.append(store)
    await store.create("/h/a", b"1")
    assert own_etcd.proc is not None
    os.kill(own_etcd.proc.pid, signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        started = time.monotonic()
        with pytest.raises(StoreTimeoutError):
            await store.update("/h/a", b"2")
        assert time.monotonic() - started < 3.0
    finally:
        os.kill(own_etcd.proc.pid, signal.SIGCONT)
    assert (await store.update("/h/a", b"3")).version >= 2


async def test_an_unreachable_etcd_at_open_is_a_store_error(tmp_path: Path) -> None:
    from knet.testing.apiserver import free_port

    client = EtcdClient([f"http://127.0.0.1:{free_port()}"], timeout=1.0)
    with pytest.raises(StoreError, match="unreachable"):
        await EtcdStore.open(client)


def etcdctl(server: EtcdProcess, *args: str) -> str:
    done = subprocess.run(
        ["etcdctl", f"--endpoints={server.url}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={**os.environ, "ETCDCTL_API": "3"},
    )
    return done.stdout
