"""autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler, as upstream converts them.

HPAs are stored in v2. The v1 form has one CPU utilisation target; what v2 says beyond it
(other metrics, behavior, current metrics, conditions) travels in v1 as upstream's
`autoscaling.alpha.kubernetes.io/*` annotations, so a v1 round trip loses nothing. Pure
functions over wire dicts.
"""

from __future__ import annotations

import copy
import json
from typing import Any

METRICS = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"

Obj = dict[str, Any]


def _is_cpu_utilization(metric: Any, key: str) -> bool:
    if not isinstance(metric, dict) or metric.get("type") != "Resource":
        return False
    resource = metric.get("resource") or {}
    value = resource.get(key) or {}
    return resource.get("name") == "cpu" and "averageUtilization" in value


def _cpu_metric(percent: Any, key: str) -> Obj:
    value: Obj = {"averageUtilization": percent}
    if key == "target":
        value = {"type": "Utilization", **value}
    return {"type": "Resource", "resource": {"name": "cpu", key: value}}


def _annotations(obj: Obj) -> dict[str, Any]:
    meta = obj.setdefault("metadata", {})
    annotations = meta.get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def _take(annotations: dict[str, Any], key: str) -> Any:
    text = annotations.pop(key, None)
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def to_v2(v1: Obj) -> Obj:
    """The stored (v2) form of a v1 object."""
    out = copy.deepcopy(v1)
    out["apiVersion"] = "autoscaling/v2"
    annotations = _annotations(out)
    extra_metrics = _take(annotations, METRICS) or []
    current = _take(annotations, CURRENT_METRICS) or []
    behavior = _take(annotations, BEHAVIOR)
    conditions = _take(annotations, CONDITIONS)
    if not annotations:
        out["metadata"].pop("annotations", None)
    spec = out.get("spec")
    if isinstance(spec, dict):
        target = spec.pop("targetCPUUtilizationPercentage", None)
        metrics = [m for m in extra_metrics if not _is_cpu_utilization(m, "target")]
        if target is not None:
            metrics.insert(0, _cpu_metric(target, "target"))
        if metrics:
            spec["metrics"] = metrics
        if behavior is not None:
            spec["behavior"] = behavior
    status = out.get("status")
    if isinstance(status, dict):
        cpu = status.pop("currentCPUUtilizationPercentage", None)
        metrics = [m for m in current if not _is_cpu_utilization(m, "current")]
        if cpu is not None:
            metrics.insert(0, _cpu_metric(cpu, "current"))
        if metrics:
            status["currentMetrics"] = metrics
        if conditions is not None:
            status["conditions"] = conditions
    return out


def _put(annotations: dict[str, Any], key: str, value: Any) -> None:
    if value:
        annotations[key] = json.dumps(value, separators=(",", ":"))


def to_v1(v2: Obj) -> Obj:
    """The v1 form of a stored (v2) object."""
    out = copy.deepcopy(v2)
    out["apiVersion"] = "autoscaling/v1"
    annotations = dict(_annotations(out))
    spec = out.get("spec")
    if isinstance(spec, dict):
        metrics = spec.pop("metrics", None) or []
        for m in metrics:
            if _is_cpu_utilization(m, "target"):
                spec["targetCPUUtilizationPercentage"] = m["resource"]["target"][
                    "averageUtilization"
                ]
        _put(annotations, METRICS, [m for m in metrics if not _is_cpu_utilization(m, "target")])
        _put(annotations, BEHAVIOR, spec.pop("behavior", None))
    status = out.get("status")
    if isinstance(status, dict):
        # v1's replica counts are not omitempty: clients require them.
        status.setdefault("currentReplicas", 0)
        status.setdefault("desiredReplicas", 0)
        current = status.pop("currentMetrics", None) or []
        for m in current:
            if _is_cpu_utilization(m, "current"):
                value = m["resource"]["current"]["averageUtilization"]
                status["currentCPUUtilizationPercentage"] = value
        rest = [m for m in current if not _is_cpu_utilization(m, "current")]
        _put(annotations, CURRENT_METRICS, rest)
        _put(annotations, CONDITIONS, status.pop("conditions", None))
    if annotations:
        out["metadata"]["annotations"] = annotations
    return out
