"""A real etcd per test module, and the adapter that lets the store contract tests, written
with absolute revisions (a new store starts at 0), run on a shared etcd.

Each etcd store of a test gets a key root of its own (`/kt-<n>`), so tests never see each
other's keys; `Rebased` shifts every revision by the etcd revision at the store's start, so
"the first write is revision 1" holds. Nothing else changes: every call goes to the real store.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from itertools import count

import pytest

from knet.storage import (
    CompactedError,
    Event,
    KeyValue,
    RevisionMismatchError,
    Store,
    Watch,
)
from knet.storage.etcd import EtcdStore
from knet.storage.etcd_client import EtcdClient
from knet.storage.etcd_wire import Mount
from knet.testing.etcd import EtcdProcess, etcd_binary, running_etcd

needs_etcd = pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed")
_roots = count()


@pytest.fixture(scope="module")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    if etcd_binary() is None:
        pytest.skip("etcd is not installed (scripts/setup installs etcd-server)")
    with running_etcd(tmp_path_factory.mktemp("kt-etcd")) as server:
        yield server


async def open_etcd_store(
    url: str, *, timeout: float = 5.0, reconnect_timeout: float = 10.0, **kwargs: int | None
) -> EtcdStore:
    """A store on `url` under a key root no other store of this run uses."""
    client = EtcdClient([url], timeout=timeout)
    return await EtcdStore.open(
        client,
        mount=Mount("", f"/kt-{os.getpid()}-{next(_roots)}"),
        reconnect_timeout=reconnect_timeout,
        **kwargs,  # type: ignore[arg-type]
    )


class Rebased(Store):
    """`inner` with every revision shifted down by `base`."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.base = inner.revision

    def _kv(self, kv: KeyValue) -> KeyValue:
        b = self.base
        return KeyValue(kv.key, kv.value, kv.create_revision - b, kv.mod_revision - b, kv.version)

    def _in(self, revision: int) -> int:
        # Out-of-range values go through unchanged, so the store itself rejects them.
        return revision + self.base if revision >= 0 else revision

    def _expected(self, revision: int | None) -> int | None:
        return revision + self.base if revision is not None and revision > 0 else revision

    def _err(self, e: Exception) -> Exception:
        if isinstance(e, RevisionMismatchError):
            return RevisionMismatchError(e.key, e.expected - self.base, self._kv(e.current))
        if isinstance(e, CompactedError):
            return CompactedError(e.requested - self.base, max(0, e.compacted - self.base))
        return e

    @property
    def revision(self) -> int:
        return self.inner.revision - self.base

    @property
    def compacted_revision(self) -> int:
        return max(0, self.inner.compacted_revision - self.base)

    async def get(self, key: str) -> KeyValue | None:
        kv = await self.inner.get(key)
        return None if kv is None else self._kv(kv)

    async def range(self, prefix: str) -> tuple[list[KeyValue], int]:
        kvs, rev = await self.inner.range(prefix)
        return [self._kv(kv) for kv in kvs], rev - self.base

    async def create(self, key: str, value: bytes) -> KeyValue:
        return self._kv(await self.inner.create(key, value))

    async def update(
        self, key: str, value: bytes, *, expected_mod_revision: int | None = None
    ) -> KeyValue:
        expected = self._expected(expected_mod_revision)
        try:
            return self._kv(await self.inner.update(key, value, expected_mod_revision=expected))
        except (RevisionMismatchError, CompactedError) as e:
            raise self._err(e) from None

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> KeyValue:
        expected = self._expected(expected_mod_revision)
        try:
            return self._kv(await self.inner.delete(key, expected_mod_revision=expected))
        except RevisionMismatchError as e:
            raise self._err(e) from None

    def watch(self, prefix: str, after_revision: int) -> Watch:
        try:
            return RebasedWatch(self, self.inner.watch(prefix, self._in(after_revision)))
        except CompactedError as e:
            raise self._err(e) from None

    async def compact(self, revision: int) -> None:
        await self.inner.compact(self._in(revision))

    async def close(self) -> None:
        await self.inner.close()


class RebasedWatch(Watch):
    def __init__(self, store: Rebased, inner: Watch) -> None:
        self.store = store
        self.inner = inner
        self._events = aiter(inner)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        try:
            e = await anext(self._events)
        except CompactedError as err:
            raise self.store._err(err) from None
        prev = None if e.prev_kv is None else self.store._kv(e.prev_kv)
        return Event(e.type, self.store._kv(e.kv), prev)

    def close(self) -> None:
        self.inner.close()
