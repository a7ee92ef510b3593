"""What changed: API objects -> the proxier's service and endpoint maps, with no-ops netted out.

Informer handlers call the trackers, which translate each object at once (so a bad object is
reported where it arrives) and keep, per Service, the state before the first pending change and
the latest state. A change that ends where it started (an update that touches nothing kproxy
uses, an add followed by a delete) disappears. The proxier drains the trackers when it syncs and
applies the changes to its ServicePortMap / EndpointsMap, learning which Services changed and
which endpoints went away (for conntrack cleanup).

Everything here is pure and synchronous: objects are the informers' plain dicts.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from kproxy.servicemodel import (
    DEFAULT_AFFINITY_SECONDS,
    EndpointInfo,
    ServicePortInfo,
    ServicePortName,
)

log = logging.getLogger("kproxy.changes")

Obj = Mapping[str, Any]
ServiceKey = tuple[str, str]  # (namespace, name): upstream's NamespacedName
ServicePorts = dict[ServicePortName, ServicePortInfo]
ServiceEndpoints = dict[ServicePortName, tuple[EndpointInfo, ...]]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# Services (and their slices) that another proxy implementation handles carry this label;
# headless services have no ClusterIP to program. Upstream filters both in the informers.
SERVICE_PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"
HEADLESS_LABEL = "service.kubernetes.io/headless"
SERVICE_LABEL_SELECTOR = f"!{SERVICE_PROXY_NAME_LABEL}"
SLICE_LABEL_SELECTOR = f"!{SERVICE_PROXY_NAME_LABEL},!{HEADLESS_LABEL}"

_EXTERNAL_TYPES = ("NodePort", "LoadBalancer")
# Set by the EndpointSlice and Endpoints controllers: when the change that led to this version
# of the object happened (a pod became ready, a Service changed ...). RFC 3339.
LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"

T = TypeVar("T")


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def object_service_key(obj: Obj) -> ServiceKey:
    meta = _meta(obj)
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def last_change_trigger_time(obj: Obj) -> float | None:
    """The object's trigger-time annotation as seconds since the epoch (None if absent or
    unreadable, as upstream ignores it then)."""
    text = (_meta(obj).get("annotations") or {}).get(LAST_CHANGE_TRIGGER_TIME)
    if not isinstance(text, str) or not text:
        return None
    try:
        # fromisoformat reads "Z" and drops digits past microseconds (RFC3339Nano).
        moment = datetime.fromisoformat(text)
    except ValueError:
        log.warning("ignoring unreadable %s annotation %r", LAST_CHANGE_TRIGGER_TIME, text)
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _ipv4(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        return None


def _ipv4_cidrs(values: object) -> tuple[str, ...]:
    """The IPv4 CIDRs among ``values``. Upstream maps source ranges by IP family and each
    proxier keeps its own family's, so an IPv6 range must not cost the Service its rules."""
    out: list[str] = []
    for value in values if isinstance(values, list | tuple) else ():
        if not isinstance(value, str):
            continue
        try:
            net = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            continue
        if net.version == 4:
            out.append(str(net))
    return tuple(out)


def _lb_ingress_ips(obj: Obj) -> tuple[str, ...]:
    """Load-balancer ingress IPs kproxy programs. ``ipMode: Proxy`` means the load balancer
    delivers to the node with its own address as destination, so upstream skips those."""
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or ()
    return tuple(
        ip for ip in (_ipv4(i.get("ip")) for i in ingress if i.get("ipMode") != "Proxy") if ip
    )


# ------------------------------------------------------------------------------------------
# Translation: Service -> ServicePortInfo per port


