"""Taints and tolerations, shared by the scheduler and node lifecycle. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "PreferNoSchedule", "NoExecute"
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Upstream ToleratesTaint: effect empty matches all; key empty with Exists matches all
    keys; operator Exists ignores the value, Equal (the default) compares it."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if key and key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    if operator == "Equal":
        if not key:
            return False  # validation requires a key with Equal; such a toleration matches nothing
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerated(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def first_untolerated(
    taints: Iterable[Mapping[str, Any]],
    tolerations: Iterable[Mapping[str, Any]],
    effects: tuple[str, ...] = (NO_SCHEDULE, NO_EXECUTE),
) -> Mapping[str, Any] | None:
    tols = list(tolerations)
    for taint in taints:
        if taint.get("effect") in effects and not tolerated(tols, taint):
            return taint
    return None


def pod_tolerations(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = pod.get("spec") or {}
    return [t for t in spec.get("tolerations") or [] if isinstance(t, Mapping)]


def node_taints(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = node.get("spec") or {}
    return [t for t in spec.get("taints") or [] if isinstance(t, Mapping)]


def eviction_delay(
    pod: Mapping[str, Any], taints: Iterable[Mapping[str, Any]], default: float
) -> float | None:
    """Seconds after its taints were added that a pod on a node with NoExecute taints is
    evicted (upstream's taint manager): None if it tolerates them all with no time limit;
    else the smallest tolerationSeconds among the tolerations in use; an untolerated taint
    gives `default` (--pod-eviction-timeout, which upstream's DefaultTolerationSeconds
    admission would have added as a toleration)."""
    no_execute = [t for t in taints if t.get("effect") == NO_EXECUTE]
    if not no_execute:
        return None
    tols = pod_tolerations(pod)
    untolerated = any(not tolerated(tols, taint) for taint in no_execute)
    used = [t for t in tols if any(tolerates(t, taint) for taint in no_execute)]
    limits = [t["tolerationSeconds"] for t in used if isinstance(t.get("tolerationSeconds"), int)]
    limit = float(max(0, min(limits))) if limits else None
    if untolerated:
        return default if limit is None else min(default, limit)
    return limit
