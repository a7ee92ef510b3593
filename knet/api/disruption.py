"""PodDisruptionBudget arithmetic shared by the disruption controller (which writes a budget's
status) and the API server's eviction subresource (which spends it). Pure functions over wire
dicts, after upstream's pkg/controller/disruption.

Simplification: the pods a budget expects are the pods its selector matches that are not
finished, rather than the sum of their controllers' `spec.replicas` upstream reads for
percentages and maxUnavailable. The two differ only while a controller is scaling.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from knet.api.pods import is_ready
from knet.api.selectors import SelectorError, selector_from_label_selector
from knet.api.times import parse_time_or_none

# An evicted pod not yet seen deleted after this long no longer counts as being disrupted.
DELETION_TIMEOUT = timedelta(minutes=2)


@dataclass(frozen=True)
class Budget:
    expected_pods: int
    current_healthy: int
    desired_healthy: int
    disruptions_allowed: int


def selects(pdb: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """Whether the budget covers this pod (same namespace is the caller's business).

    As upstream, an empty selector selects every pod in the namespace (policy/v1) and a
    missing one selects none.
    """
    raw = (pdb.get("spec") or {}).get("selector")
    if raw is None:
        return False
    try:
        selector = selector_from_label_selector(raw)
    except SelectorError:
        return False
    return selector.matches((pod.get("metadata") or {}).get("labels") or {})


def _scaled(value: Any, total: int) -> int:
    """An int-or-percent against `total`, rounding up as upstream does for budgets."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            percent = int(value[:-1])
        except ValueError:
            return 0
        return math.ceil(percent * total / 100)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _live(pod: Mapping[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed")


def recently_disrupted(pdb: Mapping[str, Any], now: datetime) -> set[str]:
    """Names in status.disruptedPods evicted less than DELETION_TIMEOUT ago."""
    listed = (pdb.get("status") or {}).get("disruptedPods") or {}
    out = set()
    for name, when in listed.items() if isinstance(listed, dict) else []:
        at = parse_time_or_none(when)
        if at is not None and now - at < DELETION_TIMEOUT:
            out.add(name)
    return out


def compute_budget(
    pdb: Mapping[str, Any], pods: Iterable[Mapping[str, Any]], now: datetime
) -> Budget:
    """The budget's numbers for the pods (of its namespace) it selects."""
    disrupted = recently_disrupted(pdb, now)
    covered = [p for p in pods if _live(p) and selects(pdb, p)]
    expected = len(covered)
    healthy = 0
    for pod in covered:
        meta = pod.get("metadata") or {}
        if (
            is_ready(pod)
            and not meta.get("deletionTimestamp")
            and meta.get("name") not in disrupted
        ):
            healthy += 1
    spec = pdb.get("spec") or {}
    if spec.get("maxUnavailable") is not None:
        desired = max(expected - _scaled(spec["maxUnavailable"], expected), 0)
    elif spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected)
    else:
        desired = expected  # neither set: no disruption allowed, as upstream's default
    return Budget(expected, healthy, desired, max(healthy - desired, 0))


def pdb_status(
    pdb: Mapping[str, Any], budget: Budget, now: datetime, rfc3339_now: str
) -> dict[str, Any]:
    """The status the disruption controller writes for `budget`."""
    status = dict(pdb.get("status") or {})
    meta = pdb.get("metadata") or {}
    allowed = budget.disruptions_allowed > 0
    old = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None
    )
    cond_status = "True" if allowed else "False"
    changed = old is None or old.get("status") != cond_status
    condition = {
        "type": "DisruptionAllowed",
        "status": cond_status,
        "reason": "SufficientPods" if allowed else "InsufficientPods",
        "message": "",
        "observedGeneration": meta.get("generation", 1),
        "lastTransitionTime": rfc3339_now
        if changed or old is None
        else old.get("lastTransitionTime"),
    }
    disrupted = {
        name: when
        for name, when in (status.get("disruptedPods") or {}).items()
        if name in recently_disrupted(pdb, now)
    }
    out: dict[str, Any] = {
        "observedGeneration": meta.get("generation", 1),
        "disruptionsAllowed": budget.disruptions_allowed,
        "currentHealthy": budget.current_healthy,
        "desiredHealthy": budget.desired_healthy,
        "expectedPods": budget.expected_pods,
        "conditions": [condition],
    }
    if disrupted:
        out["disruptedPods"] = disrupted
    return out
