"""kill -9 of the API server in the middle of a write storm, then a restart on the same data dir:
every write the server acknowledged (HTTP 2xx) is there, resourceVersions never go backwards,
and a watch resumed from an acknowledged resourceVersion replays with no gap or says 410.

A SIGKILL keeps the kernel's page cache, so this checks the commit path's atomicity and
recovery through the whole server, not fsync itself."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _apiserver_http import list_rv, ok, pod, request, watch_lines

from knet.testing.apiserver import ApiServerProcess, running_apiserver

PODS = "/api/v1/namespaces/default/pods"
CLIENTS = 8
KILL_AFTER = 400  # acknowledged writes before the SIGKILL
COUNTER = "kt.example.com/n"


@dataclass
class Acks:
    created: dict[str, int] = field(default_factory=dict)  # name -> resourceVersion
    updated: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (n, rv)
    deleted: dict[str, int] = field(default_factory=dict)
    # deletes sent: one in flight at the kill may have committed without its answer
    delete_sent: set[str] = field(default_factory=set)
    list_rvs: list[int] = field(default_factory=list)

    def total(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deleted)

    def revisions(self) -> list[int]:
        return sorted(
            [
                *self.created.values(),
                *(rv for _, rv in self.updated.values()),
                *self.deleted.values(),
            ]
        )


async def _writer(url: str, cid: int, acks: Acks) -> None:
    """Create, update twice, and (every third pod) delete, as fast as the server allows;
    record only what the server acknowledged, with the resourceVersion it answered."""
    merge = {"Content-Type": "application/merge-patch+json"}
    async with aiohttp.ClientSession() as session:
        i = 0
        while True:
            name = f"kt-s{cid}-{i}"
            try:
                async with session.post(url + PODS, json=pod(name)) as r:
                    if r.status != 201:
                        return
                    acks.created[name] = int((await r.json())["metadata"]["resourceVersion"])
                for n in (1, 2):
                    patch = {"metadata": {"annotations": {COUNTER: str(n)}}}
                    async with session.patch(f"{url}{PODS}/{name}", json=patch, headers=merge) as r:
                        if r.status != 200:
                            return
                        rv = int((await r.json())["metadata"]["resourceVersion"])
                        acks.updated[name] = (n, rv)
                if i % 3 == 0:
                    acks.delete_sent.add(name)
                    async with session.delete(f"{url}{PODS}/{name}") as r:
                        if r.status != 200:
                            return
                        acks.deleted[name] = int((await r.json())["metadata"]["resourceVersion"])
            except (aiohttp.ClientError, ConnectionError, TimeoutError):
                return  # the server died under us: whatever was in flight is unacknowledged
            i += 1


async def _lister(url: str, acks: Acks) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url + PODS) as r:
                    if r.status != 200:
                        return
                    acks.list_rvs.append(int((await r.json())["metadata"]["resourceVersion"]))
            except (aiohttp.ClientError, ConnectionError, TimeoutError):
                return


async def _storm_then_kill(server: ApiServerProcess) -> Acks:
    acks = Acks()
    tasks = [asyncio.create_task(_writer(server.url, c, acks)) for c in range(CLIENTS)]
    tasks.append(asyncio.create_task(_lister(server.url, acks)))
    try:
        async with asyncio.timeout(60):  # guards against a hang only
            while acks.total() < KILL_AFTER:
                await asyncio.sleep(0.005)
                if all(t.done() for t in tasks):
                    raise AssertionError("the writers stopped before the kill")
        server.kill()
        async with asyncio.timeout(60):
            await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
    return acks


def _replay(url: str, rv: int, until: int) -> list[dict[str, Any]]:
    """Every event after `rv`, up to the one for revision `until` (or the server's own end)."""
    out: list[dict[str, Any]] = []
    timeout = 10 if until > rv else 1  # nothing to wait for: let the server end it at once
    stream = watch_lines(url, f"{PODS}?watch=true&resourceVersion={rv}&timeoutSeconds={timeout}")
    try:
        for event in stream:
            out.append(event)
            if event["type"] == "ERROR":
                break
            if int(event["object"]["metadata"]["resourceVersion"]) >= until:
                break
    finally:
        stream.close()
    return out


def _check_acknowledged_writes_survived(url: str, acks: Acks) -> None:
    assert acks.total() >= KILL_AFTER
    for name, rv in acks.created.items():
        reply = request(url, "GET", f"{PODS}/{name}")
        if name in acks.deleted:
            assert reply.status == 404, f"{name}: acknowledged delete undone"
            continue
        if name in acks.delete_sent and reply.status == 404:
            continue  # its delete was in flight at the kill and committed: not acknowledged
        assert reply.status == 200, f"{name}: acknowledged create lost"
        obj = reply.json()
        assert int(obj["metadata"]["resourceVersion"]) >= rv
        if name in acks.updated:
            n, urv = acks.updated[name]
            annotations = obj["metadata"].get("annotations") or {}
            assert int(annotations.get(COUNTER, "0")) >= n, f"{name}: acknowledged update lost"
            assert int(obj["metadata"]["resourceVersion"]) >= urv


@pytest.mark.timeout(180)
async def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    with running_apiserver(tmp_path) as server:
        acks = await _storm_then_kill(server)
        server.start()
        url = server.url
        _check_acknowledged_writes_survived(url, acks)
        revisions = acks.revisions()
        after = list_rv(url, PODS)
        assert after >= revisions[-1]
        assert after >= max(acks.list_rvs, default=0)
        # new writes continue above everything acknowledged before the crash
        fresh = ok(url, "POST", PODS, pod("kt-after"))
        assert int(fresh["metadata"]["resourceVersion"]) > max(after, revisions[-1])

        # resume from an acknowledged revision in the middle of the storm: no gap, or 410
        start = revisions[len(revisions) // 2]
        end = list_rv(url, PODS)
        events = _replay(url, start, end)
        if events and events[0]["type"] == "ERROR":
            assert events[0]["object"]["code"] == 410
            assert events[0]["object"]["reason"] == "Expired"
        else:
            seen = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
            assert seen == sorted(seen) and len(set(seen)) == len(seen)
            missing = [rv for rv in revisions if rv > start and rv not in set(seen)]
            assert missing == [], f"acknowledged revisions missing from the replay: {missing}"
            assert seen[-1] == end
        # resume from the last acknowledged revision
        tail = _replay(url, revisions[-1], end)
        assert all(e["type"] != "ERROR" for e in tail) or tail[0]["object"]["code"] == 410
        assert all(
            int(e["object"]["metadata"]["resourceVersion"]) > revisions[-1]
            for e in tail
            if e["type"] != "ERROR"
        )


@pytest.mark.timeout(180)
async def test_small_history_window_expires_old_revisions_after_a_crash(tmp_path: Path) -> None:
    with running_apiserver(tmp_path, "--history-window", "100") as server:
        acks = await _storm_then_kill(server)
        server.start()
        url = server.url
        _check_acknowledged_writes_survived(url, acks)
        revisions = acks.revisions()
        end = list_rv(url, PODS)
        assert end >= revisions[-1]
        # far older than the window: 410 Expired as a watch ERROR event
        events = _replay(url, revisions[0], end)
        assert [e["type"] for e in events] == ["ERROR"]
        status = events[0]["object"]
        assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
        # the newest acknowledged revision is inside the window: replay with no gap
        tail = _replay(url, revisions[-1], end)
        assert all(e["type"] != "ERROR" for e in tail)
        if end > revisions[-1]:
            assert int(tail[-1]["object"]["metadata"]["resourceVersion"]) == end
