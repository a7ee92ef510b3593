"""Server-side Table printing (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``).

kubectl 1.32 has no client-side printers for built-in types: ``kubectl get`` prints the cells of
the Table the server returns, upper-cases the column names and shows ``priority > 0`` columns only
with ``-o wide``. So the columns and cell formatting below follow kube-apiserver 1.32's printers
(pkg/printers/internalversion), re-expressed over plain wire dicts.

Like kube-apiserver, every row carries the wide cells too (the server always prints "wide"; the
client decides what to show). Objects are read defensively: a missing or malformed field renders
as upstream's placeholder (``<none>``, ``<unknown>``, ``<unset>`` ...) instead of raising, because a
printer must be able to show whatever is stored. Where kube-apiserver would have applied v1
defaulting when decoding from storage (service type, port protocol, replicas, namespace phase),
the same default is assumed here so sparse stored objects print as they would upstream.

Everything here is pure: no clock reads (``now`` is passed in) and no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final

from knet.api.selectors import (
    SelectorError,
    format_label_selector,
    format_labels,
    label_selector_string,
)
from knet.api.times import parse_time_or_none
from knet.apiserver import printers_core_ext, printers_groups
from knet.apiserver.printcells import (
    _AGE_DESC,
    _CONTAINERS_DESC,
    _IMAGES_DESC,
    _NAME_DESC,
    NONE,
    UNKNOWN,
    UNSET,
    _aware,
    _col,
    _containers_cells,
    _created_at,
    _dict,
    _dicts,
    _get,
    _int,
    _list,
    _or_none,
    _since,
    _str,
    human_duration,
)

__all__ = [
    "build_table",
    "column_definitions",
    "human_duration",
    "row_cells",
]


INCLUDE_OBJECT_POLICIES: Final = ("Metadata", "Object", "None")

_LIST_MAX: Final = 3  # upstream lists at most three endpoints/ports, then "+ N more..."
_NODE_ROLE_PREFIX: Final = "node-role.kubernetes.io/"
_NODE_ROLE_LABEL: Final = "kubernetes.io/role"
_NODE_UNREACHABLE_POD_REASON: Final = "NodeLost"


_COLUMNS: Final[dict[str, tuple[dict[str, Any], ...]]] = {
    "pods": (
        _col("Name", _NAME_DESC),
        _col("Ready", "Ready containers over all containers."),
        _col("Status", "Aggregate status of the pod and its containers."),
        _col("Restarts", "Container restarts, and how long ago the last one ended."),
        _col("Age", _AGE_DESC),
        _col("IP", "First IP address of the pod.", priority=1),
        _col("Node", "Node the pod is bound to.", priority=1),
        _col("Nominated Node", "Node nominated by the scheduler for preemption.", priority=1),
        _col("Readiness Gates", "Readiness gates whose conditions are True.", priority=1),
    ),
    "services": (
        _col("Name", _NAME_DESC),
        _col("Type", "How the service is exposed."),
        _col("Cluster-IP", "Virtual IP of the service inside the cluster."),
        _col("External-IP", "External IPs or load-balancer ingress points."),
        _col("Port(s)", "Service ports, with node ports where allocated."),
        _col("Age", _AGE_DESC),
        _col("Selector", "Labels of the pods that back the service.", priority=1),
    ),
    "endpoints": (
        _col("Name", _NAME_DESC),
        _col("Endpoints", "Ready addresses and ports of the service."),
        _col("Age", _AGE_DESC),
    ),
    "endpointslices": (
        _col("Name", _NAME_DESC),
        _col("AddressType", "Address family of the endpoints."),
        _col("Ports", "Port numbers exposed by the endpoints."),
        _col("Endpoints", "Addresses of the endpoints."),
        _col("Age", _AGE_DESC),
    ),
    "deployments": (
        _col("Name", _NAME_DESC),
        _col("Ready", "Ready pods over desired pods."),
        _col("Up-to-date", "Pods running the latest pod template."),
        _col("Available", "Pods available to serve."),
        _col("Age", _AGE_DESC),
        _col("Containers", _CONTAINERS_DESC, priority=1),
        _col("Images", _IMAGES_DESC, priority=1),
        _col("Selector", "Label selector of the deployment's pods.", priority=1),
    ),
    "replicasets": (
        _col("Name", _NAME_DESC),
        _col("Desired", "Desired number of pods.", type_="integer"),
        _col("Current", "Pods currently created.", type_="integer"),
        _col("Ready", "Pods that are ready.", type_="integer"),
        _col("Age", _AGE_DESC),
        _col("Containers", _CONTAINERS_DESC, priority=1),
        _col("Images", _IMAGES_DESC, priority=1),
        _col("Selector", "Label selector of the replica set's pods.", priority=1),
    ),
    "nodes": (
        _col("Name", _NAME_DESC),
        _col("Status", "Readiness of the node and whether it takes new pods."),
        _col("Roles", "Roles taken from node-role labels."),
        _col("Age", _AGE_DESC),
        _col("Version", "Kubelet version reported by the node."),
        _col("Internal-IP", "First InternalIP address of the node.", priority=1),
        _col("External-IP", "First ExternalIP address of the node.", priority=1),
        _col("OS-Image", "Operating system image reported by the node.", priority=1),
        _col("Kernel-Version", "Kernel version reported by the node.", priority=1),
        _col("Container-Runtime", "Container runtime reported by the node.", priority=1),
    ),
    "namespaces": (
        _col("Name", _NAME_DESC),
        _col("Status", "Lifecycle phase of the namespace."),
        _col("Age", _AGE_DESC),
    ),
    "events": (
        _col("Last Seen", "Time since the event was last observed."),
        _col("Type", "Type of the event (Normal, Warning)."),
        _col("Reason", "Short machine-readable reason."),
        _col("Object", "Object the event is about."),
        _col("Subobject", "Part of the object the event is about.", priority=1),
        _col("Source", "Component (and host) that reported the event.", priority=1),
        _col("Message", "Human-readable description."),
        _col("First Seen", "Time since the event was first observed.", priority=1),
        _col("Count", "How many times the event occurred.", priority=1),
        _col("Name", _NAME_DESC, priority=1),
    ),
    "leases": (
        _col("Name", _NAME_DESC),
        _col("Holder", "Identity of the current holder."),
        _col("Age", _AGE_DESC),
    ),
    "configmaps": (
        _col("Name", _NAME_DESC),
        _col("Data", "Number of keys in data and binaryData."),
        _col("Age", _AGE_DESC),
    ),
    "secrets": (
        _col("Name", _NAME_DESC),
        _col("Type", "Type of the secret's data (Opaque, kubernetes.io/tls, ...)."),
        _col("Data", "Number of keys in data."),
        _col("Age", _AGE_DESC),
    ),
}

_DEFAULT_COLUMNS: Final = (
    _col("Name", _NAME_DESC),
    _col("Created At", "Creation time of the object.", type_="date"),
)


def column_definitions(resource: str) -> list[dict[str, Any]]:
    """The Table column definitions for a resource (plural, e.g. ``"pods"``).

    Resources without a dedicated printer get kube-apiserver's default: Name, Created At.
    Returns fresh dicts, so callers may mutate them.
    """
    return [dict(col) for col in _COLUMNS.get(resource, _DEFAULT_COLUMNS)]


# --------------------------------------------------------------------------------------------
# pods


def _is_restartable_init(container: dict[str, Any] | None) -> bool:
    """A sidecar: an init container with restartPolicy Always."""
    return container is not None and container.get("restartPolicy") == "Always"


def _condition_true(conditions: list[dict[str, Any]], ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in conditions)


def _first_condition_true(conditions: list[dict[str, Any]], ctype: str) -> bool:
    # upstream's isPodInitializedConditionTrue looks at the first matching condition only
    for cond in conditions:
        if cond.get("type") == ctype:
            return bool(cond.get("status") == "True")
    return False


def _terminated_reason(terminated: dict[str, Any], prefix: str) -> str:
    reason = _str(terminated.get("reason"))
    if reason:
        return prefix + reason
    signal = _int(terminated.get("signal"))
    if signal != 0:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{_int(terminated.get('exitCode'))}"


class _PodSummary:
    """Accumulates the Ready/Status/Restarts cells the way upstream's printPod walks a pod."""

    def __init__(self, pod: dict[str, Any]) -> None:
        self.spec = _dict(pod.get("spec"))
        self.status = _dict(pod.get("status"))
        self.conditions = _dicts(self.status.get("conditions"))
        self.phase = _str(self.status.get("phase"))
        self.reason = _str(self.status.get("reason")) or self.phase
        self.total = len(_list(self.spec.get("containers")))
        self.ready = 0
        self.restarts = 0
        self.last_restart: datetime | None = None
        self.init_specs = {_str(c.get("name")): c for c in _dicts(self.spec.get("initContainers"))}
        self.total += sum(
            1 for c in _dicts(self.spec.get("initContainers")) if _is_restartable_init(c)
        )

    @staticmethod
    def _later(current: datetime | None, status: dict[str, Any]) -> datetime | None:
        finished = parse_time_or_none(_get(status, "lastState", "terminated", "finishedAt"))
        if finished is not None and (current is None or finished > current):
            return finished
        return current

    def walk_init_containers(self) -> tuple[bool, int, datetime | None]:
        """Returns (initializing, sidecar restarts, last sidecar restart)."""
        sidecar_restarts = 0
        sidecar_last: datetime | None = None
        n_init = len(_list(self.spec.get("initContainers")))
        for index, cstatus in enumerate(_dicts(self.status.get("initContainerStatuses"))):
            count = _int(cstatus.get("restartCount"))
            self.restarts += count
            self.last_restart = self._later(self.last_restart, cstatus)
            sidecar = _is_restartable_init(self.init_specs.get(_str(cstatus.get("name"))))
            if sidecar:
                sidecar_restarts += count
                sidecar_last = self._later(sidecar_last, cstatus)
            state = _dict(cstatus.get("state"))
            terminated = state.get("terminated")
            waiting_reason = _str(_get(state, "waiting", "reason"))
            if isinstance(terminated, dict) and _int(terminated.get("exitCode")) == 0:
                continue
            if sidecar and cstatus.get("started") is True:
                if cstatus.get("ready") is True:
                    self.ready += 1
                continue
            if isinstance(terminated, dict):
                self.reason = _terminated_reason(terminated, "Init:")
            elif waiting_reason and waiting_reason != "PodInitializing":
                self.reason = "Init:" + waiting_reason
            else:
                self.reason = f"Init:{index}/{n_init}"
            return True, sidecar_restarts, sidecar_last
        return False, sidecar_restarts, sidecar_last

    def walk_containers(self, sidecar_restarts: int, sidecar_last: datetime | None) -> None:
        self.restarts = sidecar_restarts
        self.last_restart = sidecar_last
        has_running = False
        # upstream walks backwards, so the first container's state decides the reason
        for cstatus in reversed(_dicts(self.status.get("containerStatuses"))):
            self.restarts += _int(cstatus.get("restartCount"))
            self.last_restart = self._later(self.last_restart, cstatus)
            state = _dict(cstatus.get("state"))
            waiting_reason = _str(_get(state, "waiting", "reason"))
            terminated = state.get("terminated")
            if waiting_reason:
                self.reason = waiting_reason
            elif isinstance(terminated, dict):
                self.reason = _terminated_reason(terminated, "")
            elif cstatus.get("ready") is True and isinstance(state.get("running"), dict):
                has_running = True
                self.ready += 1
        if self.reason == "Completed" and has_running:
            ready = _condition_true(self.conditions, "Ready")
            self.reason = "Running" if ready else "NotReady"


