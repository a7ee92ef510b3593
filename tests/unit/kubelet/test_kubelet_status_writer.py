"""Status writes: only changes, the newest wins, one write in flight per pod, retries."""

from __future__ import annotations

import asyncio
from typing import Any

from knet.client import ApiClient, ApiConnectionError, ApiError
from kubelet_lite.status.writer import StatusManager


class FakeClient(ApiClient):
    def __init__(self) -> None:
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail_next: list[Exception] = []

    async def patch_status(self, kind: str, name: str, patch: Any, **kw: Any) -> dict[str, Any]:
        assert kind == "Pod" and kw["namespace"] == "default"
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            if self.fail_next:
                raise self.fail_next.pop(0)
            self.writes.append((name, patch))
            return {}
        finally:
            self.in_flight -= 1


def st(phase: str) -> dict[str, Any]:
    return {"phase": phase}


async def test_newest_status_wins_and_unchanged_is_not_written() -> None:
    client = FakeClient()
    mgr = StatusManager(client)
    client.gate.clear()
    mgr.set("u1", "default", "p", st("Pending"))
    await asyncio.sleep(0)
    mgr.set("u1", "default", "p", st("Running"))
    mgr.set("u1", "default", "p", st("Succeeded"))
    client.gate.set()
    await mgr.wait_idle()
    assert [p["status"]["phase"] for _, p in client.writes] == ["Pending", "Succeeded"]
    assert client.max_in_flight == 1
    mgr.set("u1", "default", "p", st("Succeeded"))
    await mgr.wait_idle()
    assert len(client.writes) == 2
    assert client.writes[0][1]["metadata"] == {"uid": "u1"}
    assert client.writes[0][1]["status"]["podIP"] is None  # unset owned fields are cleared


async def test_seeded_status_is_not_rewritten() -> None:
    client = FakeClient()
    mgr = StatusManager(client)
    mgr.seed("u1", "default", "p", st("Running"))
    mgr.set("u1", "default", "p", st("Running"))
    await mgr.wait_idle()
    assert client.writes == []


async def test_retries_errors_and_gives_up_on_a_deleted_pod() -> None:
    client = FakeClient()
    mgr = StatusManager(client)
    client.fail_next = [ApiConnectionError("down"), ApiError(500, "InternalError", "x")]
    mgr.set("u1", "default", "p", st("Running"))
    await asyncio.wait_for(mgr.wait_idle(), 10)
    assert [p["status"]["phase"] for _, p in client.writes] == ["Running"]
    client.fail_next = [ApiError(404, "NotFound", "gone")]
    mgr.set("u1", "default", "p", st("Failed"))
    await asyncio.wait_for(mgr.wait_idle(), 10)
    assert len(client.writes) == 1 and mgr.last_sent("u1") == st("Failed")
