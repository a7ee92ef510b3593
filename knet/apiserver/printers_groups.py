"""Table printers for policy/v1 PodDisruptionBudget, networking.k8s.io/v1 Ingress, IngressClass
and NetworkPolicy, autoscaling/v2 HorizontalPodAutoscaler and apiregistration.k8s.io/v1
APIService, as kube-apiserver 1.32 prints them.

printers.py registers them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from knet.api.selectors import format_label_selector
from knet.apiserver.printcells import (
    _AGE_DESC,
    _NAME_DESC,
    NONE,
    UNKNOWN,
    UNSET,
    _col,
    _dict,
    _dicts,
    _get,
    _int,
    _or_none,
    _since,
    _str,
)


def _int_or_str(value: Any) -> str:
    if isinstance(value, bool):
        return "N/A"
    if isinstance(value, int | str):
        return str(value)
    return "N/A"


def _pdb_cells(pdb: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec = _dict(pdb.get("metadata")), _dict(pdb.get("spec"))
    return [
        _str(meta.get("name")),
        _int_or_str(spec.get("minAvailable")),
        _int_or_str(spec.get("maxUnavailable")),
        _int(_get(pdb, "status", "disruptionsAllowed")),
        _since(meta.get("creationTimestamp"), now),
    ]


def _ingress_hosts(spec: dict[str, Any]) -> str:
    hosts = [_str(rule.get("host")) for rule in _dicts(spec.get("rules"))]
    hosts = [h for h in hosts if h]
    if not hosts:
        return "*"
    shown = ",".join(hosts[:3])
    return shown + (f" + {len(hosts) - 3} more..." if len(hosts) > 3 else "")


def _load_balancer_address(status: dict[str, Any]) -> str:
    points = []
    for ing in _dicts(_get(status, "loadBalancer", "ingress")):
        points.append(_str(ing.get("ip")) or _str(ing.get("hostname")))
    return ",".join(p for p in points if p)


def _ingress_cells(ing: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec = _dict(ing.get("metadata")), _dict(ing.get("spec"))
    klass = _str(spec.get("ingressClassName"))
    if not klass:
        annotations = _dict(meta.get("annotations"))
        klass = _str(annotations.get("kubernetes.io/ingress.class"))
    return [
        _str(meta.get("name")),
        klass or NONE,
        _ingress_hosts(spec),
        _load_balancer_address(_dict(ing.get("status"))),
        "80, 443" if _dicts(spec.get("tls")) else "80",
        _since(meta.get("creationTimestamp"), now),
    ]


def _ingressclass_cells(ic: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec = _dict(ic.get("metadata")), _dict(ic.get("spec"))
    params = _dict(spec.get("parameters"))
    text = NONE
    if params:
        group = _str(params.get("apiGroup"))
        kind = _str(params.get("kind"))
        kind = f"{kind}.{group}" if group else kind
        text = f"{kind}/{_str(params.get('name'))}"
    return [
        _str(meta.get("name")),
        _str(spec.get("controller")),
        text,
        _since(meta.get("creationTimestamp"), now),
    ]


def _netpol_cells(np: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(np.get("metadata"))
    return [
        _str(meta.get("name")),
        format_label_selector(_dict(_get(np, "spec", "podSelector"))),
        _since(meta.get("creationTimestamp"), now),
    ]


def _metric_target(metric: dict[str, Any], current: dict[str, Any] | None) -> str:
    """One metric as `<current>/<target>`; only Resource metrics have names worth printing."""
    kind = _str(metric.get("type"))
    spec = _dict(metric.get(kind[:1].lower() + kind[1:])) if kind else {}
    target = _dict(spec.get("target"))
    name = _str(spec.get("name"))
    if "averageUtilization" in target:
        now_value = _get(current, "resource", "current", "averageUtilization")
        shown = f"{now_value}%" if isinstance(now_value, int) else UNKNOWN
        text = f"{shown}/{_int(target.get('averageUtilization'))}%"
    else:
        goal = target.get("averageValue", target.get("value"))
        text = f"{UNKNOWN}/{goal}" if goal is not None else UNKNOWN
    return f"{name}: {text}" if kind in ("Resource", "ContainerResource") and name else text


def _hpa_targets(spec: dict[str, Any], status: dict[str, Any]) -> str:
    metrics = _dicts(spec.get("metrics"))
    if not metrics:
        return NONE
    currents = _dicts(status.get("currentMetrics"))
    texts = [
        _metric_target(m, currents[i] if i < len(currents) else None) for i, m in enumerate(metrics)
    ]
    shown = ", ".join(texts[:3])
    return shown + (f" + {len(texts) - 3} more..." if len(texts) > 3 else "")


def _hpa_cells(hpa: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, status = (_dict(hpa.get(k)) for k in ("metadata", "spec", "status"))
    ref = _dict(spec.get("scaleTargetRef"))
    min_replicas = spec.get("minReplicas")
    return [
        _str(meta.get("name")),
        f"{_str(ref.get('kind'))}/{_str(ref.get('name'))}",
        _hpa_targets(spec, status),
        str(min_replicas) if isinstance(min_replicas, int) else UNSET,
        _int(spec.get("maxReplicas")),
        _int(status.get("currentReplicas")),
        _since(meta.get("creationTimestamp"), now),
    ]


def _apiservice_cells(svc: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec = _dict(svc.get("metadata")), _dict(svc.get("spec"))
    ref = _dict(spec.get("service"))
    service = f"{_str(ref.get('namespace'))}/{_str(ref.get('name'))}" if ref else "Local"
    available = "Unknown"
    for cond in _dicts(_get(svc, "status", "conditions")):
        if cond.get("type") == "Available":
            available = _str(cond.get("status"))
            if available != "True" and cond.get("reason"):
                available = f"{available} ({_str(cond.get('reason'))})"
    return [
        _str(meta.get("name")),
        service,
        _or_none(available),
        _since(meta.get("creationTimestamp"), now),
    ]


COLUMNS: Final[dict[str, tuple[dict[str, Any], ...]]] = {
    "poddisruptionbudgets": (
        _col("Name", _NAME_DESC),
        _col("Min Available", "Pods that must stay available."),
        _col("Max Unavailable", "Pods that may be unavailable."),
        _col("Allowed Disruptions", "Evictions allowed now.", type_="integer"),
        _col("Age", _AGE_DESC),
    ),
    "ingresses": (
        _col("Name", _NAME_DESC),
        _col("Class", "Ingress class of the ingress."),
        _col("Hosts", "Hosts the ingress answers for."),
        _col("Address", "Load-balancer addresses of the ingress."),
        _col("Ports", "Ports the ingress answers on."),
        _col("Age", _AGE_DESC),
    ),
    "ingressclasses": (
        _col("Name", _NAME_DESC),
        _col("Controller", "Controller that implements the class."),
        _col("Parameters", "Object holding the class's parameters."),
        _col("Age", _AGE_DESC),
    ),
    "networkpolicies": (
        _col("Name", _NAME_DESC),
        _col("Pod-Selector", "Pods the policy applies to."),
        _col("Age", _AGE_DESC),
    ),
    "horizontalpodautoscalers": (
        _col("Name", _NAME_DESC),
        _col("Reference", "The scaled object."),
        _col("Targets", "Current and target value of each metric."),
        _col("MinPods", "Lowest replica count.", type_="integer"),
        _col("MaxPods", "Highest replica count.", type_="integer"),
        _col("Replicas", "Current replica count.", type_="integer"),
        _col("Age", _AGE_DESC),
    ),
    "apiservices": (
        _col("Name", _NAME_DESC),
        _col("Service", "Service that serves the API, or Local."),
        _col("Available", "Whether the API is available."),
        _col("Age", _AGE_DESC),
    ),
}

PRINTERS: Final[dict[str, Callable[[dict[str, Any], datetime], list[Any]]]] = {
    "poddisruptionbudgets": _pdb_cells,
    "ingresses": _ingress_cells,
    "ingressclasses": _ingressclass_cells,
    "networkpolicies": _netpol_cells,
    "horizontalpodautoscalers": _hpa_cells,
    "apiservices": _apiservice_cells,
}