def service_ports(obj: Obj) -> ServicePorts:
    """The service ports kproxy programs for a Service object ({} for none).

    Headless, ExternalName and not-yet-allocated Services have no ClusterIP and get no rules.
    Raises ValueError for a Service kproxy cannot program (the message names it).
    """
    namespace, name = object_service_key(obj)
    spec = obj.get("spec") or {}
    svc_type = spec.get("type") or "ClusterIP"
    cluster_ip = spec.get("clusterIP")
    if svc_type == "ExternalName" or not cluster_ip or cluster_ip == "None":
        return {}
    if _ipv4(cluster_ip) is None:
        # An IPv6 single-stack Service: kproxy is IPv4 only.
        return {}
    external = svc_type in _EXTERNAL_TYPES
    affinity: int | None = None
    if spec.get("sessionAffinity") == "ClientIP":
        config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        affinity = config.get("timeoutSeconds") or DEFAULT_AFFINITY_SECONDS
    external_ips = tuple(ip for ip in map(_ipv4, spec.get("externalIPs") or ()) if ip)
    lb_ips = _lb_ingress_ips(obj) if svc_type == "LoadBalancer" else ()
    # Upstream's ExternallyAccessible: a ClusterIP Service with externalIPs counts too.
    accessible = external or bool(spec.get("externalIPs"))
    etp_local = accessible and spec.get("externalTrafficPolicy") == "Local"
    hcnp = spec.get("healthCheckNodePort") or 0
    out: ServicePorts = {}
    try:
        for port in spec.get("ports") or ():
            protocol = port.get("protocol") or "TCP"
            spn = ServicePortName(namespace, name, port.get("name") or "", protocol)
            out[spn] = ServicePortInfo(
                cluster_ip=cluster_ip,
                port=port.get("port"),
                protocol=protocol,
                node_port=(port.get("nodePort") or 0) if external else 0,
                target_port=port.get("targetPort"),
                session_affinity_timeout=affinity,
                external_ips=external_ips,
                load_balancer_ips=lb_ips,
                load_balancer_source_ranges=_ipv4_cidrs(spec.get("loadBalancerSourceRanges")),
                external_traffic_policy_local=etp_local,
                internal_traffic_policy_local=spec.get("internalTrafficPolicy") == "Local",
                health_check_node_port=hcnp if etp_local and svc_type == "LoadBalancer" else 0,
            )
    except (ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"service {namespace}/{name}: {e}") from None
    return out


# ------------------------------------------------------------------------------------------
# Translation: EndpointSlice / Endpoints -> EndpointInfo per service port


def _ip_order(ep: EndpointInfo) -> tuple[bytes, int]:
    return (socket.inet_aton(ep.ip), ep.port)


@dataclass(frozen=True)
class ParsedSlice:
    """What kproxy takes from one EndpointSlice."""

    service: ServiceKey
    name: str
    # (port name, protocol) -> that port's endpoints in this slice
    ports: Mapping[tuple[str, str], tuple[EndpointInfo, ...]]


def parse_slice(obj: Obj, node_name: str) -> ParsedSlice | None:
    """None for a slice kproxy ignores (no service label, not IPv4). Raises ValueError for a
    slice it cannot use."""
    meta = _meta(obj)
    labels = meta.get("labels") or {}
    service = labels.get(SERVICE_NAME_LABEL)
    if not service or obj.get("addressType") != "IPv4":
        return None
    namespace = str(meta.get("namespace") or "")
    slice_name = str(meta.get("name") or "")
    ports: dict[tuple[str, str], tuple[EndpointInfo, ...]] = {}
    try:
        for port in obj.get("ports") or ():
            number = port.get("port")
            if number is None:
                continue  # upstream skips ports without a number
            key = (port.get("name") or "", port.get("protocol") or "TCP")
            eps = []
            for ep in obj.get("endpoints") or ():
                addresses = ep.get("addresses") or ()
                if not addresses:
                    continue
                cond = ep.get("conditions") or {}
                ready = cond.get("ready") is not False  # unset means ready
                serving = cond.get("serving")
                node = ep.get("nodeName")
                eps.append(
                    EndpointInfo(
                        addresses[0],  # upstream uses only the first address
                        number,
                        ready=ready,
                        serving=ready if serving is None else bool(serving),
                        terminating=bool(cond.get("terminating")),
                        node_name=node,
                        is_local=node is not None and node == node_name,
                    )
                )
            ports[key] = tuple(eps)
    except (ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"endpointslice {namespace}/{slice_name}: {e}") from None
    return ParsedSlice((namespace, service), slice_name, ports)


_Merged = dict[tuple[str, str], dict[str, EndpointInfo]]  # (port name, proto) -> ip:port -> ep


def _add(merged: _Merged, key: tuple[str, str], ep: EndpointInfo) -> None:
    by_addr = merged.setdefault(key, {})
    old = by_addr.get(ep.endpoint)
    # The same ip:port twice (mid-move between slices): a ready copy wins.
    if old is None or (ep.ready and not old.ready):
        by_addr[ep.endpoint] = ep


def _per_port(service: ServiceKey, merged: _Merged) -> ServiceEndpoints:
    namespace, name = service
    return {
        ServicePortName(namespace, name, port_name, protocol): tuple(
            sorted(by_addr.values(), key=_ip_order)
        )
        for (port_name, protocol), by_addr in merged.items()
        if by_addr
    }


