"""Defaulting and initial status for the stored kinds added beside the first ten (volumes,
quotas, limit ranges, pod templates, PodDisruptionBudget, networking, HPA, APIService), as
upstream's v1 defaulting functions and REST strategies do. Pure functions over wire dicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from knet.api.registry import ResourceInfo


def _spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    spec = obj.setdefault("spec", {})
    return spec if isinstance(spec, dict) else None


def _default_pvc(obj: dict[str, Any]) -> None:
    spec = _spec(obj)
    if spec is not None:
        spec.setdefault("volumeMode", "Filesystem")


def _default_pv(obj: dict[str, Any]) -> None:
    spec = _spec(obj)
    if spec is not None:
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        spec.setdefault("volumeMode", "Filesystem")


def _default_limit_range(obj: dict[str, Any]) -> None:
    """A container limit item's missing defaults come from its max, requests from defaults/min."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    for item in spec.get("limits") or []:
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        maxes, mins = item.get("max"), item.get("min")
        if isinstance(maxes, dict) and maxes:
            default = item.setdefault("default", {})
            if isinstance(default, dict):
                for key, value in maxes.items():
                    default.setdefault(key, value)
        sources = [item.get("default"), mins]
        if any(isinstance(s, dict) and s for s in sources):
            request = item.setdefault("defaultRequest", {})
            if isinstance(request, dict):
                for source in sources:
                    for key, value in (source if isinstance(source, dict) else {}).items():
                        request.setdefault(key, value)


# Shown by `kubectl describe networkpolicy` (it prints annotations, not events).
NOT_ENFORCED_ANNOTATION = "knet.dev/enforcement"
NOT_ENFORCED = "none: knet does not enforce NetworkPolicy yet; traffic is not filtered"


def _default_network_policy(obj: dict[str, Any]) -> None:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        annotations = meta.setdefault("annotations", {})
        if isinstance(annotations, dict):
            annotations[NOT_ENFORCED_ANNOTATION] = NOT_ENFORCED
    spec = _spec(obj)
    if spec is None:
        return
    spec.setdefault("podSelector", {})
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for port in (rule.get("ports") or []) if isinstance(rule, dict) else []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
    if "policyTypes" not in spec:
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types


def _default_hpa(obj: dict[str, Any]) -> None:
    spec = _spec(obj)
    if spec is None:
        return
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        # v2 defaulting: scale on CPU at 80% average utilisation when no metric is given.
        target = {"type": "Utilization", "averageUtilization": 80}
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": target}}]


_DEFAULTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "PersistentVolumeClaim": _default_pvc,
    "PersistentVolume": _default_pv,
    "LimitRange": _default_limit_range,
    "NetworkPolicy": _default_network_policy,
    "HorizontalPodAutoscaler": _default_hpa,
}

# What a new object's status is, whatever the client sent (the controllers' to fill).
_INITIAL_STATUS: dict[str, Callable[[], dict[str, Any]]] = {
    "PersistentVolumeClaim": lambda: {"phase": "Pending"},
    "PersistentVolume": lambda: {"phase": "Pending"},
    "ResourceQuota": dict,
    "PodDisruptionBudget": lambda: {
        "disruptionsAllowed": 0,
        "currentHealthy": 0,
        "desiredHealthy": 0,
        "expectedPods": 0,
    },
    "Ingress": lambda: {"loadBalancer": {}},
    "HorizontalPodAutoscaler": lambda: {"desiredReplicas": 0},
    "APIService": dict,
}


def apply_defaults_ext(info: ResourceInfo, obj: dict[str, Any]) -> None:
    defaulter = _DEFAULTERS.get(info.kind)
    if defaulter is not None:
        defaulter(obj)


def initial_status_ext(info: ResourceInfo, obj: dict[str, Any]) -> None:
    make = _INITIAL_STATUS.get(info.kind)
    if make is not None:
        obj["status"] = make()
