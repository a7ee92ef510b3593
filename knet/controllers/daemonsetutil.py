"""Pure decisions of the DaemonSet controller: which nodes should run the daemon pod (node
selector, required node affinity, taints against the pod's and the default DaemonSet
tolerations), the pod for a node, the rolling update's deletions and surges, and the status."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from knet.api.objects import Obj, is_deleting, labels_of, meta, name_of
from knet.api.pods import FAILED, SUCCEEDED, is_available, is_ready, phase
from knet.api.taints import NO_EXECUTE, NO_SCHEDULE, first_untolerated, node_taints
from knet.controllers.deploymentutil import scaled_value
from knet.controllers.history import REVISION_HASH_LABEL, pod_revision_hash
from knet.controllers.replicaset import pod_from_template

DS_API_VERSION, DS_KIND = "apps/v1", "DaemonSet"
TEMPLATE_GENERATION_LABEL = "pod-template-generation"

# What every DaemonSet pod tolerates (upstream's AddOrUpdateDaemonPodTolerations): it must run
# on nodes that are not ready, unreachable, under pressure or cordoned.
_DEFAULT_TOLERATIONS: tuple[Obj, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
_HOST_NETWORK_TOLERATION: Obj = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}


def _pod_spec(ds: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}


def daemon_tolerations(ds: Mapping[str, Any]) -> list[Obj]:
    spec = _pod_spec(ds)
    own = [dict(t) for t in spec.get("tolerations") or [] if isinstance(t, dict)]
    extra = list(_DEFAULT_TOLERATIONS)
    if spec.get("hostNetwork"):
        extra.append(_HOST_NETWORK_TOLERATION)
    return own + [t for t in extra if t not in own]


# ---------------------------------------------------------------------------- node eligibility


def _expression(expr: Mapping[str, Any], values_of: Mapping[str, str]) -> bool:
    key, op = expr.get("key"), expr.get("operator")
    values = [v for v in expr.get("values") or [] if isinstance(v, str)]
    have = values_of.get(key) if isinstance(key, str) else None
    if op == "In":
        return have is not None and have in values
    if op == "NotIn":
        return have is None or have not in values
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt") and have is not None and len(values) == 1:
        if not (re.fullmatch(r"-?\d+", have) and re.fullmatch(r"-?\d+", values[0])):
            return False
        return int(have) > int(values[0]) if op == "Gt" else int(have) < int(values[0])
    return False


def _term(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term matches nothing
    labels = labels_of(node)
    names = {"metadata.name": name_of(node)}
    return all(_expression(e, labels) for e in exprs) and all(_expression(f, names) for f in fields)


def _required_terms(spec: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms")
    return list(terms) if isinstance(terms, list) else None


def should_run(ds: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """Whether the daemon pod belongs on `node` (upstream's NodeShouldRunDaemonPod)."""
    spec = _pod_spec(ds)
    labels = labels_of(node)
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    terms = _required_terms(spec)
    if terms is not None and not any(_term(t, node) for t in terms):
        return False
    taint = first_untolerated(node_taints(node), daemon_tolerations(ds), (NO_SCHEDULE, NO_EXECUTE))
    return taint is None


# ---------------------------------------------------------------------------- pods


def daemon_pod(ds: Mapping[str, Any], node_name: str, revision_hash: str) -> Obj:
    """The pod for one node: pinned by required node affinity on metadata.name (the scheduler
    binds it), with the default tolerations and the revision's hash label."""
    pod = pod_from_template(ds, DS_API_VERSION, DS_KIND)
    labels = pod["metadata"]["labels"]
    labels[REVISION_HASH_LABEL] = revision_hash
    labels[TEMPLATE_GENERATION_LABEL] = str(meta(ds).get("generation") or 1)
    spec = pod["spec"]
    spec["tolerations"] = daemon_tolerations(ds)
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    pin = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    # Each term keeps its own expressions; the node's name is required in all of them.
    new_terms = [
        {**t, "matchFields": pin["matchFields"]} for t in terms if isinstance(t, dict)
    ] or [pin]
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": new_terms
    }
    return pod


