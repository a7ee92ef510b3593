"""Pod workers: one step at a time per pod, newest pod wins, deletion ends the worker."""

from __future__ import annotations

import asyncio
from typing import Any

from kubelet_lite.pods.pod_workers import PodWorkers, trigger_key


def pod(uid: str, generation: int = 1, deleting: bool = False, rv: str = "1") -> dict[str, Any]:
    meta: dict[str, Any] = {"uid": uid, "generation": generation, "resourceVersion": rv}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": meta}


class FakeSync:
    def __init__(self, p: dict[str, Any], log: list[str]) -> None:
        self.pod = p
        self.log = log
        self.active = 0
        self.release = asyncio.Event()
        self.release.set()
        self.finish_on_terminate = True

    def update(self, p: dict[str, Any]) -> None:
        self.pod = p

    async def adopt(self) -> None:
        self.log.append("adopt")

    async def sync(self) -> None:
        self.active += 1
        assert self.active == 1, "two steps of one pod ran at once"
        self.log.append(f"sync g{self.pod['metadata']['generation']}")
        await self.release.wait()
        self.active -= 1

    async def terminate(self, api_deleted: bool) -> bool:
        self.log.append(f"terminate deleted={api_deleted}")
        return self.finish_on_terminate

    def detach(self) -> None:
        self.log.append("detach")


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_steps_wait_for_start_and_coalesce() -> None:
    log: list[str] = []
    syncs: dict[str, FakeSync] = {}

    def make(p: dict[str, Any]) -> FakeSync:
        syncs[p["metadata"]["uid"]] = FakeSync(p, log)
        return syncs[p["metadata"]["uid"]]

    workers = PodWorkers(make)
    workers.update(pod("a"))
    await settle()
    assert log == []  # nothing runs before start() (the start-up clean-up comes first)
    workers.start()
    await settle()
    assert log == ["adopt", "sync g1"]
    syncs["a"].release.clear()
    workers.update(pod("a", 2))
    await settle()
    workers.update(pod("a", 3))
    workers.update(pod("a", 4))
    workers.update(pod("a", 4, rv="9"))  # only status changed: nothing to do
    syncs["a"].release.set()
    await settle()
    assert log == ["adopt", "sync g1", "sync g2", "sync g4"]
    assert workers.idle.is_set()


async def test_own_status_echo_does_not_wake_the_worker() -> None:
    assert trigger_key(pod("a", rv="1")) == trigger_key(pod("a", rv="2"))
    assert trigger_key(pod("a")) != trigger_key(pod("a", deleting=True))


async def test_deletion_ends_the_worker_and_stale_events_are_ignored() -> None:
    log: list[str] = []
    workers = PodWorkers(lambda p: FakeSync(p, log))
    workers.start()
    workers.update(pod("a"))
    await settle()
    workers.update(pod("a", deleting=True))
    await settle()
    assert log[-1] == "terminate deleted=False" and "a" not in workers
    workers.update(pod("a", deleting=True))  # a late event for a finished pod
    await settle()
    assert log.count("adopt") == 1


async def test_stop_detaches_without_terminating() -> None:
    log: list[str] = []
    workers = PodWorkers(lambda p: FakeSync(p, log))
    workers.start()
    workers.update(pod("a"))
    workers.update(pod("b"))
    await settle()
    await workers.stop()
    assert log.count("detach") == 2 and not any(x.startswith("terminate") for x in log)
    assert len(workers) == 0
