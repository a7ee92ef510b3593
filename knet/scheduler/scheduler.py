"""The scheduler loop: one pod at a time through filters and scores, then a bind in the
background while the next pod is already being placed (the bound pod is "assumed" on its node,
so the next pod's arithmetic already counts it).

Pods that fit nowhere get a FailedScheduling Event ("0/3 nodes are available: ...") and a
PodScheduled=False condition, and wait until something changes in the cluster (a node added or
changed, a pod gone) or `retry_interval` passes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from knet.api.objects import Obj, condition, is_deleting, name_of, namespace_of
from knet.api.pods import FAILED, SUCCEEDED, node_name, phase
from knet.api.times import now_rfc3339
from knet.client import (
    ApiClient,
    ApiError,
    ConfigError,
    LeaderElectionConfig,
    SharedInformerFactory,
    WorkQueue,
    load_kubeconfig,
    object_key,
    process_items,
)
from knet.client.recorder import NORMAL, WARNING, EventRecorder
from knet.component import fail, run_main, setup_logging, until_stopped
from knet.component.leader import (
    add_leader_election_flags,
    leader_election_from_args,
    run_leading,
)
from knet.scheduler.filters import fit_error, run_filters
from knet.scheduler.nodeinfo import NodeInfo, PodInfo
from knet.scheduler.scores import pick, score_nodes

log = logging.getLogger("knet.scheduler")

SCHEDULER_NAME = "default-scheduler"
LEASE_NAME = "kube-scheduler"
MIN_FEASIBLE_NODES = 100  # upstream: below this many nodes, every node is looked at
MIN_FEASIBLE_PERCENT = 5


def nodes_to_find(total: int, percentage: int = 0) -> int:
    """How many feasible nodes to find before scoring (upstream numFeasibleNodesToFind):
    all of a small cluster; an adaptive share (50% minus 1% per 125 nodes, at least 5%) of a
    large one, never fewer than 100."""
    if total < MIN_FEASIBLE_NODES:
        return total
    pct = percentage or max(50 - total // 125, MIN_FEASIBLE_PERCENT)
    return max(total * pct // 100, MIN_FEASIBLE_NODES)


def wants_scheduling(pod: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    return (
        not node_name(pod)
        and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
        and not is_deleting(pod)
        and phase(pod) not in (SUCCEEDED, FAILED)
    )


def occupies_node(pod: Mapping[str, Any]) -> bool:
    """An assigned pod holds its resources until it finishes or is gone."""
    return bool(node_name(pod)) and phase(pod) not in (SUCCEEDED, FAILED)


class Scheduler:
    def __init__(
        self,
        client: ApiClient,
        *,
        retry_interval: float = 10.0,
        bind_concurrency: int = 16,
        percentage_of_nodes_to_score: int = 0,
    ) -> None:
        self.client = client
        self.retry_interval = retry_interval
        self.percentage = percentage_of_nodes_to_score
        self.factory = SharedInformerFactory(client)
        self.pods = self.factory.informer("Pod")
        self.nodes = self.factory.informer("Node")
        self.recorder = EventRecorder(client, SCHEDULER_NAME)
        self.queue: WorkQueue[str] = WorkQueue(name="scheduler")
        self.node_infos: dict[str, NodeInfo] = {}
        self._placed: dict[str, str] = {}  # pod key -> node its resources are counted on
        self._unschedulable: set[str] = set()
        self._binds: set[asyncio.Task[None]] = set()
        self._bind_limit = asyncio.Semaphore(bind_concurrency)
        self._turn = 0
        self._start_index = 0
        self.scheduled = 0  # pods bound so far (for benchmarks and logs)
        self.pods.add_handler(self._on_pod, self._on_pod_update, self._on_pod_delete)
        self.nodes.add_handler(self._on_node, self._on_node_update, self._on_node_delete)

    # ------------------------------------------------------------------ cache upkeep

    def _place(self, key: str, pod: Obj | PodInfo, node: str) -> None:
        info = pod if isinstance(pod, PodInfo) else PodInfo.of(pod)
        previous = self._placed.get(key)
        if previous is not None and previous != node and previous in self.node_infos:
            self.node_infos[previous].remove_pod(key)
        self._placed[key] = node
        target = self.node_infos.get(node)
        if target is not None:
            target.add_pod(info)

    def _unplace(self, key: str) -> None:
        previous = self._placed.pop(key, None)
        if previous is not None and previous in self.node_infos:
            self.node_infos[previous].remove_pod(key)

    def _on_pod(self, pod: Obj) -> None:
        key = object_key(pod)
        if occupies_node(pod):
            self._place(key, pod, node_name(pod))
        elif wants_scheduling(pod):
            self.queue.add(key)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        key = object_key(new)
        if occupies_node(new):
            self._unschedulable.discard(key)
            if self._placed.get(key) != node_name(new) or not occupies_node(old):
                self._place(key, new, node_name(new))
            return
        if node_name(new):  # finished on its node: its resources are free again
            if key in self._placed:
                self._unplace(key)
                self._retry_unschedulable()
            return
        # Unassigned. One we placed ourselves is being bound; an unschedulable one waits for
        # the cluster to change.
        if wants_scheduling(new) and key not in self._placed and key not in self._unschedulable:
            self.queue.add(key)

    def _on_pod_delete(self, pod: Obj) -> None:
        key = object_key(pod)
        self._unschedulable.discard(key)
        if key in self._placed:
            self._unplace(key)
            self._retry_unschedulable()  # room was freed

    def _on_node(self, node: Obj) -> None:
        name = name_of(node)
        info = NodeInfo.of(node)
        for key, placed_on in self._placed.items():
            if placed_on == name:
                pod = self.pods.cache.get(key)
                if pod is not None:
                    info.add_pod(PodInfo.of(pod))
        self.node_infos[name] = info
        self._retry_unschedulable()

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        info = self.node_infos.get(name_of(new))
        if info is None:
            self._on_node(new)
            return
        info.set_node(new)
        if old.get("spec") != new.get("spec") or (old.get("status") or {}).get("conditions") != (
            new.get("status") or {}
        ).get("conditions"):
            self._retry_unschedulable()

    def _on_node_delete(self, node: Obj) -> None:
        self.node_infos.pop(name_of(node), None)

    def _retry_unschedulable(self) -> None:
        waiting, self._unschedulable = self._unschedulable, set()
        for key in waiting:
            self.queue.add(key)

    # ------------------------------------------------------------------ one cycle

    def find_node(self, pod: PodInfo) -> tuple[str | None, Counter[str]]:
        """The node for `pod`, or None and the count of each reason nodes were refused."""
        names = sorted(self.node_infos)
        total = len(names)
        want = nodes_to_find(total, self.percentage)
        feasible: list[NodeInfo] = []
        reasons: Counter[str] = Counter()
        start = self._start_index % total if total else 0
        looked = 0
        for i in range(total):
            info = self.node_infos[names[(start + i) % total]]
            looked += 1
            why = run_filters(pod, info)
            if why:
                reasons.update(why)
                continue
            feasible.append(info)
            if len(feasible) >= want:
                break
        self._start_index = (start + looked) % total if total else 0
        if not feasible:
            return None, reasons
        scores = score_nodes(pod, feasible)
        choice = pick([(n.name, s) for n, s in zip(feasible, scores, strict=True)], self._turn)
        self._turn += 1
        return choice, reasons

    async def schedule_one(self, key: str) -> None:
        pod = self.pods.cache.get(key)
        if pod is None or not wants_scheduling(pod) or key in self._placed:
            return
        info = PodInfo.of(pod)
        node, reasons = self.find_node(info)
        if node is None:
            await self._unschedulable_pod(pod, fit_error(len(self.node_infos), reasons))
            return
        self._place(key, info, node)  # assume it there until the informer confirms
        task = asyncio.create_task(self._bind(pod, node), name=key)
        self._binds.add(task)
        task.add_done_callback(self._binds.discard)

    async def _bind(self, pod: Obj, node: str) -> None:
        key = object_key(pod)
        async with self._bind_limit:
            try:
                await self.client.bind(namespace_of(pod), name_of(pod), node)
            except Exception as e:
                log.info("binding %s to %s failed: %s", key, node, e)
                if self._placed.get(key) == node:
                    current = self.pods.cache.get(key)
                    if current is None or node_name(current) != node:
                        self._unplace(key)
                if not (isinstance(e, ApiError) and e.code == 404):
                    self.queue.add_rate_limited(key)
                return
        self.scheduled += 1
        self.queue.forget(key)
        self.recorder.pod_event(pod, NORMAL, "Scheduled", f"Successfully assigned {key} to {node}")

    async def _unschedulable_pod(self, pod: Obj, message: str) -> None:
        key = object_key(pod)
        self._unschedulable.add(key)
        log.info("%s: %s", key, message)
        self.recorder.pod_event(pod, WARNING, "FailedScheduling", message)
        current = condition(pod, "PodScheduled")
        if current is not None and current.get("message") == message:
            return
        conditions = [
            dict(c)
            for c in (pod.get("status") or {}).get("conditions") or []
            if isinstance(c, Mapping) and c.get("type") != "PodScheduled"
        ]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": now_rfc3339(),
            }
        )
        body = {"status": {"conditions": conditions}}
        with contextlib.suppress(ApiError):
            await self.client.patch_status("Pod", name_of(pod), body, namespace=namespace_of(pod))

    # ------------------------------------------------------------------ running

    async def _periodic_retry(self) -> None:
        while True:
            await asyncio.sleep(self.retry_interval)
            self._retry_unschedulable()

    async def run(self) -> None:
        self.factory.start()
        retry = asyncio.create_task(self._periodic_retry())
        try:
            while not await self.factory.wait_for_sync(timeout=30):
                log.warning("informers have not synced after 30s; still waiting")
            log.info("caches synced; scheduling (%d nodes)", len(self.node_infos))
            await process_items(self.queue, self.schedule_one)
        finally:
            retry.cancel()
            self.queue.shut_down()
            for task in list(self._binds):
                task.cancel()
            await self.factory.stop()
            await self.recorder.close()


# ---------------------------------------------------------------------------- CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", type=Path, default=None, help="kubeconfig of the API server")
    add_leader_election_flags(p)
    p.add_argument("-v", "--verbose", action="store_true")


async def run_scheduler(client: ApiClient, leader: LeaderElectionConfig | None) -> int:
    return await run_leading(client, leader, lambda: Scheduler(client).run())


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    try:
        leader = leader_election_from_args(args, LEASE_NAME)
        client = ApiClient(load_kubeconfig(args.kubeconfig))
    except (ValueError, ConfigError) as e:
        return fail("knet scheduler", str(e), 2)

    async def main() -> int:
        async with client:
            return await until_stopped(run_scheduler(client, leader))

    return run_main(main)