def _pod_status_reason(pod: dict[str, Any], summary: _PodSummary) -> None:
    for cond in summary.conditions:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            summary.reason = "SchedulingGated"
    initializing, sidecar_restarts, sidecar_last = summary.walk_init_containers()
    if not initializing or _first_condition_true(summary.conditions, "Initialized"):
        summary.walk_containers(sidecar_restarts, sidecar_last)
    if _get(pod, "metadata", "deletionTimestamp") is not None:
        if summary.status.get("reason") == _NODE_UNREACHABLE_POD_REASON:
            summary.reason = "Unknown"
        elif summary.phase not in ("Succeeded", "Failed"):
            summary.reason = "Terminating"


def _readiness_gates(spec: dict[str, Any], conditions: list[dict[str, Any]]) -> str:
    gates = _dicts(spec.get("readinessGates"))
    if not gates:
        return NONE
    true_count = 0
    for gate in gates:
        for cond in conditions:
            if cond.get("type") == gate.get("conditionType"):
                true_count += cond.get("status") == "True"
                break
    return f"{true_count}/{len(gates)}"


def _pod_ip(status: dict[str, Any]) -> str:
    pod_ips = _dicts(status.get("podIPs"))
    # conversion from v1 fills podIPs from podIP, so a lone podIP counts too
    ip = _str(pod_ips[0].get("ip")) if pod_ips else _str(status.get("podIP"))
    return _or_none(ip)