def merge_slices(service: ServiceKey, slices: Iterable[ParsedSlice]) -> ServiceEndpoints:
    """One service's endpoints per port, over all its slices, deduplicated and sorted."""
    merged: _Merged = {}
    for parsed in slices:
        for key, eps in parsed.ports.items():
            for ep in eps:
                _add(merged, key, ep)
    return _per_port(service, merged)


def legacy_endpoints(obj: Obj, node_name: str) -> ServiceEndpoints:
    """A core/v1 Endpoints object as endpoints per service port (``--use-endpoints``)."""
    service = object_service_key(obj)
    merged: _Merged = {}
    try:
        for subset in obj.get("subsets") or ():
            groups = (
                (subset.get("addresses") or (), True),
                (subset.get("notReadyAddresses") or (), False),
            )
            for port in subset.get("ports") or ():
                key = (port.get("name") or "", port.get("protocol") or "TCP")
                for addresses, ready in groups:
                    for addr in addresses:
                        node = addr.get("nodeName")
                        ep = EndpointInfo(
                            addr.get("ip"),
                            port.get("port"),
                            ready=ready,
                            serving=ready,
                            node_name=node,
                            is_local=node is not None and node == node_name,
                        )
                        _add(merged, key, ep)
    except (ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"endpoints {service[0]}/{service[1]}: {e}") from None
    return _per_port(service, merged)


class EndpointSliceCache:
    """Every slice kproxy knows, per service, so a service's endpoints can be merged again
    whenever one of its slices changes."""

    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
        self._slices: dict[ServiceKey, dict[str, ParsedSlice]] = {}

    def update(self, parsed: ParsedSlice) -> None:
        self._slices.setdefault(parsed.service, {})[parsed.name] = parsed

    def remove(self, service: ServiceKey, slice_name: str) -> None:
        slices = self._slices.get(service)
        if slices is not None:
            slices.pop(slice_name, None)
            if not slices:
                del self._slices[service]

    def endpoints(self, service: ServiceKey) -> ServiceEndpoints:
        return merge_slices(service, self._slices.get(service, {}).values())


# ------------------------------------------------------------------------------------------
# Change trackers


@dataclass
class Change(Generic[T]):
    previous: T
    current: T


class _Tracker(Generic[T]):
    """Pending {previous, current} per Service; equal pairs are dropped at once."""

    def __init__(self) -> None:
        self._items: dict[ServiceKey, Change[T]] = {}
        self.total = 0  # changes recorded over the tracker's life (for metrics)

    def _record(self, key: ServiceKey, previous: T, current: T) -> bool:
        change = self._items.get(key)
        if change is None:
            change = self._items[key] = Change(previous, current)
        change.current = current
        if change.previous == change.current:
            del self._items[key]
        else:
            self.total += 1
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def pending(self) -> set[ServiceKey]:
        return set(self._items)

    def drain(self) -> dict[ServiceKey, Change[T]]:
        items, self._items = self._items, {}
        return items


def _translate_service(obj: Obj | None) -> ServicePorts:
    if obj is None:
        return {}
    try:
        return service_ports(obj)
    except ValueError as e:
        # Treated as absent, so its old rules go rather than linger with stale data.
        log.warning("ignoring service: %s", e)
        return {}


class ServiceChangeTracker(_Tracker[ServicePorts]):
    def update(self, previous: Obj | None, current: Obj | None) -> bool:
        """Record an add (previous None), update or delete (current None). True while any
        change is pending."""
        obj = current if current is not None else previous
        if obj is None:
            return bool(self._items)
        key = object_service_key(obj)
        change = self._items.get(key)
        before = change.previous if change else _translate_service(previous)
        return self._record(key, before, _translate_service(current))


