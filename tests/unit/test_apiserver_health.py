"""/livez and /readyz run real checks of the store: SQLite open, etcd reachable with quorum."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _etcd import etcd_server, needs_etcd
from aiohttp.test_utils import TestClient, TestServer

from knet.apiserver.app import make_app
from knet.apiserver.config import ApiServerConfig
from knet.apiserver.keys import STOPPING, STORE
from knet.storage import StoreError, StoreUnavailableError
from knet.storage.options import StoreOptions
from knet.storage.sqlite import SqliteStore
from knet.testing.etcd import EtcdProcess

__all__ = ["etcd_server"]


async def _client(config: ApiServerConfig) -> TestClient[object, object]:
    client: TestClient[object, object] = TestClient(TestServer(make_app(config)))
    await client.start_server()
    return client


@pytest.fixture
async def sqlite_api(tmp_path: Path) -> AsyncIterator[TestClient[object, object]]:
    client = await _client(ApiServerConfig(data_dir=tmp_path))
    yield client
    await client.close()


async def test_verbose_lists_the_real_checks(sqlite_api: TestClient[object, object]) -> None:
    r = await sqlite_api.get("/readyz", params={"verbose": ""})
    assert r.status == 200
    assert (await r.text()).splitlines() == [
        "[+]ping ok",
        "[+]sqlite ok",
        "[+]shutdown ok",
        "readyz check passed",
    ]
    r = await sqlite_api.get("/livez", params={"verbose": ""})
    assert "[+]sqlite ok" in await r.text() and "shutdown" not in await r.text()
    r = await sqlite_api.get("/healthz")
    assert (r.status, await r.text()) == (200, "ok")


async def test_single_check_and_exclude(sqlite_api: TestClient[object, object]) -> None:
    r = await sqlite_api.get("/readyz/sqlite")
    assert (r.status, await r.text()) == (200, "ok")
    r = await sqlite_api.get("/readyz/etcd")
    assert r.status == 404
    r = await sqlite_api.get("/readyz", params={"verbose": "", "exclude": "sqlite"})
    assert "[+]sqlite excluded: ok" in await r.text()


async def test_failing_store_check_fails_livez_and_readyz(
    sqlite_api: TestClient[object, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> None:
        raise StoreUnavailableError("disk gone")

    monkeypatch.setattr(sqlite_api.app[STORE], "check", broken)  # type: ignore[index]
    r = await sqlite_api.get("/livez")
    assert r.status == 500
    text = await r.text()
    assert "[-]sqlite failed: reason withheld" in text and text.endswith("livez check failed\n")
    r = await sqlite_api.get("/readyz/sqlite")
    assert r.status == 500 and "disk gone" in await r.text()


async def test_sqlite_check_fails_once_closed(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path)
    await store.check()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.check()


async def test_stopping_server_is_not_ready(sqlite_api: TestClient[object, object]) -> None:
    sqlite_api.app[STOPPING].set()  # type: ignore[index]
    assert (await sqlite_api.get("/readyz")).status == 500
    assert (await sqlite_api.get("/livez")).status == 200


@needs_etcd
async def test_etcd_check_follows_the_member(tmp_path: Path, etcd_server: EtcdProcess) -> None:
    store = StoreOptions(etcd_servers=(etcd_server.url,), request_timeout=3.0)
    client = await _client(ApiServerConfig(data_dir=tmp_path, store=store))
    try:
        r = await client.get("/readyz", params={"verbose": ""})
        assert r.status == 200 and "[+]etcd ok" in await r.text()
        etcd_server.kill()
        r = await client.get("/readyz", params={"verbose": ""})
        assert r.status == 500 and "[-]etcd failed" in await r.text()
        assert (await client.get("/livez")).status == 500
        etcd_server.start()
        r = await client.get("/readyz")
        assert (r.status, await r.text()) == (200, "ok")
    finally:
        await client.close()
