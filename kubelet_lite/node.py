"""This node's Node object and its heartbeats.

Registration creates the Node (or brings an existing one up to date) with its addresses,
capacity, the complete nodeInfo that clients require, the standard conditions and a podCIDR
(from --pod-cidr, or else the one the control plane sets in spec.podCIDR). Afterwards a Lease in
kube-node-lease is renewed every quarter of its duration, and the node status (Ready and its
companions) every --node-status-update-frequency.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from knet.api.times import micro_time, now_rfc3339
from knet.client import ApiClient, ApiConnectionError, ApiError, is_already_exists, is_not_found
from kubelet_lite.config import ConfigError, KubeletConfig

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.32.0+knet"
RUNTIME_VERSION = "knet-process://0.1.0"
LEASE_NAMESPACE = "kube-node-lease"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def _os_image() -> str:
    text = _read("/etc/os-release") or ""
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def _as_uuid(hex32: str) -> str:
    h = (hex32 + "0" * 32)[:32]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


@dataclass(frozen=True)
class HostFacts:
    machine_id: str
    system_uuid: str
    boot_id: str
    kernel_version: str
    os_image: str
    architecture: str
    cpus: int
    memory_kib: int

    @classmethod
    def gather(cls) -> HostFacts:
        machine = _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id")
        if machine is None:
            machine = hashlib.sha256(platform.node().encode()).hexdigest()[:32]
        product = _read("/sys/class/dmi/id/product_uuid")
        mem_kib = 0
        for line in (_read("/proc/meminfo") or "").splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
        machine_arch = platform.machine()
        return cls(
            machine_id=machine,
            system_uuid=(product or _as_uuid(machine)).lower(),
            boot_id=_read("/proc/sys/kernel/random/boot_id") or _as_uuid(machine),
            kernel_version=os.uname().release,
            os_image=_os_image(),
            architecture=_ARCH.get(machine_arch, machine_arch),
            cpus=os.cpu_count() or 1,
            memory_kib=mem_kib,
        )

    def for_simulated_node(self, node_name: str) -> HostFacts:
        """Several nodes played by namespaces of one host each get ids of their own."""
        digest = hashlib.sha256(f"{self.machine_id}/{node_name}".encode()).hexdigest()
        return HostFacts(
            machine_id=digest[:32],
            system_uuid=_as_uuid(digest[32:64]),
            boot_id=self.boot_id,
            kernel_version=self.kernel_version,
            os_image=self.os_image,
            architecture=self.architecture,
            cpus=self.cpus,
            memory_kib=self.memory_kib,
        )


def node_info(facts: HostFacts) -> dict[str, str]:
    """All ten NodeSystemInfo fields (the official Python client rejects a Node without any)."""
    return {
        "machineID": facts.machine_id,
        "systemUUID": facts.system_uuid,
        "bootID": facts.boot_id,
        "kernelVersion": facts.kernel_version,
        "osImage": facts.os_image,
        "containerRuntimeVersion": RUNTIME_VERSION,
        "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": KUBELET_VERSION,
        "operatingSystem": "linux",
        "architecture": facts.architecture,
    }


def capacity(facts: HostFacts, max_pods: int, storage_kib: int) -> dict[str, str]:
    return {
        "cpu": str(facts.cpus),
        "memory": f"{facts.memory_kib}Ki",
        "pods": str(max_pods),
        "ephemeral-storage": f"{storage_kib}Ki",
    }


@dataclass(frozen=True)
class Readiness:
    ready: bool
    message: str = "kubelet is posting ready status"


_PRESSURE = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)


def node_conditions(
    prev: Sequence[Mapping[str, Any]] | None, readiness: Readiness, now: str
) -> list[dict[str, Any]]:
    """The four standard conditions; a transition time only moves when the status does."""
    old = {str(c.get("type")): c for c in prev or []}

    def cond(ctype: str, status: str, reason: str, message: str) -> dict[str, Any]:
        since = now
        o = old.get(ctype)
        if o is not None and o.get("status") == status and o.get("lastTransitionTime"):
            since = str(o["lastTransitionTime"])
        return {
            "type": ctype,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }

    out = [cond(t, "False", r, m) for t, r, m in _PRESSURE]
    if readiness.ready:
        out.append(cond("Ready", "True", "KubeletReady", readiness.message))
    else:
        out.append(cond("Ready", "False", "KubeletNotReady", readiness.message))
    return out


def node_labels(name: str, arch: str) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": arch,
    }


def node_status(
    config: KubeletConfig,
    facts: HostFacts,
    readiness: Readiness,
    prev_conditions: Sequence[Mapping[str, Any]] | None,
    storage_kib: int,
    now: str,
) -> dict[str, Any]:
    cap = capacity(facts, config.max_pods, storage_kib)
    return {
        "capacity": cap,
        "allocatable": dict(cap),
        "conditions": node_conditions(prev_conditions, readiness, now),
        "addresses": [
            {"type": "InternalIP", "address": str(config.node_ip)},
            {"type": "Hostname", "address": config.node_name},
        ],
        "nodeInfo": node_info(facts),
        "daemonEndpoints": {"kubeletEndpoint": {"Port": config.port}},
    }


def node_object(
    config: KubeletConfig, facts: HostFacts, readiness: Readiness, storage_kib: int, now: str
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if config.pod_cidr is not None:
        spec = {"podCIDR": str(config.pod_cidr), "podCIDRs": [str(config.pod_cidr)]}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": config.node_name,
            "labels": node_labels(config.node_name, facts.architecture),
        },
        "spec": spec,
        "status": node_status(config, facts, readiness, None, storage_kib, now),
    }


def lease_spec(config: KubeletConfig, now: str) -> dict[str, Any]:
    return {
        "holderIdentity": config.node_name,
        "leaseDurationSeconds": config.node_lease_duration_seconds,
        "renewTime": now,
    }


def pod_cidr_of(node: Mapping[str, Any]) -> IPv4Network | None:
    cidr = (node.get("spec") or {}).get("podCIDR")
    if not cidr:
        return None
    try:
        return IPv4Network(str(cidr))
    except ValueError:
        raise ConfigError(f"Node.spec.podCIDR {cidr!r} is not an IPv4 network") from None


class NodeAgent:
    """Registers the node and keeps its status and Lease fresh."""

    def __init__(
        self,
        client: ApiClient,
        config: KubeletConfig,
        readiness: Callable[[], Readiness],
    ) -> None:
        self.client = client
        self.config = config
        self.readiness = readiness
        facts = HostFacts.gather()
        self.facts = facts.for_simulated_node(config.node_name) if config.node_netns else facts
        self.node: dict[str, Any] | None = None
        self._lease: dict[str, Any] | None = None

    def _storage_kib(self) -> int:
        try:
            st = os.statvfs(self.config.root_dir)
        except OSError:
            return 0
        return st.f_blocks * st.f_frsize // 1024

    async def register(self) -> IPv4Network:
        """Create or update the Node; returns the pod CIDR (waiting for the control plane to
        assign one when --pod-cidr was not given)."""
        delay = 0.2
        while True:
            try:
                self.node = await self._ensure_node()
                break
            except (ApiConnectionError, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.code < 500 and exc.code != 429:
                    raise
                log.warning("registering node %s: %s; retrying", self.config.node_name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        cidr = pod_cidr_of(self.node)
        while cidr is None:
            log.info(
                "node %s has no podCIDR yet; waiting for the control plane", self.config.node_name
            )
            await asyncio.sleep(1.0)
            try:
                self.node = await self.client.get("Node", self.config.node_name)
            except (ApiConnectionError, ApiError) as exc:
                log.warning("reading node %s: %s", self.config.node_name, exc)
                continue
            cidr = pod_cidr_of(self.node)
        return cidr

    async def _ensure_node(self) -> dict[str, Any]:
        cfg = self.config
        now = now_rfc3339()
        try:
            return await self.client.create(
                node_object(cfg, self.facts, self.readiness(), self._storage_kib(), now)
            )
        except ApiError as exc:
            if not is_already_exists(exc):
                raise
        node = await self.client.get("Node", cfg.node_name)
        have = pod_cidr_of(node)
        if cfg.pod_cidr is not None and have is not None and have != cfg.pod_cidr:
            raise ConfigError(
                f"--pod-cidr {cfg.pod_cidr} differs from Node {cfg.node_name}'s spec.podCIDR "
                f"{have}; a node's pod CIDR cannot change"
            )
        patch: dict[str, Any] = {
            "metadata": {"labels": node_labels(cfg.node_name, self.facts.architecture)}
        }
        if have is None and cfg.pod_cidr is not None:
            patch["spec"] = {"podCIDR": str(cfg.pod_cidr), "podCIDRs": [str(cfg.pod_cidr)]}
        node = await self.client.patch("Node", cfg.node_name, patch)
        return await self._patch_status(node)

    async def _patch_status(self, node: Mapping[str, Any]) -> dict[str, Any]:
        prev = (node.get("status") or {}).get("conditions")
        status = node_status(
            self.config, self.facts, self.readiness(), prev, self._storage_kib(), now_rfc3339()
        )
        out = await self.client.patch_status("Node", self.config.node_name, {"status": status})
        self.node = out
        return out

    async def update_status(self) -> None:
        node = self.node or await self.client.get("Node", self.config.node_name)
        try:
            await self._patch_status(node)
        except ApiError as exc:
            if is_not_found(exc):  # deleted under us: register again, as kubelet does
                self.node = await self._ensure_node()
                return
            raise

    async def renew_lease(self) -> None:
        cfg = self.config
        spec = lease_spec(cfg, micro_time(time.time()))
        if self._lease is not None:
            lease = dict(self._lease)
            lease["spec"] = {**(lease.get("spec") or {}), **spec}
            try:
                self._lease = await self.client.replace(lease)
                return
            except ApiError as exc:
                if exc.code not in (404, 409):
                    raise
                self._lease = None
        try:
            current = await self.client.get("Lease", cfg.node_name, LEASE_NAMESPACE)
        except ApiError as exc:
            if not is_not_found(exc):
                raise
            owner = []
            if self.node is not None and (self.node.get("metadata") or {}).get("uid"):
                owner = [
                    {
                        "apiVersion": "v1",
                        "kind": "Node",
                        "name": cfg.node_name,
                        "uid": self.node["metadata"]["uid"],
                    }
                ]
            self._lease = await self.client.create(
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": cfg.node_name,
                        "namespace": LEASE_NAMESPACE,
                        "ownerReferences": owner,
                    },
                    "spec": spec,
                },
                namespace=LEASE_NAMESPACE,
            )
            return
        current["spec"] = {**(current.get("spec") or {}), **spec}
        self._lease = await self.client.replace(current)

    async def _every(self, period: float, what: str, fn: Callable[[], Any]) -> None:
        while True:
            started = time.monotonic()
            try:
                await fn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s failed: %s", what, exc)
            await asyncio.sleep(max(period - (time.monotonic() - started), 0.05))

    async def run(self) -> None:
        """Heartbeats until cancelled."""
        await asyncio.gather(
            self._every(self.config.lease_renew_interval, "lease renewal", self.renew_lease),
            self._every(
                self.config.node_status_update_frequency, "node status update", self.update_status
            ),
        )
