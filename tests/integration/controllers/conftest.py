from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _fakecluster import FakeNode

from knet.client import ApiClient
from knet.controllers.manager import ManagerOptions, run_controllers
from knet.scheduler.scheduler import Scheduler
from knet.testing.apiserver import ApiServerProcess

# Short periods, as the issue asks: grace 2-3 s, eviction 2 s.
FAST = ManagerOptions(
    node_monitor_period=0.5,
    node_monitor_grace_period=2.5,
    pod_eviction_timeout=2.0,
    cluster_cidr="10.244.0.0/16",
    allocate_node_cidrs=True,
    node_cidr_mask_size=24,
)


@dataclass
class Cluster:
    client: ApiClient
    server: ApiServerProcess
    nodes: dict[str, FakeNode] = field(default_factory=dict)
    tasks: list[asyncio.Task[object]] = field(default_factory=list)
    scheduler: Scheduler | None = None

    async def add_node(self, name: str, **resources: str) -> FakeNode:
        node = FakeNode(self.client, name, len(self.nodes) + 1)
        await node.start(**resources)
        self.nodes[name] = node
        return node

    def start_controllers(self, options: ManagerOptions = FAST) -> None:
        self.tasks.append(asyncio.create_task(run_controllers(self.client, options)))

    def start_scheduler(self) -> Scheduler:
        self.scheduler = Scheduler(self.client, retry_interval=1.0)
        self.tasks.append(asyncio.create_task(self.scheduler.run()))
        return self.scheduler

    async def close(self) -> None:
        for node in self.nodes.values():
            await node.stop()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.client.close()


@pytest.fixture
async def cluster(apiserver: ApiServerProcess) -> AsyncIterator[Cluster]:
    """A real API server process; controllers and scheduler in this test's event loop; fake
    nodes added by the test."""
    c = Cluster(client=ApiClient.from_url(apiserver.url), server=apiserver)
    try:
        yield c
    finally:
        await c.close()
