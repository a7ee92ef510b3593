"""Fake nodes for the control-loop tests: Node objects and Leases that the test drives, and a
"kubelet" per node that does only what the loops need from one: report its pods Running with an
IP and Ready, and finish the graceful deletion of its pods. No processes, no network."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from knet.client import ApiClient, ApiError, Informer, is_not_found
from knet.controllers.manager import ManagerOptions, run_controllers
from knet.scheduler.scheduler import Scheduler
from knet.testing.apiserver import ApiServerProcess

Obj = dict[str, Any]
EXIT_CODE_ANNOTATION = "test.knet.dev/exit-code"


def micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_body(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110") -> Obj:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": pods},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp,
                }
            ],
        },
    }


class FakeNode:
    """A Node whose lease is renewed and whose pods are run (on paper) until `stop()`."""

    _ips = itertools.count(2)

    def __init__(self, client: ApiClient, name: str, index: int, renew_every: float = 0.5):
        self.client = client
        self.name = name
        self.index = index
        self.renew_every = renew_every
        self.pods = Informer(client, "Pod", field_selector=f"spec.nodeName={name}")
        self._tasks: list[asyncio.Task[None]] = []
        self.ready_delay = 0.0  # seconds before a new pod reports Ready
        # Seconds a run-to-completion pod (restartPolicy Never/OnFailure) runs before it ends;
        # None: it runs forever. It exits with its `EXIT_CODE_ANNOTATION` (default 0).
        self.finish_after: float | None = None

    async def start(self, **resources: str) -> None:
        created = await self.client.create(node_body(self.name, **resources))
        await self.client.patch_status("Node", self.name, {"status": created["status"]})
        await self.client.create(
            {
                "kind": "Lease",
                "apiVersion": "coordination.k8s.io/v1",
                "metadata": {"name": self.name, "namespace": "kube-node-lease"},
                "spec": {
                    "holderIdentity": self.name,
                    "leaseDurationSeconds": 40,
                    "renewTime": micro_now(),
                },
            }
        )
        self.pods.add_handler(self._on_pod, lambda _o, new: self._on_pod(new))
        self.pods.start()
        self._tasks.append(asyncio.create_task(self._heartbeat()))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            with contextlib.suppress(ApiError, OSError):
                await self.client.patch(
                    "Lease",
                    self.name,
                    {"spec": {"renewTime": micro_now()}},
                    namespace="kube-node-lease",
                )

    def _on_pod(self, pod: Obj) -> None:
        self._tasks.append(asyncio.create_task(self._sync(pod)))

    async def _sync(self, pod: Obj) -> None:
        meta = pod["metadata"]
        try:
            if meta.get("deletionTimestamp"):
                # The containers have stopped: finish the graceful deletion, as a kubelet does.
                await self.client.delete(
                    "Pod", meta["name"], meta["namespace"], grace_period_seconds=0
                )
                return
            if (pod.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed"):
                return
            if self.ready_delay:
                await asyncio.sleep(self.ready_delay)
            ip = f"10.244.{self.index}.{next(self._ips) % 250 + 2}"
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            conditions = [
                {"type": t, "status": "True", "lastTransitionTime": stamp}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ]
            await self.client.patch_status(
                "Pod",
                meta["name"],
                {
                    "status": {
                        "phase": "Running",
                        "podIP": ip,
                        "podIPs": [{"ip": ip}],
                        "hostIP": f"192.168.0.{self.index}",
                        "conditions": conditions,
                        "startTime": stamp,
                    }
                },
                namespace=meta["namespace"],
            )
            await self._finish(pod)
        except ApiError as e:
            if not is_not_found(e):
                raise

    async def _finish(self, pod: Obj) -> None:
        """A run-to-completion pod's container exits after `finish_after` seconds."""
        if self.finish_after is None or pod["spec"].get("restartPolicy") == "Always":
            return
        await asyncio.sleep(self.finish_after)
        meta = pod["metadata"]
        code = int((meta.get("annotations") or {}).get(EXIT_CODE_ANNOTATION, "0"))
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        statuses = [
            {
                "name": c["name"],
                "ready": False,
                "restartCount": 0,
                "image": c.get("image", ""),
                "imageID": "",
                "state": {
                    "terminated": {
                        "exitCode": code,
                        "reason": "Completed" if code == 0 else "Error",
                        "finishedAt": stamp,
                    }
                },
            }
            for c in pod["spec"]["containers"]
        ]
        await self.client.patch_status(
            "Pod",
            meta["name"],
            {
                "status": {
                    "phase": "Succeeded" if code == 0 else "Failed",
                    "containerStatuses": statuses,
                    "conditions": [
                        {"type": "Ready", "status": "False", "lastTransitionTime": stamp}
                    ],
                }
            },
            namespace=meta["namespace"],
        )

    async def stop(self) -> None:
        """The kubelet dies: no more lease renewals, no more pod updates."""
        await self.pods.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 20.0, interval: float = 0.1
) -> None:
    """Wait until `check()` is true; fail (not a timed assertion: a generous bound on a wait)
    if it never becomes so."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition {check.__name__} never held within {timeout}s")
        await asyncio.sleep(interval)


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