def pod_node(pod: Mapping[str, Any]) -> str:
    """The node a daemon pod is for: its nodeName, or the name its affinity pins."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    for term in _required_terms(spec) or []:
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("operator") == "In":
                values = f.get("values") or []
                if len(values) == 1:
                    return str(values[0])
    return ""


def is_updated(pod: Mapping[str, Any], current_hash: str) -> bool:
    return pod_revision_hash(pod) == current_hash


@dataclass(frozen=True)
class NodePlan:
    create: list[str] = field(default_factory=list)  # nodes needing a pod
    delete: list[Obj] = field(default_factory=list)  # pods to delete


def plan_nodes(eligible: Sequence[str], pods_by_node: Mapping[str, Sequence[Obj]]) -> NodePlan:
    """Pods for eligible nodes that lack one; none on other nodes; failed pods replaced; one
    pod per node (the extra newest go)."""
    wanted = set(eligible)
    out = NodePlan()
    for node in eligible:
        pods = [p for p in pods_by_node.get(node, []) if not is_deleting(p)]
        failed = [p for p in pods if phase(p) in (FAILED, SUCCEEDED)]
        running = [p for p in pods if p not in failed]
        out.delete.extend(failed)
        if not running:
            out.create.append(node)  # a pod still terminating here does not hold it back
            continue
        running.sort(key=lambda p: str(meta(p).get("creationTimestamp") or ""))
        out.delete.extend(running[1:])
    for node, on_node in pods_by_node.items():
        if node not in wanted:
            out.delete.extend(p for p in on_node if not is_deleting(p))
    return out


def rolling_update(
    ds: Mapping[str, Any],
    eligible: Sequence[str],
    pods_by_node: Mapping[str, Sequence[Obj]],
    current_hash: str,
    now: datetime,
) -> NodePlan:
    """One step of the rolling update (upstream's rollingUpdate): with maxSurge 0, delete old
    pods while at most maxUnavailable nodes lack an available pod; with maxSurge, start a new
    pod beside an old available one (at most maxSurge at a time) and delete the old one once
    the new one is available. Old pods that are not available go at once."""
    spec = ds.get("spec") or {}
    ru = ((spec.get("updateStrategy") or {}).get("rollingUpdate")) or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    desired = len(eligible)
    max_surge = scaled_value(ru.get("maxSurge", 0), desired, round_up=True)
    max_unavailable = scaled_value(ru.get("maxUnavailable", 1), desired, round_up=True)
    if max_surge == 0 and max_unavailable == 0:
        max_unavailable = 1
    out = NodePlan()
    unavailable = 0
    candidates: list[Obj] = []  # old available pods
    surging = 0
    for node in eligible:
        pods = [p for p in pods_by_node.get(node, []) if not is_deleting(p)]
        old = [p for p in pods if not is_updated(p, current_hash)]
        new = [p for p in pods if is_updated(p, current_hash)]
        new_ok = any(is_available(p, min_ready, now) for p in new)
        old_ok = [p for p in old if is_available(p, min_ready, now)]
        if not old:
            unavailable += 0 if new_ok else 1
            continue
        if not old_ok:
            out.delete.extend(old)  # already unavailable: replace at once
            unavailable += 0 if new_ok else 1
            continue
        if max_surge > 0:
            if new_ok:
                out.delete.extend(old)
            elif new:
                surging += 1
            else:
                candidates.append(old_ok[0])
        else:
            candidates.append(old_ok[0])
    if max_surge > 0:
        room = max(0, max_surge - surging)
        out.create.extend(pod_node(p) for p in candidates[:room])
    else:
        room = max(0, max_unavailable - unavailable)
        out.delete.extend(candidates[:room])
    return out


# ---------------------------------------------------------------------------- status


def daemon_status(
    ds: Mapping[str, Any],
    eligible: Sequence[str],
    pods_by_node: Mapping[str, Sequence[Obj]],
    current_hash: str,
    now: datetime,
) -> Obj:
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    wanted = set(eligible)
    scheduled = ready = available = updated = misscheduled = 0
    for node, pods in pods_by_node.items():
        live = [p for p in pods if not is_deleting(p)]
        if not live:
            continue
        if node not in wanted:
            misscheduled += 1
            continue
        scheduled += 1
        if any(is_ready(p) for p in live):
            ready += 1
        if any(is_available(p, min_ready, now) for p in live):
            available += 1
        if any(is_updated(p, current_hash) for p in live):
            updated += 1
    status: Obj = {
        "currentNumberScheduled": scheduled,
        "numberMisscheduled": misscheduled,
        "desiredNumberScheduled": len(eligible),
        "numberReady": ready,
        "observedGeneration": meta(ds).get("generation") or 1,
        "updatedNumberScheduled": updated,
        "numberAvailable": available,
    }
    if len(eligible) - available > 0:
        status["numberUnavailable"] = len(eligible) - available
    collision = (ds.get("status") or {}).get("collisionCount")
    if collision:
        status["collisionCount"] = collision
    return status
