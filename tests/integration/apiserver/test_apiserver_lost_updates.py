"""Lost updates: concurrent read-modify-write clients, each retrying on 409 Conflict, must never
overwrite each other's increments (optimistic concurrency on resourceVersion, end to end)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
import pytest
from _apiserver_http import ok, pod

from knet.testing.apiserver import ApiServerProcess

CLIENTS = 20
INCREMENTS = 10
POD = "/api/v1/namespaces/default/pods/kt-counter"
KEY = "kt.example.com/counter"


@dataclass
class Tally:
    conflicts: int = 0
    writes: int = 0


async def _increment(
    session: aiohttp.ClientSession, url: str, tally: Tally, barrier: asyncio.Barrier | None
) -> None:
    """GET, add one, PUT with the resourceVersion just read; on 409 read again and retry."""
    while True:
        async with session.get(url + POD) as r:
            assert r.status == 200, await r.text()
            obj = await r.json()
        annotations = obj["metadata"].setdefault("annotations", {})
        annotations[KEY] = str(int(annotations.get(KEY, "0")) + 1)
        if barrier is not None:
            await barrier.wait()  # everyone holds the same version: all but one must conflict
            barrier = None
        async with session.put(url + POD, json=obj) as r:
            body = await r.json()
            if r.status == 409:
                assert body["reason"] == "Conflict", body
                tally.conflicts += 1
                continue
            assert r.status == 200, body
            tally.writes += 1
            return


async def _client(url: str, tally: Tally, barrier: asyncio.Barrier) -> None:
    async with aiohttp.ClientSession() as session:
        await _increment(session, url, tally, barrier)
        for _ in range(INCREMENTS - 1):
            await _increment(session, url, tally, None)


async def _merge_patch_client(url: str, tally: Tally) -> None:
    """The same through PATCH: the resourceVersion in the patch is a precondition."""
    async with aiohttp.ClientSession() as session:
        for _ in range(INCREMENTS):
            while True:
                async with session.get(url + POD) as r:
                    obj = await r.json()
                meta = obj["metadata"]
                value = int((meta.get("annotations") or {}).get(KEY, "0")) + 1
                patch = {
                    "metadata": {
                        "resourceVersion": meta["resourceVersion"],
                        "annotations": {KEY: str(value)},
                    }
                }
                headers = {"Content-Type": "application/merge-patch+json"}
                async with session.patch(url + POD, json=patch, headers=headers) as r:
                    if r.status == 409:
                        tally.conflicts += 1
                        continue
                    assert r.status == 200, await r.text()
                    tally.writes += 1
                    break


@pytest.mark.timeout(120)
async def test_concurrent_get_put_increments_are_never_lost(apiserver: ApiServerProcess) -> None:
    ok(apiserver.url, "POST", "/api/v1/namespaces/default/pods", pod("kt-counter"))
    tally = Tally()
    barrier = asyncio.Barrier(CLIENTS)
    await asyncio.gather(*(_client(apiserver.url, tally, barrier) for _ in range(CLIENTS)))
    final = ok(apiserver.url, "GET", POD)
    assert tally.writes == CLIENTS * INCREMENTS
    assert final["metadata"]["annotations"][KEY] == str(CLIENTS * INCREMENTS)
    assert tally.conflicts >= CLIENTS - 1  # the barrier round alone makes 19


@pytest.mark.timeout(120)
async def test_concurrent_patch_increments_are_never_lost(apiserver: ApiServerProcess) -> None:
    ok(apiserver.url, "POST", "/api/v1/namespaces/default/pods", pod("kt-counter"))
    tally = Tally()
    await asyncio.gather(*(_merge_patch_client(apiserver.url, tally) for _ in range(CLIENTS)))
    final = ok(apiserver.url, "GET", POD)
    assert final["metadata"]["annotations"][KEY] == str(CLIENTS * INCREMENTS)
    assert tally.writes == CLIENTS * INCREMENTS
