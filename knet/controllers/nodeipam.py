"""Node IPAM: every Node gets a podCIDR of its own from --cluster-cidr (subnets of
--node-cidr-mask-size bits), released when the Node is deleted. On start the allocator is
rebuilt from the podCIDRs existing Nodes already have, so a restart never hands one out twice."""

from __future__ import annotations

import contextlib
import logging
import time

from knet.api.objects import Obj, meta, name_of
from knet.client import ApiError, is_not_found
from knet.client.recorder import NORMAL
from knet.controllers.base import Controller, ControllerContext
from knet.controllers.cidrset import CidrExhaustedError, CidrSet

log = logging.getLogger("knet.controllers.nodeipam")

_PENDING_TIMEOUT = 30.0


def node_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = [c for c in spec.get("podCIDRs") or [] if isinstance(c, str) and c]
    if not cidrs and isinstance(spec.get("podCIDR"), str) and spec["podCIDR"]:
        cidrs = [spec["podCIDR"]]
    return cidrs


class NodeIpamController(Controller):
    name = "nodeipam"
    component = "cidrAllocator"
    workers = 1  # one allocator, one writer: no two nodes race for the same subnet

    def __init__(self, ctx: ControllerContext, cluster_cidr: str, node_mask_size: int) -> None:
        super().__init__(ctx)
        self.cidrs = CidrSet(cluster_cidr, node_mask_size)
        self.nodes = ctx.informer("Node")
        # node name -> (CIDR written, when): our write may not be in the cache yet
        self._pending: dict[str, tuple[str, float]] = {}
        self.nodes.add_handler(self._on_node, self._on_node_update, self._on_node_delete)

    def _on_node(self, node: Obj) -> None:
        if not node_cidrs(node):
            self.enqueue(node)

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        self._on_node(new)

    def _on_node_delete(self, node: Obj) -> None:
        self._pending.pop(name_of(node), None)
        for cidr in node_cidrs(node):
            if not self._used_by_other(cidr, name_of(node)):
                self._release(cidr)

    def _used_by_other(self, cidr: str, node: str) -> bool:
        return any(cidr in node_cidrs(n) for n in self.nodes.cache.list() if name_of(n) != node)

    def _release(self, cidr: str) -> None:
        try:
            self.cidrs.release(cidr)
            log.info("released %s", cidr)
        except ValueError:
            pass  # not from our range: never ours to release

    async def start(self) -> None:
        for node in self.nodes.cache.list():
            for cidr in node_cidrs(node):
                try:
                    self.cidrs.occupy(cidr)
                except ValueError as e:
                    log.warning("node %s: podCIDR %s not tracked: %s", name_of(node), cidr, e)

    async def reconcile(self, key: str) -> None:
        node = self.nodes.cache.get(key)
        if node is None:
            return
        have = node_cidrs(node)
        pending = self._pending.get(key)
        if have:
            self._pending.pop(key, None)
            for cidr in have:
                with contextlib.suppress(ValueError):
                    self.cidrs.occupy(cidr)
            return
        if pending is not None and time.monotonic() - pending[1] < _PENDING_TIMEOUT:
            return  # written; the informer has not shown it yet
        try:
            cidr = self.cidrs.allocate_next()
        except CidrExhaustedError as e:
            self.recorder.event(node, NORMAL, "CIDRNotAvailable", f"Node {key} status is now: {e}")
            raise
        body = {
            "metadata": {"resourceVersion": meta(node).get("resourceVersion")},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        }
        try:
            await self.client.patch("Node", key, body)
        except ApiError as e:
            self.cidrs.release(cidr)
            if is_not_found(e):
                return
            raise
        except BaseException:
            self.cidrs.release(cidr)
            raise
        self._pending[key] = (cidr, time.monotonic())
        log.info("node %s: podCIDR %s", key, cidr)
        self.recorder.event(node, NORMAL, "CIDRAssignmentSucceeded", f"Assigned podCIDR {cidr}")