def _pod_cells(pod: dict[str, Any], now: datetime) -> list[Any]:
    summary = _PodSummary(pod)
    _pod_status_reason(pod, summary)
    restarts = str(summary.restarts)
    if summary.restarts != 0 and summary.last_restart is not None:
        ago = human_duration((_aware(now) - summary.last_restart).total_seconds())
        restarts = f"{summary.restarts} ({ago} ago)"
    meta = _dict(pod.get("metadata"))
    return [
        _str(meta.get("name")),
        f"{summary.ready}/{summary.total}",
        summary.reason,
        restarts,
        _since(meta.get("creationTimestamp"), now),
        _pod_ip(summary.status),
        _or_none(_str(summary.spec.get("nodeName"))),
        _or_none(_str(summary.status.get("nominatedNodeName"))),
        _readiness_gates(summary.spec, summary.conditions),
    ]


# --------------------------------------------------------------------------------------------
# services, endpoints, endpoint slices


def _service_external_ip(spec: dict[str, Any], status: dict[str, Any], svc_type: str) -> str:
    external_ips = [_str(ip) for ip in _list(spec.get("externalIPs"))]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) if external_ips else NONE
    if svc_type == "LoadBalancer":
        ingress: set[str] = set()
        for point in _dicts(_get(status, "loadBalancer", "ingress")):
            address = _str(point.get("ip")) or _str(point.get("hostname"))
            if address:
                ingress.add(address)
        # the server prints "wide", so the ingress list is never clipped here
        combined = sorted(ingress) + external_ips
        return ",".join(combined) if combined else "<pending>"
    if svc_type == "ExternalName":
        return _str(spec.get("externalName"))
    return UNKNOWN


