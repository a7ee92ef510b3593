"""Which of a controller's pods to delete first (upstream's ActivePodsWithRanks). Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from knet.api.objects import Obj, meta, name_of
from knet.api.pods import (
    PENDING,
    RUNNING,
    UNKNOWN,
    is_ready,
    node_name,
    phase,
    ready_since,
    restart_count,
)
from knet.api.times import parse_time_or_none

_PHASE_RANK = {PENDING: 0, UNKNOWN: 1, RUNNING: 2}
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def _deletion_cost(pod: Mapping[str, Any]) -> int:
    annotations = meta(pod).get("annotations")
    raw = annotations.get(DELETION_COST) if isinstance(annotations, Mapping) else None
    try:
        return int(raw) if raw is not None else 0
    except (TypeError, ValueError):
        return 0


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else float("-inf")


def deletion_order(pods: Iterable[Obj], related: Iterable[Obj] = ()) -> list[Obj]:
    """`pods` sorted so that the ones to delete first come first (upstream ActivePodsWithRanks):
    unscheduled before scheduled; Pending before Unknown before Running; not ready before ready;
    lower deletion cost; more siblings on the same node; ready for less time; more restarts;
    newer. `related` are the pods whose placement counts as siblings (default: `pods`)."""
    pod_list = list(pods)
    per_node: dict[str, int] = {}
    for p in list(related) or pod_list:
        if node_name(p):
            per_node[node_name(p)] = per_node.get(node_name(p), 0) + 1

    def key(p: Obj) -> tuple[Any, ...]:
        ready = is_ready(p)
        return (
            1 if node_name(p) else 0,
            _PHASE_RANK.get(phase(p), 0),
            1 if ready else 0,
            _deletion_cost(p),
            -per_node.get(node_name(p), 0) if node_name(p) else 0,
            -_epoch(ready_since(p)) if ready else 0.0,
            -restart_count(p),
            -_epoch(parse_time_or_none(meta(p).get("creationTimestamp"))),
            name_of(p),
        )

    return sorted(pod_list, key=key)
