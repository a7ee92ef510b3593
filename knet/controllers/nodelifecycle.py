"""Node lifecycle: notice nodes whose kubelet went quiet, taint them, evict their pods.

Every --node-monitor-period each Node is checked. A node is healthy while its Lease in
kube-node-lease (or its Ready condition's heartbeat) keeps changing; the time of the last change
is measured on this process's clock, so clock skew cannot fake health. After
--node-monitor-grace-period without a change its conditions become Unknown ("Kubelet stopped
posting node status."). The Ready condition decides the taints: False gives
node.kubernetes.io/not-ready, Unknown node.kubernetes.io/unreachable, each with NoSchedule and
NoExecute. Pods on a node that is not Ready are marked not ready, which takes them out of
EndpointSlices; pods that do not tolerate a NoExecute taint are deleted (evicted) once
--pod-eviction-timeout has passed since the taint was added (sooner if a toleration's
tolerationSeconds says so), so their controllers recreate them on healthy nodes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from knet.api.objects import Obj, condition, is_deleting, meta, name_of, namespace_of
from knet.api.pods import is_ready
from knet.api.taints import (
    NO_EXECUTE,
    NO_SCHEDULE,
    NOT_READY,
    UNREACHABLE,
    eviction_delay,
    node_taints,
)
from knet.api.times import parse_time_or_none, rfc3339
from knet.client import ApiError, is_not_found
from knet.client.recorder import NORMAL
from knet.controllers.base import NODE_INDEX, Controller, ControllerContext

log = logging.getLogger("knet.controllers.nodelifecycle")

NODE_LEASE_NAMESPACE = "kube-node-lease"
_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
STOPPED = "Kubelet stopped posting node status."
NEVER = "Kubelet never posted node status."


# ---------------------------------------------------------------------------- pure


def unknown_conditions(node: Mapping[str, Any], now: datetime) -> list[Obj] | None:
    """The node's conditions with the kubelet-owned ones set to Unknown, or None if they
    already are (upstream's tryUpdateNodeHealth)."""
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or []]
    stamp = rfc3339(now)
    changed = False
    have = {c.get("type") for c in conditions}
    if "Ready" not in have:
        conditions.append(
            {
                "type": "Ready",
                "status": "Unknown",
                "reason": "NodeStatusNeverUpdated",
                "message": NEVER,
                "lastHeartbeatTime": meta(node).get("creationTimestamp") or stamp,
                "lastTransitionTime": stamp,
            }
        )
        changed = True
    for c in conditions:
        if c.get("type") in _CONDITIONS and c.get("status") != "Unknown":
            c.update(
                status="Unknown",
                reason="NodeStatusUnknown",
                message=STOPPED,
                lastTransitionTime=stamp,
            )
            changed = True
    return conditions if changed else None


def ready_status(node: Mapping[str, Any]) -> str:
    """ "True", "False" or "Unknown" (a node without the condition counts as Unknown)."""
    c = condition(node, "Ready")
    return str(c.get("status")) if c is not None else "Unknown"


def wanted_taints(node: Mapping[str, Any], now: datetime) -> list[Obj]:
    """The node's taints with the not-ready / unreachable pair the Ready condition calls for;
    taints already present keep their timeAdded."""
    status = ready_status(node)
    key = {"False": NOT_READY, "Unknown": UNREACHABLE}.get(status)
    current = [dict(t) for t in node_taints(node)]
    kept = [t for t in current if t.get("key") not in (NOT_READY, UNREACHABLE)]
    if key is None:
        return kept
    out = list(kept)
    for effect in (NO_SCHEDULE, NO_EXECUTE):
        existing = next(
            (t for t in current if t.get("key") == key and t.get("effect") == effect), None
        )
        if existing is not None:
            out.append(existing)
            continue
        taint: Obj = {"key": key, "effect": effect}
        if effect == NO_EXECUTE:
            taint["timeAdded"] = rfc3339(now)
        out.append(taint)
    return out


def eviction_due(
    pod: Mapping[str, Any], taints: Sequence[Mapping[str, Any]], timeout: float, now: datetime
) -> float | None:
    """Seconds until the pod must be evicted (<= 0: now), or None if never."""
    delay = eviction_delay(pod, taints, timeout)
    if delay is None:
        return None
    added = [
        parse_time_or_none(t.get("timeAdded")) for t in taints if t.get("effect") == NO_EXECUTE
    ]
    since = min((a for a in added if a is not None), default=now)
    return delay - (now - since).total_seconds()


# ---------------------------------------------------------------------------- the controller


@dataclass
class _Health:
    probed_at: float  # our monotonic clock, when the lease or heartbeat last changed
    lease_renew: Any = None
    heartbeat: Any = None


