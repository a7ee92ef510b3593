"""Facts about pods and owner references that every loop needs. Pure functions over wire dicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from knet.api.times import parse_time_or_none

Obj = dict[str, Any]

PENDING, RUNNING, UNKNOWN = "Pending", "Running", "Unknown"
SUCCEEDED, FAILED = "Succeeded", "Failed"
_PHASE_RANK = {PENDING: 0, UNKNOWN: 1, RUNNING: 2}
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, Mapping) else {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("namespace") or "")


def uid_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("uid") or "")


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = meta(obj).get("labels")
    return dict(labels) if isinstance(labels, Mapping) else {}


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


# ---------------------------------------------------------------------------- owner references


def owner_refs(obj: Mapping[str, Any]) -> list[Obj]:
    refs = meta(obj).get("ownerReferences")
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


def controller_ref(obj: Mapping[str, Any]) -> Obj | None:
    for ref in owner_refs(obj):
        if ref.get("controller") is True:
            return ref
    return None


def owner_uid_index(obj: Obj) -> list[str]:
    """Index function: an object is filed under the uid of every owner it names."""
    return [str(r["uid"]) for r in owner_refs(obj) if r.get("uid")]


def controller_uid_index(obj: Obj) -> list[str]:
    ref = controller_ref(obj)
    return [str(ref["uid"])] if ref and ref.get("uid") else []


def make_controller_ref(owner: Mapping[str, Any], api_version: str, kind: str) -> Obj:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


# ---------------------------------------------------------------------------- pod state


def phase(pod: Mapping[str, Any]) -> str:
    status = pod.get("status")
    value = status.get("phase") if isinstance(status, Mapping) else None
    return value if isinstance(value, str) and value else PENDING


def is_active(pod: Mapping[str, Any]) -> bool:
    """Counts towards its controller's replicas: not finished and not being deleted."""
    return phase(pod) not in (SUCCEEDED, FAILED) and not is_deleting(pod)


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    status = obj.get("status")
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    for c in conditions if isinstance(conditions, list) else []:
        if isinstance(c, Mapping) and c.get("type") == kind:
            return c
    return None


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
