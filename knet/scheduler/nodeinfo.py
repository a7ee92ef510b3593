"""What the scheduler knows about a pod (`PodInfo`) and a node with its pods (`NodeInfo`),
parsed once so that filtering a pod against hundreds of nodes costs little. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from knet.api.taints import node_taints, pod_tolerations
from knet.scheduler.resources import memory_bytes, milli_cpu, pod_requests

HostPort = tuple[str, str, int]  # (hostIP, protocol, port)
ANY_IP = "0.0.0.0"


@dataclass(frozen=True)
class PodInfo:
    key: str  # namespace/name
    uid: str
    cpu: int  # milli-CPU requested
    memory: int  # bytes requested
    nonzero_cpu: int
    nonzero_memory: int
    host_ports: tuple[HostPort, ...] = ()
    tolerations: tuple[Mapping[str, Any], ...] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    affinity_terms: tuple[Mapping[str, Any], ...] | None = None  # required terms, ORed
    owner_uid: str = ""

    @classmethod
    def of(cls, pod: Mapping[str, Any]) -> PodInfo:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        cpu, mem = pod_requests(pod)
        nz_cpu, nz_mem = pod_requests(pod, non_zero=True)
        ports: list[HostPort] = []
        for c in spec.get("containers") or []:
            for p in c.get("ports") or [] if isinstance(c, Mapping) else []:
                if isinstance(p, Mapping) and isinstance(p.get("hostPort"), int) and p["hostPort"]:
                    ports.append(
                        (p.get("hostIP") or ANY_IP, p.get("protocol") or "TCP", p["hostPort"])
                    )
        affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        terms = None
        if isinstance(affinity, Mapping):
            terms = tuple(
                t for t in affinity.get("nodeSelectorTerms") or [] if isinstance(t, Mapping)
            )
        owner = ""
        for ref in meta.get("ownerReferences") or []:
            if isinstance(ref, Mapping) and ref.get("controller") is True:
                owner = str(ref.get("uid") or "")
        namespace = meta.get("namespace") or ""
        return cls(
            key=f"{namespace}/{meta.get('name')}",
            uid=str(meta.get("uid") or ""),
            cpu=cpu,
            memory=mem,
            nonzero_cpu=nz_cpu,
            nonzero_memory=nz_mem,
            host_ports=tuple(ports),
            tolerations=tuple(pod_tolerations(pod)),
            node_selector=dict(spec.get("nodeSelector") or {}),
            affinity_terms=terms,
            owner_uid=owner,
        )


def _allocatable(node: Mapping[str, Any], name: str) -> Any:
    alloc = (node.get("status") or {}).get("allocatable") or {}
    if name in alloc:
        return alloc[name]
    return ((node.get("status") or {}).get("capacity") or {}).get(name)


@dataclass
class NodeInfo:
    name: str
    labels: Mapping[str, str]
    taints: list[Mapping[str, Any]]
    unschedulable: bool
    ready: str  # the Ready condition's status: "True", "False" or "Unknown"
    alloc_cpu: int
    alloc_memory: int
    alloc_pods: int
    pods: dict[str, PodInfo] = field(default_factory=dict)
    cpu: int = 0
    memory: int = 0
    nonzero_cpu: int = 0
    nonzero_memory: int = 0
    ports: dict[HostPort, int] = field(default_factory=dict)
    owners: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, node: Mapping[str, Any], pods: Iterable[PodInfo] = ()) -> NodeInfo:
        info = cls(name="", labels={}, taints=[], unschedulable=False, ready="Unknown",
                   alloc_cpu=0, alloc_memory=0, alloc_pods=0)  # fmt: skip
        info.set_node(node)
        for p in pods:
            info.add_pod(p)
        return info

    def set_node(self, node: Mapping[str, Any]) -> None:
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        self.name = str(meta.get("name") or "")
        self.labels = dict(meta.get("labels") or {})
        self.taints = node_taints(node)
        self.unschedulable = bool(spec.get("unschedulable"))
        self.ready = "Unknown"
        for c in (node.get("status") or {}).get("conditions") or []:
            if isinstance(c, Mapping) and c.get("type") == "Ready":
                self.ready = str(c.get("status"))
        cpu, mem, pods = (_allocatable(node, r) for r in ("cpu", "memory", "pods"))
        self.alloc_cpu = milli_cpu(cpu) if cpu is not None else 0
        self.alloc_memory = memory_bytes(mem) if mem is not None else 0
        self.alloc_pods = int(memory_bytes(pods)) if pods is not None else 0

    def add_pod(self, pod: PodInfo) -> None:
        if pod.key in self.pods:
            self.remove_pod(pod.key)
        self.pods[pod.key] = pod
        self.cpu += pod.cpu
        self.memory += pod.memory
        self.nonzero_cpu += pod.nonzero_cpu
        self.nonzero_memory += pod.nonzero_memory
        for port in pod.host_ports:
            self.ports[port] = self.ports.get(port, 0) + 1
        if pod.owner_uid:
            self.owners[pod.owner_uid] = self.owners.get(pod.owner_uid, 0) + 1

    def remove_pod(self, key: str) -> PodInfo | None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return None
        self.cpu -= pod.cpu
        self.memory -= pod.memory
        self.nonzero_cpu -= pod.nonzero_cpu
        self.nonzero_memory -= pod.nonzero_memory
        for port in pod.host_ports:
            left = self.ports.get(port, 0) - 1
            if left > 0:
                self.ports[port] = left
            else:
                self.ports.pop(port, None)
        if pod.owner_uid:
            left = self.owners.get(pod.owner_uid, 0) - 1
            if left > 0:
                self.owners[pod.owner_uid] = left
            else:
                self.owners.pop(pod.owner_uid, None)
        return pod
