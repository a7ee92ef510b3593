"""Filters: can this pod run on this node? Each returns the reasons it cannot (empty: it can),
in the words upstream's plugins use, which end up in the FailedScheduling summary. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from knet.api.taints import (
    NO_EXECUTE,
    NO_SCHEDULE,
    NOT_READY,
    UNREACHABLE,
    UNSCHEDULABLE,
    first_untolerated,
    tolerated,
)
from knet.scheduler.nodeinfo import ANY_IP, NodeInfo, PodInfo

UNSCHEDULABLE_REASON = "node(s) were unschedulable"
AFFINITY_REASON = "node(s) didn't match Pod's node affinity/selector"
PORTS_REASON = "node(s) didn't have free ports for the requested pod ports"


def taint_reason(taint: Mapping[str, Any]) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"


def node_unschedulable(pod: PodInfo, node: NodeInfo) -> list[str]:
    if node.unschedulable and not tolerated(
        pod.tolerations, {"key": UNSCHEDULABLE, "effect": NO_SCHEDULE}
    ):
        return [UNSCHEDULABLE_REASON]
    return []


def node_ready(pod: PodInfo, node: NodeInfo) -> list[str]:
    """A node whose Ready condition is not True takes no pods, unless the pod tolerates the
    taint node lifecycle puts on such a node (this holds before that taint is written, too)."""
    if node.ready == "True":
        return []
    taint = {"key": NOT_READY if node.ready == "False" else UNREACHABLE, "effect": NO_SCHEDULE}
    return [] if tolerated(pod.tolerations, taint) else [taint_reason(taint)]


def taint_toleration(pod: PodInfo, node: NodeInfo) -> list[str]:
    taint = first_untolerated(node.taints, pod.tolerations, (NO_SCHEDULE, NO_EXECUTE))
    return [] if taint is None else [taint_reason(taint)]


def _parse_int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else None


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = expr.get("key")
    op = expr.get("operator")
    values = [v for v in expr.get("values") or [] if isinstance(v, str)]
    if not isinstance(key, str):
        return False
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and len(values) == 1 and key in labels:
        have, want = _parse_int(labels[key]), _parse_int(values[0])
        if have is None or want is None:
            return False
        return have > want if op == "Gt" else have < want
    return False


def term_matches(term: Mapping[str, Any], node: NodeInfo) -> bool:
    """A nodeSelectorTerm: all its expressions (labels) and fields (metadata.name) hold. An
    empty term matches nothing, as upstream."""
    exprs = [e for e in term.get("matchExpressions") or [] if isinstance(e, Mapping)]
    fields = [e for e in term.get("matchFields") or [] if isinstance(e, Mapping)]
    if not exprs and not fields:
        return False
    if not all(_expression_matches(e, node.labels) for e in exprs):
        return False
    field_values = {"metadata.name": node.name}
    return all(_expression_matches(e, field_values) for e in fields)


def node_affinity(pod: PodInfo, node: NodeInfo) -> list[str]:
    if any(node.labels.get(k) != v for k, v in pod.node_selector.items()):
        return [AFFINITY_REASON]
    if pod.affinity_terms is not None and not any(
        term_matches(t, node) for t in pod.affinity_terms
    ):
        return [AFFINITY_REASON]
    return []


def node_ports(pod: PodInfo, node: NodeInfo) -> list[str]:
    for ip, protocol, port in pod.host_ports:
        for used_ip, used_protocol, used_port in node.ports:
            if used_port != port or used_protocol != protocol:
                continue
            if ip in (ANY_IP, used_ip) or used_ip == ANY_IP:
                return [PORTS_REASON]
    return []


def resources_fit(pod: PodInfo, node: NodeInfo) -> list[str]:
    reasons = []
    if len(node.pods) + 1 > node.alloc_pods:
        reasons.append("Too many pods")
    if pod.cpu and node.cpu + pod.cpu > node.alloc_cpu:
        reasons.append("Insufficient cpu")
    if pod.memory and node.memory + pod.memory > node.alloc_memory:
        reasons.append("Insufficient memory")
    return reasons


Filter = Callable[[PodInfo, NodeInfo], list[str]]
# Upstream's order; the first filter that fails gives the node's reasons.
FILTERS: tuple[Filter, ...] = (
    node_unschedulable,
    node_ready,
    taint_toleration,
    node_affinity,
    node_ports,
    resources_fit,
)


def run_filters(pod: PodInfo, node: NodeInfo) -> list[str]:
    for check in FILTERS:
        reasons = check(pod, node)
        if reasons:
            return reasons
    return []


def fit_error(num_nodes: int, reasons: Mapping[str, int]) -> str:
    """The FailedScheduling message, as upstream's FitError words it."""
    if num_nodes == 0:
        return "no nodes available to schedule pods"
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    return f"0/{num_nodes} nodes are available: {', '.join(parts)}."
