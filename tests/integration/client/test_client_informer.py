"""Informers against a real apiserver process: sync, handlers, indexes, shared factory, and a
cache that converges across a server crash and across expired watch history (410 relist)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from _client_gate import GatedClient

from knet.client import (
    ApiClient,
    ApiError,
    Backoff,
    Informer,
    SharedInformerFactory,
    field_index,
    object_key,
)
from knet.client.config import config_from_url
from knet.testing.apiserver import ApiServerProcess, running_apiserver

FAST = Backoff(initial=0.05, maximum=0.5)


def pod(name: str, node: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


class Recorder:
    """Handler calls, in order, as (event, name, resourceVersion)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.changed = asyncio.Event()

    def _note(self, what: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.calls.append((what, meta["name"], meta["resourceVersion"]))
        self.changed.set()

    def on_add(self, obj: dict[str, Any]) -> None:
        self._note("add", obj)

    async def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        assert old["metadata"]["name"] == new["metadata"]["name"]
        self._note("update", new)

    def on_delete(self, obj: dict[str, Any]) -> None:
        self._note("delete", obj)

    def names(self, what: str) -> list[str]:
        return [n for w, n, _ in self.calls if w == what]


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> None:
    """Wait until `check()` is truthy; fail (with the last value) after a generous timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {check}")
        await asyncio.sleep(0.05)


async def server_state(client: ApiClient, kind: str = "Pod") -> dict[str, str]:
    items, _ = await client.list(kind)
    return {
        f"{i['metadata'].get('namespace')}/{i['metadata']['name']}": i["metadata"][
            "resourceVersion"
        ]
        for i in items
    }


def cache_state(inf: Informer) -> dict[str, str]:
    return {object_key(o): o["metadata"]["resourceVersion"] for o in inf.cache.list()}


async def converged(inf: Informer, client: ApiClient) -> bool:
    return cache_state(inf) == await server_state(client)


@pytest.fixture
async def writer(apiserver: ApiServerProcess) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_url(apiserver.url) as c:
        yield c


async def test_informer_syncs_and_calls_handlers_in_order(
    apiserver: ApiServerProcess, writer: ApiClient
) -> None:
    await writer.create(pod("kt-pre-1", node="n1"))
    await writer.create(pod("kt-pre-2", node="n2"))
    async with ApiClient.from_url(apiserver.url) as client:
        inf = Informer(client, "Pod", indexers={"node": field_index("spec", "nodeName")})
        rec = Recorder()
        inf.add_handler(rec.on_add, rec.on_update, rec.on_delete)
        assert not inf.has_synced
        inf.start()
        try:
            assert await inf.wait_for_sync(timeout=20)
            assert inf.has_synced
            assert sorted(rec.names("add")) == ["kt-pre-1", "kt-pre-2"], "adds before synced"
            assert [p["metadata"]["name"] for p in inf.cache.by_index("node", "n1")] == ["kt-pre-1"]

            await writer.create(pod("kt-new", node="n1"))
            await writer.patch("Pod", "kt-pre-1", {"metadata": {"labels": {"x": "1"}}})
            await writer.delete("Pod", "kt-pre-2", grace_period_seconds=0)
            await eventually(lambda: "kt-pre-2" in rec.names("delete"))
            assert rec.names("add")[2:] == ["kt-new"]
            assert rec.names("update") == ["kt-pre-1"]
            cached = inf.cache.get("default/kt-pre-1")
            assert cached is not None and cached["metadata"]["labels"] == {"x": "1"}
            assert sorted(inf.cache.index_keys("node", "n1")) == [
                "default/kt-new",
                "default/kt-pre-1",
            ]
            assert inf.cache.by_index("node", "n2") == []
            assert await converged(inf, writer)

            # A handler added late is first told about everything already cached.
            late = Recorder()
            inf.add_handler(on_add=late.on_add)
            await eventually(lambda: len(late.calls) == 2)
            assert sorted(late.names("add")) == ["kt-new", "kt-pre-1"]
        finally:
            await inf.stop()


async def test_handler_exceptions_do_not_stop_the_informer(
    apiserver: ApiServerProcess, writer: ApiClient
) -> None:
    async with ApiClient.from_url(apiserver.url) as client:
        inf = Informer(client, "Pod")
        rec = Recorder()

        def broken(obj: dict[str, Any]) -> None:
            raise RuntimeError("handler bug")

        inf.add_handler(on_add=broken)
        inf.add_handler(on_add=rec.on_add)
        inf.start()
        try:
            await inf.wait_for_sync(20)
            await writer.create(pod("kt-1"))
            await writer.create(pod("kt-2"))
            await eventually(lambda: rec.names("add") == ["kt-1", "kt-2"])
            assert inf.running
        finally:
            await inf.stop()


async def test_wait_for_sync_raises_an_error_retrying_cannot_fix(
    apiserver: ApiServerProcess,
) -> None:
    async with ApiClient.from_url(apiserver.url) as client:
        inf = Informer(client, "Pod", field_selector="spec.nope=x")
        inf.start()
        with pytest.raises(ApiError) as e:
            await inf.wait_for_sync(20)
        assert e.value.code == 400
        assert inf.error is e.value
        await inf.stop()


async def test_shared_factory_hands_out_one_informer_per_query(
    apiserver: ApiServerProcess, writer: ApiClient
) -> None:
    await writer.create({"kind": "Node", "metadata": {"name": "kt-n"}})
    async with ApiClient.from_url(apiserver.url) as client:
        factory = SharedInformerFactory(client)
        pods = factory.informer("Pod")
        assert factory.informer("Pod", indexers={"node": field_index("spec", "nodeName")}) is pods
        assert "node" in pods.cache.index_names()
        assert factory.informer("Pod", "default") is not pods
        factory.start()
        nodes = factory.informer("Node")  # made after start: started at once
        try:
            assert await factory.wait_for_sync(timeout=20)
            assert nodes.has_synced and nodes.cache.keys() == ["kt-n"]
        finally:
            await factory.stop()


async def test_cache_converges_across_a_server_crash(tmp_path: Path) -> None:
    """kill -9 the server; while the informer cannot reach it, it keeps retrying; changes made
    after the restart but before the informer is let back in still reach its cache."""
    with running_apiserver(tmp_path) as server:
        async with (
            ApiClient.from_url(server.url) as writer,
            GatedClient(config_from_url(server.url)) as client,
        ):
            for i in range(5):
                await writer.create(pod(f"kt-{i}"))
            inf = Informer(client, "Pod", backoff=FAST)
            rec = Recorder()
            inf.add_handler(rec.on_add, rec.on_update, rec.on_delete)
            inf.start()
            try:
                assert await inf.wait_for_sync(20)
                await writer.patch("Pod", "kt-0", {"metadata": {"labels": {"before": "crash"}}})
                await eventually(lambda: rec.names("update") == ["kt-0"])

                server.kill()
                await eventually(lambda: client.connection_failures >= 2)
                client.close_gate()
                await asyncio.wait_for(client.held.wait(), 20)
                server.start()

                # Changes the informer is not connected to see happen.
                await writer.patch("Pod", "kt-1", {"metadata": {"labels": {"after": "crash"}}})
                await writer.delete("Pod", "kt-2", grace_period_seconds=0)
                await writer.create(pod("kt-new"))
                client.gate.set()

                await eventually(lambda: "kt-new" in rec.names("add"))
                await eventually(lambda: converged(inf, writer))
                assert rec.names("delete") == ["kt-2"]
                assert rec.names("update") == ["kt-0", "kt-1"]
                assert client.lists == 1, "resumed from its resourceVersion, no relist needed"
            finally:
                await inf.stop()


async def test_expired_history_relists_and_reports_the_difference(tmp_path: Path) -> None:
    with running_apiserver(tmp_path, "--history-window", "5") as server:
        async with (
            ApiClient.from_url(server.url) as writer,
            GatedClient(config_from_url(server.url)) as client,
        ):
            for name in ("kt-keep", "kt-change", "kt-gone"):
                await writer.create(pod(name))
            # A short watch timeout ends the stream on its own, so the next watch waits at the
            # gate while the history it would resume from is compacted away.
            inf = Informer(client, "Pod", watch_timeout=1, backoff=FAST)
            rec = Recorder()
            inf.add_handler(rec.on_add, rec.on_update, rec.on_delete)
            inf.start()
            try:
                assert await inf.wait_for_sync(20)
                client.close_gate()
                await asyncio.wait_for(client.held.wait(), 20)
                keep_rv = cache_state(inf)["default/kt-keep"]

                await writer.patch("Pod", "kt-change", {"metadata": {"labels": {"v": "2"}}})
                await writer.delete("Pod", "kt-gone", grace_period_seconds=0)
                for i in range(10):  # push the informer's resourceVersion out of the window
                    await writer.create(pod(f"kt-filler-{i}"))
                client.gate.set()

                await eventually(lambda: converged(inf, writer))
                assert client.lists == 2, "a 410 must lead to exactly one relist"
                assert rec.names("delete") == ["kt-gone"]
                assert rec.names("update") == ["kt-change"]
                assert sorted(rec.names("add")[3:]) == [f"kt-filler-{i}" for i in range(10)]
                assert cache_state(inf)["default/kt-keep"] == keep_rv
            finally:
                await inf.stop()


async def test_resync_replays_cached_objects_as_updates(
    apiserver: ApiServerProcess, writer: ApiClient
) -> None:
    await writer.create(pod("kt-r"))
    async with ApiClient.from_url(apiserver.url) as client:
        inf = Informer(client, "Pod", resync_period=0.2)
        same: list[bool] = []
        inf.add_handler(on_update=lambda old, new: same.append(old is new))
        inf.start()
        try:
            assert await inf.wait_for_sync(20)
            await eventually(lambda: len(same) >= 2)
            assert all(same), "a resync hands over the cached object, unchanged"
        finally:
            await inf.stop()