class EndpointsChangeTracker(_Tracker[ServiceEndpoints]):
    """Endpoints per service, from EndpointSlices (merged) or legacy Endpoints objects.

    It also keeps, per Service with a pending change, the trigger times of the objects that
    made it (``last_change_trigger_time``), as upstream does for its network programming
    latency: only for events that changed the Service's endpoints, only for triggers after the
    tracker started (older ones are not this process's latency), and none for deletions (their
    annotation dates from the last update). A change that nets out takes its times with it.
    """

    def __init__(self, node_name: str, *, start_time: float | None = None) -> None:
        super().__init__()
        self.node_name = node_name
        self.cache = EndpointSliceCache(node_name)
        self.start_time = time.time() if start_time is None else start_time
        self._triggers: dict[ServiceKey, list[float]] = {}

    def slice_update(self, obj: Obj, *, removed: bool = False) -> bool:
        """An EndpointSlice was added/updated (or deleted, ``removed=True``)."""
        try:
            parsed = parse_slice(obj, self.node_name)
        except ValueError as e:
            log.warning("ignoring endpointslice: %s", e)
            parsed = None
        meta = _meta(obj)
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        service_name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not service_name:
            return bool(self._items)
        service = (namespace, str(service_name))
        change = self._items.get(service)
        before = change.previous if change else self.cache.endpoints(service)
        last = change.current if change else before
        if removed or parsed is None:
            self.cache.remove(service, name)
        else:
            self.cache.update(parsed)
        after = self.cache.endpoints(service)
        self._note_trigger(service, obj, changed=after != last, removed=removed)
        return self._record_change(service, before, after)

    def slice_moved(self, old: Obj, new: Obj) -> bool:
        """An update whose service label changed: leave the old service, join the new."""
        self.slice_update(old, removed=True)
        return self.slice_update(new)

    def endpoints_update(self, previous: Obj | None, current: Obj | None) -> bool:
        """A legacy Endpoints object was added, updated or deleted (``--use-endpoints``)."""
        obj = current if current is not None else previous
        if obj is None:
            return bool(self._items)
        key = object_service_key(obj)
        change = self._items.get(key)
        before = change.previous if change else self._legacy(previous)
        last = change.current if change else before
        after = self._legacy(current)
        self._note_trigger(key, obj, changed=after != last, removed=current is None)
        return self._record_change(key, before, after)

    def drain_trigger_times(self) -> list[float]:
        """The trigger times of the changes ``drain`` hands over (call it right after)."""
        triggers, self._triggers = self._triggers, {}
        return [t for times in triggers.values() for t in times]

    def _note_trigger(self, service: ServiceKey, obj: Obj, *, changed: bool, removed: bool) -> None:
        if removed:
            self._triggers.pop(service, None)
        elif changed:
            moment = last_change_trigger_time(obj)
            if moment is not None and moment > self.start_time:
                self._triggers.setdefault(service, []).append(moment)

    def _record_change(
        self, service: ServiceKey, before: ServiceEndpoints, after: ServiceEndpoints
    ) -> bool:
        pending = self._record(service, before, after)
        if service not in self._items:
            self._triggers.pop(service, None)
        return pending

    def _legacy(self, obj: Obj | None) -> ServiceEndpoints:
        if obj is None:
            return {}
        try:
            return legacy_endpoints(obj, self.node_name)
        except ValueError as e:
            log.warning("ignoring endpoints: %s", e)
            return {}


# ------------------------------------------------------------------------------------------
# The proxier's maps


class ServicePortMap(dict[ServicePortName, ServicePortInfo]):
    """Every service port kproxy programs."""

    def apply(self, changes: Mapping[ServiceKey, Change[ServicePorts]]) -> ServicePorts:
        """Apply drained changes; returns the ports that were removed (with their last info)."""
        removed: ServicePorts = {}
        for change in changes.values():
            for spn, info in change.previous.items():
                if spn not in change.current:
                    self.pop(spn, None)
                    removed[spn] = info
            self.update(change.current)
        return removed


@dataclass
class EndpointsUpdate:
    # Endpoints that stopped being usable, per service port (UDP conntrack cleanup needs them).
    stale_endpoints: list[tuple[ServicePortName, EndpointInfo]] = field(default_factory=list)
    # Service ports that had no usable endpoint and now have one.
    newly_active: set[ServicePortName] = field(default_factory=set)


def _usable(eps: Iterable[EndpointInfo]) -> dict[str, EndpointInfo]:
    return {ep.endpoint: ep for ep in eps if ep.ready or (ep.serving and ep.terminating)}


class EndpointsMap(dict[ServicePortName, tuple[EndpointInfo, ...]]):
    """Endpoints per service port."""

    def apply(self, changes: Mapping[ServiceKey, Change[ServiceEndpoints]]) -> EndpointsUpdate:
        result = EndpointsUpdate()
        for change in changes.values():
            for spn, old_eps in change.previous.items():
                new_usable = _usable(change.current.get(spn, ()))
                for key, ep in _usable(old_eps).items():
                    if key not in new_usable:
                        result.stale_endpoints.append((spn, ep))
                if spn not in change.current:
                    self.pop(spn, None)
            for spn, new_eps in change.current.items():
                if _usable(new_eps) and not _usable(change.previous.get(spn, ())):
                    result.newly_active.add(spn)
                self[spn] = new_eps
        return result


def service_keys(names: Iterable[ServicePortName]) -> set[ServiceKey]:
    return {(n.namespace, n.name) for n in names}
