"""A Pod's state read from its wire dict: phase, conditions, readiness, IPs, node. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from knet.api.objects import condition, is_deleting
from knet.api.times import parse_time_or_none

PENDING, RUNNING, UNKNOWN = "Pending", "Running", "Unknown"
SUCCEEDED, FAILED = "Succeeded", "Failed"


def phase(pod: Mapping[str, Any]) -> str:
    status = pod.get("status")
    value = status.get("phase") if isinstance(status, Mapping) else None
    return value if isinstance(value, str) and value else PENDING


def is_active(pod: Mapping[str, Any]) -> bool:
    """Counts towards its controller's replicas: not finished and not being deleted."""
    return phase(pod) not in (SUCCEEDED, FAILED) and not is_deleting(pod)


def is_ready(pod: Mapping[str, Any]) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def ready_since(pod: Mapping[str, Any]) -> datetime | None:
    c = condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    return parse_time_or_none(c.get("lastTransitionTime"))


def is_available(pod: Mapping[str, Any], min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least `min_ready_seconds` (upstream's IsPodAvailable)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and (now - since).total_seconds() >= min_ready_seconds


def pod_ips(pod: Mapping[str, Any]) -> list[str]:
    status = pod.get("status")
    if not isinstance(status, Mapping):
        return []
    ips = [p.get("ip") for p in status.get("podIPs") or [] if isinstance(p, Mapping)]
    out = [ip for ip in ips if isinstance(ip, str) and ip]
    if not out and isinstance(status.get("podIP"), str) and status["podIP"]:
        out = [status["podIP"]]
    return out


def node_name(pod: Mapping[str, Any]) -> str:
    spec = pod.get("spec")
    value = spec.get("nodeName") if isinstance(spec, Mapping) else None
    return value if isinstance(value, str) else ""


def restart_count(pod: Mapping[str, Any]) -> int:
    status = pod.get("status")
    statuses = status.get("containerStatuses") if isinstance(status, Mapping) else None
    total = 0
    for cs in statuses if isinstance(statuses, list) else []:
        if isinstance(cs, Mapping) and isinstance(cs.get("restartCount"), int):
            total += cs["restartCount"]
    return total