class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    component = "node-controller"
    workers = 2

    def __init__(
        self,
        ctx: ControllerContext,
        monitor_period: float = 5.0,
        grace_period: float = 40.0,
        eviction_timeout: float = 300.0,
    ) -> None:
        super().__init__(ctx)
        self.monitor_period = monitor_period
        self.grace_period = grace_period
        self.eviction_timeout = eviction_timeout
        self.nodes = ctx.informer("Node")
        self.leases = ctx.informer("Lease")
        self.pods = ctx.informer("Pod")
        self._health: dict[str, _Health] = {}
        self.nodes.add_handler(self._on_node, self._on_node_update, self._on_node_delete)
        self.leases.add_handler(self._on_lease, lambda _o, new: self._on_lease(new))

    # ------------------------------------------------------------------ health

    def _heartbeat(self, node: Mapping[str, Any]) -> Any:
        c = condition(node, "Ready")
        return None if c is None else (c.get("lastHeartbeatTime"), c.get("status"))

    def _on_node(self, node: Obj) -> None:
        self._health.setdefault(
            name_of(node), _Health(time.monotonic(), heartbeat=self._heartbeat(node))
        )
        self.enqueue(node)

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        health = self._health.get(name_of(new))
        beat = self._heartbeat(new)
        if health is None:
            self._on_node(new)
            return
        if beat != health.heartbeat:
            health.heartbeat = beat
            if beat is not None and beat[1] != "Unknown":  # our own Unknown write is no beat
                health.probed_at = time.monotonic()
        if ready_status(old) != ready_status(new) or node_taints(old) != node_taints(new):
            self.enqueue(new)

    def _on_node_delete(self, node: Obj) -> None:
        self._health.pop(name_of(node), None)

    def _on_lease(self, lease: Obj) -> None:
        if namespace_of(lease) != NODE_LEASE_NAMESPACE:
            return
        renew = (lease.get("spec") or {}).get("renewTime")
        health = self._health.get(name_of(lease))
        if health is None:
            return  # the node's add handler will start its clock
        if renew != health.lease_renew:
            health.lease_renew = renew
            health.probed_at = time.monotonic()

    async def start(self) -> None:
        # Every node gets a full grace period from our start: we have not been watching.
        now = time.monotonic()
        for h in self._health.values():
            h.probed_at = now

    async def run(self) -> None:
        monitor = asyncio.create_task(self._monitor(), name="nodelifecycle-monitor")
        try:
            await super().run()
        finally:
            monitor.cancel()

    async def _monitor(self) -> None:
        while not self.queue.shutting_down:
            for node in self.nodes.cache.list():
                self.queue.add(name_of(node))
            await asyncio.sleep(self.monitor_period)

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, key: str) -> None:
        node = self.nodes.cache.get(key)
        if node is None:
            return
        now = datetime.now(UTC)
        health = self._health.setdefault(key, _Health(time.monotonic()))
        if time.monotonic() - health.probed_at > self.grace_period:
            conditions = unknown_conditions(node, now)
            if conditions is not None:
                log.info("node %s: no heartbeat for %.0fs; Ready=Unknown", key, self.grace_period)
                node = await self.client.patch_status(
                    "Node", key, {"status": {"conditions": conditions}}
                )
                self.recorder.event(
                    node, NORMAL, "NodeNotReady", f"Node {key} status is now: NodeNotReady"
                )
        taints = wanted_taints(node, now)
        if taints != [dict(t) for t in node_taints(node)]:
            node = await self.client.patch(
                "Node",
                key,
                {
                    "metadata": {"resourceVersion": meta(node).get("resourceVersion")},
                    "spec": {"taints": taints or None},
                },
            )
        if ready_status(node) != "True":
            await self._mark_pods_not_ready(key)
        await self._evict(node, taints, now)

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        for pod in self.pods.cache.by_index(NODE_INDEX, node_name):
            if not is_ready(pod) or is_deleting(pod):
                continue
            conditions = [dict(c) for c in (pod.get("status") or {}).get("conditions") or []]
            for c in conditions:
                if c.get("type") == "Ready":
                    c["status"] = "False"
                    c["lastTransitionTime"] = rfc3339(datetime.now(UTC))
            try:
                await self.client.patch_status(
                    "Pod", name_of(pod), {"status": {"conditions": conditions}},
                    namespace=namespace_of(pod),
                )  # fmt: skip
            except ApiError as e:
                if not is_not_found(e):
                    raise

    async def _evict(self, node: Obj, taints: list[Obj], now: datetime) -> None:
        if not any(t.get("effect") == NO_EXECUTE for t in taints):
            return
        soonest: float | None = None
        for pod in self.pods.cache.by_index(NODE_INDEX, name_of(node)):
            if is_deleting(pod):
                continue
            due = eviction_due(pod, taints, self.eviction_timeout, now)
            if due is None:
                continue
            if due > 0:
                soonest = due if soonest is None else min(soonest, due)
                continue
            log.info("evicting %s/%s from %s", namespace_of(pod), name_of(pod), name_of(node))
            self.recorder.event(
                pod,
                NORMAL,
                "TaintManagerEviction",
                f"Marking for deletion Pod {namespace_of(pod)}/{name_of(pod)}",
            )
            try:
                await self.client.delete("Pod", name_of(pod), namespace_of(pod))
            except ApiError as e:
                if not is_not_found(e):
                    raise
        if soonest is not None:
            self.queue.add_after(name_of(node), soonest + 0.05)
