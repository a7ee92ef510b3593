"""Service ClusterIPs and NodePorts: what a Service write allocates, keeps and gives back.

Allocation lives in memory (rebuilt from the stored Services at start-up), so each Service
write runs under one lock: allocate, write, and on failure release what was just taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from knet.api import registry
from knet.apiserver import errors
from knet.apiserver.allocators import AllocationError, ClusterIPAllocator, PortAllocator
from knet.storage import KeyValue

Taken = list[tuple[str, Any]]  # ("ip", address) and ("port", number) pairs
Write = Callable[[], Awaitable[KeyValue]]
_SERVICE = registry.by_kind("Service")


class ServiceAllocations:
    def __init__(self, cluster_ips: ClusterIPAllocator, node_ports: PortAllocator) -> None:
        self.cluster_ips = cluster_ips
        self.node_ports = node_ports
        self._lock = asyncio.Lock()

    def restore(self, services: Iterable[dict[str, Any]]) -> None:
        """Mark what the stored Services hold (at start-up)."""
        ips: list[str] = []
        ports: list[int] = []
        for svc in services:
            spec = svc.get("spec") or {}
            for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
                if isinstance(ip, str) and self.cluster_ips.contains(ip):
                    ips.append(ip)
            for p in spec.get("ports") or []:
                np = p.get("nodePort") if isinstance(p, dict) else None
                if isinstance(np, int) and self.node_ports.contains(np):
                    ports.append(np)
        self.cluster_ips.restore(ips)
        self.node_ports.restore(ports)

    async def create(self, svc: dict[str, Any], write: Write) -> KeyValue:
        """Fill in and take ``svc``'s ClusterIP and NodePorts, then ``write`` it."""
        async with self._lock:
            taken = self.allocate(svc)
            try:
                return await write()
            except BaseException:
                self.release(taken)
                raise

    async def update(self, new: dict[str, Any], current: dict[str, Any], write: Write) -> KeyValue:
        """As `create`, keeping what ``current`` held; releases what ``new`` no longer holds."""
        async with self._lock:
            taken = self.allocate(new, current)
            try:
                out = await write()
            except BaseException:
                self.release(taken)
                raise
            self.release_leftovers(current, new)
            return out

    async def deleted(self, svc: dict[str, Any]) -> None:
        async with self._lock:
            self.release_service(svc)

    def allocate(
        self, svc: dict[str, Any], old: dict[str, Any] | None = None
    ) -> list[tuple[str, Any]]:
        """Allocate the ClusterIP and NodePorts a Service needs (beyond what `old` held);
        returns what it took, having released it all again if it fails half-way."""
        taken: list[tuple[str, Any]] = []
        try:
            self._allocate_into(svc, taken, old=old)
        except BaseException:
            self.release(taken)
            raise
        return taken

    def _allocate_into(
        self, svc: dict[str, Any], taken: list[tuple[str, Any]], old: dict[str, Any] | None
    ) -> None:
        spec = svc["spec"]
        old_spec = (old or {}).get("spec") or {}
        name = svc["metadata"].get("name", "")
        if spec.get("type") != "ExternalName":
            self._allocate_cluster_ip(name, spec, old_spec, taken, is_update=old is not None)
        self._allocate_node_ports(name, spec, old_spec, taken)

    def _allocate_cluster_ip(
        self,
        name: str,
        spec: dict[str, Any],
        old_spec: dict[str, Any],
        taken: Taken,
        *,
        is_update: bool,
    ) -> None:
        old_ip = old_spec.get("clusterIP")
        ip = spec.get("clusterIP")
        if is_update and old_ip and not ip:
            spec["clusterIP"] = old_ip  # an update that omits it keeps it
        elif ip in (None, ""):
            try:
                spec["clusterIP"] = self.cluster_ips.allocate()
            except AllocationError as e:
                raise errors.internal(f"failed to allocate a serviceIP: {e}") from None
            taken.append(("ip", spec["clusterIP"]))
        elif ip != "None" and ip != old_ip:
            try:
                self.cluster_ips.allocate_specific(ip)
            except AllocationError as e:
                raise errors.invalid(
                    _SERVICE,
                    name,
                    [
                        errors.Cause(
                            "FieldValueInvalid",
                            f'Invalid value: "{ip}": {e}',
                            "spec.clusterIPs",
                        )
                    ],
                ) from None
            taken.append(("ip", ip))
        spec["clusterIPs"] = [spec["clusterIP"]]
        if spec["clusterIP"] != "None":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")

    def _allocate_node_ports(
        self, name: str, spec: dict[str, Any], old_spec: dict[str, Any], taken: Taken
    ) -> None:
        needs_node_port = spec.get("type") in ("NodePort", "LoadBalancer")
        old_ports = {
            (p.get("port"), p.get("protocol")): p.get("nodePort")
            for p in old_spec.get("ports") or []
            if isinstance(p, dict)
        }
        for i, port in enumerate(spec.get("ports") or []):
            if not needs_node_port:
                port.pop("nodePort", None)
                continue
            want = port.get("nodePort")
            prev = old_ports.get((port.get("port"), port.get("protocol")))
            if want in (None, 0):
                if prev:
                    port["nodePort"] = prev
                    continue
                try:
                    port["nodePort"] = self.node_ports.allocate()
                except AllocationError as e:
                    raise errors.internal(f"failed to allocate a nodePort: {e}") from None
                taken.append(("port", port["nodePort"]))
            elif want != prev and want not in [t[1] for t in taken if t[0] == "port"]:
                try:
                    self.node_ports.allocate_specific(want)
                except AllocationError as e:
                    raise errors.invalid(
                        _SERVICE,
                        name,
                        [
                            errors.Cause(
                                "FieldValueInvalid",
                                f"Invalid value: {want}: {e}",
                                f"spec.ports[{i}].nodePort",
                            )
                        ],
                    ) from None
                taken.append(("port", want))

    def release(self, taken: list[tuple[str, Any]] | None) -> None:
        for what, value in taken or []:
            if what == "ip":
                self.cluster_ips.release(value)
            else:
                self.node_ports.release(value)

    def holdings(self, svc: dict[str, Any]) -> set[tuple[str, Any]]:
        spec = svc.get("spec") or {}
        out: set[tuple[str, Any]] = set()
        ip = spec.get("clusterIP")
        if isinstance(ip, str) and self.cluster_ips.contains(ip):
            out.add(("ip", ip))
        for p in spec.get("ports") or []:
            np = p.get("nodePort") if isinstance(p, dict) else None
            if isinstance(np, int) and self.node_ports.contains(np):
                out.add(("port", np))
        return out

    def release_service(self, svc: dict[str, Any]) -> None:
        self.release(list(self.holdings(svc)))

    def release_leftovers(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.release(list(self.holdings(old) - self.holdings(new)))
