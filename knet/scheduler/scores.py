"""Scores: how good a feasible node is for a pod, 0..100 per plugin, weighted. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from knet.scheduler.nodeinfo import NodeInfo, PodInfo

MAX_SCORE = 100
WEIGHTS = {"least_allocated": 1, "balanced_allocation": 1, "spread": 2}


def _least(requested: int, allocatable: int) -> int:
    if allocatable <= 0 or requested > allocatable:
        return 0
    return (allocatable - requested) * MAX_SCORE // allocatable


def least_allocated(pod: PodInfo, node: NodeInfo) -> int:
    """Prefer emptier nodes: the mean free share of CPU and memory after placing the pod
    (requests of zero count as upstream's non-zero defaults)."""
    cpu = _least(node.nonzero_cpu + pod.nonzero_cpu, node.alloc_cpu)
    mem = _least(node.nonzero_memory + pod.nonzero_memory, node.alloc_memory)
    return (cpu + mem) // 2


def balanced_allocation(pod: PodInfo, node: NodeInfo) -> int:
    """Prefer nodes whose CPU and memory would be used in equal shares: 100 * (1 - std dev)."""
    if node.alloc_cpu <= 0 or node.alloc_memory <= 0:
        return 0
    cpu = min((node.cpu + pod.cpu) / node.alloc_cpu, 1.0)
    mem = min((node.memory + pod.memory) / node.alloc_memory, 1.0)
    std = abs(cpu - mem) / 2
    return int((1 - std) * MAX_SCORE)


def spread(pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
    """Prefer nodes with fewer pods of the same owner (a ReplicaSet's pods spread out)."""
    if not pod.owner_uid:
        return [0 for _ in nodes]
    counts = [n.owners.get(pod.owner_uid, 0) for n in nodes]
    most = max(counts, default=0)
    if most == 0:
        return [MAX_SCORE for _ in nodes]
    return [MAX_SCORE * (most - c) // most for c in counts]


def score_nodes(pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
    """Total weighted score of each feasible node, in order."""
    spreads = spread(pod, nodes)
    return [
        WEIGHTS["least_allocated"] * least_allocated(pod, n)
        + WEIGHTS["balanced_allocation"] * balanced_allocation(pod, n)
        + WEIGHTS["spread"] * s
        for n, s in zip(nodes, spreads, strict=True)
    ]


def pick(names_and_scores: Sequence[tuple[str, int]], turn: int) -> str:
    """The best node; ties broken round-robin by `turn` over the tied names in name order."""
    if not names_and_scores:
        raise ValueError("no feasible node to pick from")
    best = max(score for _, score in names_and_scores)
    tied = sorted(name for name, score in names_and_scores if score == best)
    return tied[turn % len(tied)]