def _service_ports(spec: dict[str, Any]) -> str:
    pieces = []
    for port in _dicts(spec.get("ports")):
        protocol = _str(port.get("protocol")) or "TCP"  # v1 defaulting
        node_port = _int(port.get("nodePort"))
        number = _int(port.get("port"))
        pieces.append(
            f"{number}:{node_port}/{protocol}" if node_port > 0 else f"{number}/{protocol}"
        )
    return _or_none(",".join(pieces))


def _service_cells(svc: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(svc.get("metadata"))
    spec = _dict(svc.get("spec"))
    svc_type = _str(spec.get("type")) or "ClusterIP"  # v1 defaulting
    cluster_ips = _list(spec.get("clusterIPs"))
    cluster_ip = _str(cluster_ips[0]) if cluster_ips else _str(spec.get("clusterIP"))
    return [
        _str(meta.get("name")),
        svc_type,
        _or_none(cluster_ip),
        _service_external_ip(spec, _dict(svc.get("status")), svc_type),
        _service_ports(spec),
        _since(meta.get("creationTimestamp"), now),
        format_labels(_dict(spec.get("selector"))),
    ]


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _format_endpoints(subsets: list[dict[str, Any]]) -> str:
    if not subsets:
        return NONE
    shown: list[str] = []
    count = 0
    more = False
    for subset in subsets:
        addresses = [_str(a.get("ip")) for a in _dicts(subset.get("addresses"))]
        ports = _dicts(subset.get("ports"))
        # headless services have no ports: list bare addresses
        targets = [None] if not ports else [_int(p.get("port")) for p in ports]
        for port in targets:
            count += len(addresses)
            for ip in addresses:
                if len(shown) == _LIST_MAX:
                    more = True
                    break
                shown.append(ip if port is None else _join_host_port(ip, port))
    text = ",".join(shown)
    return f"{text} + {count - _LIST_MAX} more..." if more else text


def _endpoints_cells(ep: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(ep.get("metadata"))
    return [
        _str(meta.get("name")),
        _format_endpoints(_dicts(ep.get("subsets"))),
        _since(meta.get("creationTimestamp"), now),
    ]


def _list_with_more(items: Iterable[str]) -> str:
    shown: list[str] = []
    count = 0
    for item in items:
        if len(shown) < _LIST_MAX:
            shown.append(item)
        count += 1
    text = ",".join(shown)
    if count > _LIST_MAX:
        return f"{text} + {count - _LIST_MAX} more..."
    return text if text else UNSET


def _slice_port(port: dict[str, Any]) -> str:
    number = port.get("port")
    if isinstance(number, int) and not isinstance(number, bool):
        return str(number)
    name = port.get("name")
    return name if isinstance(name, str) else "*"


def _endpointslice_cells(eps: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(eps.get("metadata"))
    ports = (_slice_port(p) for p in _dicts(eps.get("ports")))
    addresses = (
        _str(address)
        for endpoint in _dicts(eps.get("endpoints"))
        for address in _list(endpoint.get("addresses"))
    )
    return [
        _str(meta.get("name")),
        _str(eps.get("addressType")),
        _list_with_more(ports),
        _list_with_more(addresses),
        _since(meta.get("creationTimestamp"), now),
    ]


# --------------------------------------------------------------------------------------------
# workloads


def _desired_replicas(spec: dict[str, Any]) -> int:
    return _int(spec.get("replicas"), default=1)  # v1 defaulting: replicas defaults to 1


def _deployment_cells(dep: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(dep.get("metadata"))
    spec = _dict(dep.get("spec"))
    status = _dict(dep.get("status"))
    try:
        selector = label_selector_string(_dict(spec.get("selector")))
    except SelectorError:
        selector = "<invalid>"
    names, images = _containers_cells(_get(spec, "template", "spec"))
    return [
        _str(meta.get("name")),
        f"{_int(status.get('readyReplicas'))}/{_desired_replicas(spec)}",
        _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")),
        _since(meta.get("creationTimestamp"), now),
        names,
        images,
        selector,
    ]


def _replicaset_cells(rs: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(rs.get("metadata"))
    spec = _dict(rs.get("spec"))
    status = _dict(rs.get("status"))
    names, images = _containers_cells(_get(spec, "template", "spec"))
    return [
        _str(meta.get("name")),
        _desired_replicas(spec),
        _int(status.get("replicas")),
        _int(status.get("readyReplicas")),
        _since(meta.get("creationTimestamp"), now),
        names,
        images,
        format_label_selector(_dict(spec.get("selector"))),
    ]


# --------------------------------------------------------------------------------------------
# nodes, namespaces, leases


def _node_status(node: dict[str, Any]) -> str:
    ready: dict[str, Any] | None = None
    for cond in _dicts(_get(node, "status", "conditions")):
        if cond.get("type") == "Ready":
            ready = cond  # like upstream's map, the last duplicate wins
    if ready is None:
        parts = ["Unknown"]
    else:
        parts = ["Ready" if ready.get("status") == "True" else "NotReady"]
    if _get(node, "spec", "unschedulable") is True:
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def _node_roles(labels: dict[str, Any]) -> str:
    roles: set[str] = set()
    for key, value in labels.items():
        if key.startswith(_NODE_ROLE_PREFIX):
            role = key[len(_NODE_ROLE_PREFIX) :]
            if role:
                roles.add(role)
        elif key == _NODE_ROLE_LABEL and _str(value):
            roles.add(_str(value))
    return _or_none(",".join(sorted(roles)))


def _node_address(status: dict[str, Any], kind: str) -> str:
    for address in _dicts(status.get("addresses")):
        if address.get("type") == kind:
            return _str(address.get("address"))
    return NONE


def _node_cells(node: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(node.get("metadata"))
    status = _dict(node.get("status"))
    info = _dict(status.get("nodeInfo"))
    return [
        _str(meta.get("name")),
        _node_status(node),
        _node_roles(_dict(meta.get("labels"))),
        _since(meta.get("creationTimestamp"), now),
        _str(info.get("kubeletVersion")),
        _node_address(status, "InternalIP"),
        _node_address(status, "ExternalIP"),
        _str(info.get("osImage")) or UNKNOWN,
        _str(info.get("kernelVersion")) or UNKNOWN,
        _str(info.get("containerRuntimeVersion")) or UNKNOWN,
    ]


def _namespace_cells(ns: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(ns.get("metadata"))
    phase = _str(_get(ns, "status", "phase")) or "Active"  # v1 defaulting
    return [_str(meta.get("name")), phase, _since(meta.get("creationTimestamp"), now)]


def _lease_cells(lease: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(lease.get("metadata"))
    return [
        _str(meta.get("name")),
        _str(_get(lease, "spec", "holderIdentity")),
        _since(meta.get("creationTimestamp"), now),
    ]


def _configmap_cells(cm: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(cm.get("metadata"))
    keys = len(_dict(cm.get("data"))) + len(_dict(cm.get("binaryData")))
    return [_str(meta.get("name")), keys, _since(meta.get("creationTimestamp"), now)]


def _secret_cells(secret: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(secret.get("metadata"))
    return [
        _str(meta.get("name")),
        _str(secret.get("type")),
        len(_dict(secret.get("data"))),
        _since(meta.get("creationTimestamp"), now),
    ]


# --------------------------------------------------------------------------------------------
# events (core/v1, and events.k8s.io/v1 mapped onto the core field names)

_EVENTS_V1_FIELDS: Final = {
    "regarding": "involvedObject",
    "note": "message",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
    "reportingController": "reportingComponent",
}


def _as_core_event(event: dict[str, Any]) -> dict[str, Any]:
    """Both Event APIs print through one printer upstream; map events.k8s.io names to core."""
    if not _str(event.get("apiVersion")).startswith("events.k8s.io/") and "regarding" not in event:
        return event
    mapped = dict(event)
    for new_name, core_name in _EVENTS_V1_FIELDS.items():
        if new_name in event:
            mapped[core_name] = event[new_name]
    return mapped


def _event_source(event: dict[str, Any]) -> str:
    source = _dict(event.get("source"))
    component = _str(source.get("component")) or _str(event.get("reportingComponent"))
    host = _str(source.get("host")) or _str(event.get("reportingInstance"))
    return f"{component}, {host}" if host else component


def _event_cells(raw: dict[str, Any], now: datetime) -> list[Any]:
    event = _as_core_event(raw)
    meta = _dict(event.get("metadata"))
    first_seen = _since(event.get("firstTimestamp"), now)
    if parse_time_or_none(event.get("firstTimestamp")) is None:
        first_seen = _since(event.get("eventTime"), now)
    last_seen = _since(event.get("lastTimestamp"), now)
    if parse_time_or_none(event.get("lastTimestamp")) is None:
        last_seen = first_seen
    count = _int(event.get("count"))
    series = event.get("series")
    if isinstance(series, dict):
        last_seen = _since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1  # singleton events in the new API carry no count
    involved = _dict(event.get("involvedObject"))
    kind = _str(involved.get("kind")).lower()
    name = _str(involved.get("name"))
    return [
        last_seen,
        _str(event.get("type")),
        _str(event.get("reason")),
        f"{kind}/{name}" if name else kind,
        _str(involved.get("fieldPath")),
        _event_source(event),
        _str(event.get("message")).strip(),
        first_seen,
        count,
        _str(meta.get("name")),
    ]


# --------------------------------------------------------------------------------------------
# dispatch and the Table


def _default_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(obj.get("metadata"))
    return [_str(meta.get("name")), _created_at(meta.get("creationTimestamp"))]


_PRINTERS: Final[dict[str, Callable[[dict[str, Any], datetime], list[Any]]]] = {
    "pods": _pod_cells,
    "services": _service_cells,
    "endpoints": _endpoints_cells,
    "endpointslices": _endpointslice_cells,
    "deployments": _deployment_cells,
    "replicasets": _replicaset_cells,
    "nodes": _node_cells,
    "namespaces": _namespace_cells,
    "events": _event_cells,
    "leases": _lease_cells,
    "configmaps": _configmap_cells,
    "secrets": _secret_cells,
}


def row_cells(resource: str, obj: dict[str, Any], now: datetime) -> list[Any]:
    """One row's cells, including the ``priority > 0`` (wide) ones, for ``obj`` at time ``now``.

    ``now`` should be timezone-aware; a naive value is taken as UTC.
    """
    if not isinstance(obj, dict):
        raise TypeError(
            f"cannot print {resource!r} row: expected an object (dict), got {type(obj).__name__}"
        )
    return _PRINTERS.get(resource, _default_cells)(obj, now)


def _row_conditions(resource: str, obj: dict[str, Any]) -> list[dict[str, str]]:
    """Upstream marks finished pods' rows Completed (kubectl may use it to grey them out)."""
    if resource != "pods":
        return []
    phase = _get(obj, "status", "phase")
    if phase in ("Succeeded", "Failed"):
        return [{"type": "Completed", "status": "True", "reason": phase}]
    return []


def _row_object(obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "Object":
        return obj
    if include_object == "None":
        return None
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": _dict(obj.get("metadata")),
    }


def build_table(
    resource: str,
    objects: list[dict[str, Any]],
    *,
    now: datetime,
    resource_version: str,
    include_object: str = "Metadata",
    include_headers: bool = True,
    continue_token: str = "",
    remaining_item_count: int | None = None,
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table of ``objects`` as kube-apiserver renders it.

    ``include_object`` is the ``?includeObject=`` policy: ``Metadata`` (default, also for ``""``)
    embeds a PartialObjectMetadata, ``Object`` the whole object, ``None`` nothing.
    ``include_headers=False`` (watch events after the first) leaves ``columnDefinitions`` empty.
    ``continue_token`` / ``remaining_item_count`` carry list pagination, as for any list.
    Rows share (do not copy) the objects' dicts: treat the result as read-only.
    """
    policy = include_object or "Metadata"
    if policy not in INCLUDE_OBJECT_POLICIES:
        raise ValueError(
            f"unrecognized includeObject value {include_object!r}: "
            f"expected one of {', '.join(INCLUDE_OBJECT_POLICIES)}"
        )
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    if remaining_item_count is not None:
        metadata["remainingItemCount"] = remaining_item_count
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": row_cells(resource, obj, now)}
        conditions = _row_conditions(resource, obj)
        if conditions:
            row["conditions"] = conditions
        embedded = _row_object(obj, policy)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions(resource) if include_headers else [],
        "rows": rows,
    }


# Kinds printed in modules of their own.
for _more in (printers_core_ext, printers_groups):
    _COLUMNS.update(_more.COLUMNS)
    _PRINTERS.update(_more.PRINTERS)
