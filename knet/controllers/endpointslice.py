"""The EndpointSlice controller, and the legacy Endpoints mirrored from the same data.

For every Service with a selector: the pods it selects that have an IP become endpoints, with
the conditions kube-proxy reads (ready, serving, terminating), their node and target reference.
Named targetPorts are resolved per pod, so pods that disagree on a port number land in different
slices (one slice holds one port mapping and one address family), at most 100 endpoints each.
Services without a selector are left alone: their slices are someone else's.

Pure: `service_ports_for_pod`, `pod_endpoint`, `desired_groups`, `plan_group`, `endpoints_object`.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from knet.api.objects import Obj, is_deleting, labels_of, meta, name_of, namespace_of, uid_of
from knet.api.pods import FAILED, SUCCEEDED, is_ready, node_name, phase, pod_ips
from knet.api.selectors import selector_from_set
from knet.client import NAMESPACE_INDEX, ApiError, is_not_found, object_key
from knet.controllers.base import Controller, ControllerContext
from knet.controllers.triggertime import TriggerTimeTracker, annotate

log = logging.getLogger("knet.controllers.endpointslice")

MAX_ENDPOINTS_PER_SLICE = 100
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
# How long a slice we wrote may stay unseen by our cache before we act on the cache anyway.
_WRITE_SEEN_TIMEOUT = 10.0

PortKey = tuple[tuple[str, int, str], ...]  # (name, port, protocol) per resolved port
GroupKey = tuple[str, PortKey]  # (addressType, ports)


# ---------------------------------------------------------------------------- pure: one pod


def has_selector(svc: Mapping[str, Any]) -> bool:
    return bool((svc.get("spec") or {}).get("selector"))


def is_headless(svc: Mapping[str, Any]) -> bool:
    return (svc.get("spec") or {}).get("clusterIP") == "None"


def resolve_target_port(pod: Mapping[str, Any], port: Mapping[str, Any]) -> int | None:
    """The pod's port for one Service port: a number as is; a name looked up among the pod's
    container ports of the same protocol (None when the pod has no such port)."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str):
        if target.isdigit():
            return int(target)
        protocol = port.get("protocol") or "TCP"
        for c in (pod.get("spec") or {}).get("containers") or []:
            for cp in c.get("ports") or [] if isinstance(c, Mapping) else []:
                if (
                    isinstance(cp, Mapping)
                    and cp.get("name") == target
                    and (cp.get("protocol") or "TCP") == protocol
                ):
                    value = cp.get("containerPort")
                    return value if isinstance(value, int) else None
    return None


def service_ports_for_pod(svc: Mapping[str, Any], pod: Mapping[str, Any]) -> list[Obj]:
    """EndpointSlice ports for this pod (ports whose target the pod lacks are left out)."""
    out: list[Obj] = []
    for port in (svc.get("spec") or {}).get("ports") or []:
        if not isinstance(port, Mapping):
            continue
        number = resolve_target_port(pod, port)
        if number is None:
            continue
        entry: Obj = {
            "name": port.get("name") or "",
            "port": number,
            "protocol": port.get("protocol") or "TCP",
        }
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        out.append(entry)
    return out


def port_key(ports: Sequence[Mapping[str, Any]]) -> PortKey:
    return tuple(sorted((str(p["name"]), int(p["port"]), str(p["protocol"])) for p in ports))


def should_include(pod: Mapping[str, Any]) -> bool:
    """Pods that finished or have no IP yet are not endpoints; terminating ones are (with
    terminating=true), as upstream's ShouldPodBeInEndpoints(includeTerminating=true)."""
    return phase(pod) not in (SUCCEEDED, FAILED) and bool(pod_ips(pod))


def address_type(ip: str) -> str:
    return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"


def service_families(svc: Mapping[str, Any]) -> list[str]:
    families = (svc.get("spec") or {}).get("ipFamilies")
    if isinstance(families, list) and families:
        return [f for f in families if f in ("IPv4", "IPv6")] or ["IPv4"]
    return ["IPv4"]


def pod_endpoint(svc: Mapping[str, Any], pod: Mapping[str, Any], ip: str) -> Obj:
    spec = svc.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    serving = publish or is_ready(pod)
    terminating = is_deleting(pod)
    ready = publish or (serving and not terminating)
    ep: Obj = {
        "addresses": [ip],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": {
            "kind": "Pod",
            "namespace": namespace_of(pod),
            "name": name_of(pod),
            "uid": uid_of(pod),
        },
    }
    if node_name(pod):
        ep["nodeName"] = node_name(pod)
    pod_spec = pod.get("spec") or {}
    if pod_spec.get("hostname") and pod_spec.get("subdomain") == name_of(svc):
        ep["hostname"] = pod_spec["hostname"]
    return ep


@dataclass
class Group:
    address_type: str
    ports: list[Obj]
    endpoints: list[Obj] = field(default_factory=list)


def desired_groups(
    svc: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
) -> dict[GroupKey, Group]:
    """The endpoints the Service should have, grouped by (address family, port mapping)."""
    families = service_families(svc)
    groups: dict[GroupKey, Group] = {}
    for pod in sorted(pods, key=name_of):
        if not should_include(pod):
            continue
        ports = service_ports_for_pod(svc, pod)
        if (svc.get("spec") or {}).get("ports") and not ports:
            continue  # no port of the Service exists on this pod
        for ip in pod_ips(pod):
            family = address_type(ip)
            if family not in families:
                continue
            key = (family, port_key(ports))
            group = groups.setdefault(key, Group(family, ports))
            group.endpoints.append(pod_endpoint(svc, pod, ip))
    return groups


def endpoint_id(ep: Mapping[str, Any]) -> str:
    ref = ep.get("targetRef") or {}
    addresses = ep.get("addresses") or []
    return f"{ref.get('uid', '')}/{addresses[0] if addresses else ''}"


def slice_group_key(sl: Mapping[str, Any]) -> GroupKey:
    ports = [
        {
            "name": p.get("name") or "",
            "port": p.get("port") or 0,
            "protocol": p.get("protocol") or "TCP",
        }
        for p in sl.get("ports") or []
        if isinstance(p, Mapping)
    ]
    return (str(sl.get("addressType") or "IPv4"), port_key(ports))


@dataclass(frozen=True)
class GroupPlan:
    create: list[list[Obj]]  # endpoint lists of new slices
    update: dict[str, list[Obj]]  # slice name -> its new endpoints
    delete: list[str]  # slice names


def plan_group(
    existing: Sequence[Mapping[str, Any]], wanted: Sequence[Obj], max_per_slice: int
) -> GroupPlan:
    """Fit the wanted endpoints into this group's slices with little churn (as upstream's
    reconciler): endpoints stay in the slice that has them, new ones fill free room first, then
    new slices; slices left empty are deleted."""
    if max_per_slice < 1:
        raise ValueError("max_per_slice must be at least 1")
    wanted_by_id = {endpoint_id(ep): ep for ep in wanted}
    placed: set[str] = set()
    contents: dict[str, list[Obj]] = {}
    changed: set[str] = set()
    for sl in sorted(existing, key=name_of):
        name = name_of(sl)
        kept: list[Obj] = []
        current = [ep for ep in sl.get("endpoints") or [] if isinstance(ep, Mapping)]
        for ep in current:
            eid = endpoint_id(ep)
            if eid in wanted_by_id and eid not in placed and len(kept) < max_per_slice:
                kept.append(wanted_by_id[eid])
                placed.add(eid)
                if wanted_by_id[eid] != ep:
                    changed.add(name)
            else:
                changed.add(name)
        contents[name] = kept
    fresh = [ep for eid, ep in wanted_by_id.items() if eid not in placed]
    # Fill the slices we are changing anyway first, then any with room.
    for name in sorted(contents, key=lambda n: (n not in changed, n)):
        room = max_per_slice - len(contents[name])
        if room > 0 and fresh:
            contents[name].extend(fresh[:room])
            fresh = fresh[room:]
            changed.add(name)
    create = [fresh[i : i + max_per_slice] for i in range(0, len(fresh), max_per_slice)]
    delete = sorted(n for n, eps in contents.items() if not eps)
    update = {n: eps for n, eps in contents.items() if n in changed and eps}
    return GroupPlan(create, update, delete)


def slice_labels(svc: Mapping[str, Any]) -> dict[str, str]:
    labels = {
        k: v
        for k, v in labels_of(svc).items()
        if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL)
    }
    labels[SERVICE_NAME_LABEL] = name_of(svc)
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    if is_headless(svc):
        labels[HEADLESS_LABEL] = ""
    return labels


def new_slice(svc: Mapping[str, Any], group: Group, endpoints: list[Obj]) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": f"{name_of(svc)}-",
            "namespace": namespace_of(svc),
            "labels": slice_labels(svc),
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": name_of(svc),
                    "uid": uid_of(svc),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "addressType": group.address_type,
        "endpoints": endpoints,
        "ports": group.ports,
    }


# ---------------------------------------------------------------------------- pure: Endpoints


def endpoints_object(svc: Mapping[str, Any], groups: Mapping[GroupKey, Group]) -> Obj:
    """The legacy core/v1 Endpoints for the same endpoints: ready ones in `addresses`, the rest
    in `notReadyAddresses`; terminating pods are left out (unless publishNotReadyAddresses)."""
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    subsets: list[Obj] = []
    for key in sorted(groups):
        group = groups[key]
        ready: list[Obj] = []
        not_ready: list[Obj] = []
        for ep in group.endpoints:
            cond = ep.get("conditions") or {}
            if cond.get("terminating") and not publish:
                continue
            address: Obj = {"ip": ep["addresses"][0], "targetRef": dict(ep["targetRef"])}
            if ep.get("nodeName"):
                address["nodeName"] = ep["nodeName"]
            if ep.get("hostname"):
                address["hostname"] = ep["hostname"]
            (ready if cond.get("ready") else not_ready).append(address)
        if not ready and not not_ready:
            continue
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
        if group.ports:
            subset["ports"] = [
                {k: v for k, v in p.items() if k in ("name", "port", "protocol", "appProtocol")}
                for p in group.ports
            ]
        subsets.append(subset)
    labels = {k: v for k, v in labels_of(svc).items() if k != HEADLESS_LABEL}
    if is_headless(svc):
        labels[HEADLESS_LABEL] = ""
    out: Obj = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name_of(svc), "namespace": namespace_of(svc)},
        "subsets": subsets,
    }
    if labels:
        out["metadata"]["labels"] = labels
    return out


# ---------------------------------------------------------------------------- the controller


def _rv_at_least(have: Any, want: str) -> bool:
    """knet's resourceVersions are store revisions: a cache at or past our write has seen it."""
    if isinstance(have, str) and have.isdigit() and want.isdigit():
        return int(have) >= int(want)
    return bool(have == want)


class EndpointSliceController(Controller):
    name = "endpointslice"
    workers = 2

    def __init__(
        self, ctx: ControllerContext, max_per_slice: int = MAX_ENDPOINTS_PER_SLICE
    ) -> None:
        super().__init__(ctx)
        self.max_per_slice = max_per_slice
        self.services = ctx.informer("Service")
        self.pods = ctx.informer("Pod")
        self.slices = ctx.informer("EndpointSlice")
        self.endpoints = ctx.informer("Endpoints")
        # service key -> slice key -> resourceVersion we wrote (None: we deleted it)
        self._written: dict[str, dict[str, tuple[str | None, float]]] = {}
        self.triggers = TriggerTimeTracker()
        self.services.add_handler(self.enqueue, lambda _o, new: self.enqueue(new), self.enqueue)
        self.pods.add_handler(self._on_pod, self._on_pod_update, self._on_pod)
        self.slices.add_handler(self._on_slice, lambda _o, new: self._on_slice(new), self._on_slice)

    def _services_for(self, pod: Mapping[str, Any]) -> list[str]:
        labels = labels_of(pod)
        return [
            object_key(svc)
            for svc in self.services.cache.by_index(NAMESPACE_INDEX, namespace_of(pod))
            if has_selector(svc) and selector_from_set(svc["spec"]["selector"]).matches(labels)
        ]

    def _on_pod(self, pod: Obj) -> None:
        for key in self._services_for(pod):
            self.queue.add(key)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        for key in {*self._services_for(old), *self._services_for(new)}:
            self.queue.add(key)

    def _on_slice(self, sl: Obj) -> None:
        labels = labels_of(sl)
        if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(SERVICE_NAME_LABEL):
            self.queue.add(f"{namespace_of(sl)}/{labels[SERVICE_NAME_LABEL]}")

    # ------------------------------------------------------------------ reconcile

    def _own_slices(self, namespace: str, service: str) -> list[Obj]:
        return [
            sl
            for sl in self.slices.cache.by_index(NAMESPACE_INDEX, namespace)
            if labels_of(sl).get(SERVICE_NAME_LABEL) == service
            and labels_of(sl).get(MANAGED_BY_LABEL) == MANAGED_BY
        ]

    def _cache_caught_up(self, key: str) -> bool:
        written = self._written.get(key)
        if not written:
            return True
        now = time.monotonic()
        for slice_key, (rv, stamp) in list(written.items()):
            cached = self.slices.cache.get(slice_key)
            seen = (
                cached is None
                if rv is None
                else cached is not None and _rv_at_least(meta(cached).get("resourceVersion"), rv)
            )
            if seen or now - stamp > _WRITE_SEEN_TIMEOUT:
                del written[slice_key]
        if not written:
            self._written.pop(key, None)
        return not written

    def _note(self, key: str, sl: Mapping[str, Any] | None, slice_key: str) -> None:
        rv = None if sl is None else str(meta(sl).get("resourceVersion") or "")
        self._written.setdefault(key, {})[slice_key] = (rv, time.monotonic())

    async def reconcile(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        svc = self.services.cache.get(key)
        if svc is None:
            await self._service_gone(key, namespace, name)
            return
        if not has_selector(svc):
            return  # not ours: slices of selector-less Services are managed by their users
        if not self._cache_caught_up(key):
            self.queue.add_after(key, 0.2)
            return
        selector = selector_from_set(svc["spec"]["selector"])
        pods = [
            p
            for p in self.pods.cache.by_index(NAMESPACE_INDEX, namespace)
            if selector.matches(labels_of(p))
        ]
        groups = desired_groups(svc, pods)
        trigger = self.triggers.compute(key, svc, pods)
        await self._sync_slices(key, svc, groups, trigger)
        await self._sync_endpoints(svc, groups, trigger)
        self.triggers.synced(key)

    async def _sync_slices(
        self, key: str, svc: Obj, groups: dict[GroupKey, Group], trigger: datetime | None
    ) -> None:
        namespace = namespace_of(svc)
        existing = self._own_slices(namespace, name_of(svc))
        by_group: dict[GroupKey, list[Obj]] = {}
        for sl in existing:
            by_group.setdefault(slice_group_key(sl), []).append(sl)
        wanted_labels = slice_labels(svc)
        if not groups:
            await self._placeholder(key, svc, by_group, trigger)
            return
        for gkey, group in groups.items():
            plan = plan_group(by_group.pop(gkey, []), group.endpoints, self.max_per_slice)
            for eps in plan.create:
                created = await self.client.create(annotate(new_slice(svc, group, eps), trigger))
                self._note(key, created, object_key(created))
            for slice_name, eps in plan.update.items():
                await self._update_slice(key, namespace, slice_name, eps, wanted_labels, trigger)
            for slice_name in plan.delete:
                await self._delete_slice(key, namespace, slice_name)
            # Labels follow the Service's even when the endpoints did not change.
            for sl in self._own_slices(namespace, name_of(svc)):
                if (
                    slice_group_key(sl) == gkey
                    and name_of(sl) not in plan.update
                    and name_of(sl) not in plan.delete
                    and labels_of(sl) != wanted_labels
                ):
                    await self._update_slice(
                        key, namespace, name_of(sl), sl.get("endpoints") or [], wanted_labels, None
                    )
        for stale in by_group.values():
            for sl in stale:
                await self._delete_slice(key, namespace, name_of(sl))

    async def _placeholder(
        self, key: str, svc: Obj, by_group: dict[GroupKey, list[Obj]], trigger: datetime | None
    ) -> None:
        """No endpoints: exactly one empty slice, as upstream keeps for such a Service."""
        namespace = namespace_of(svc)
        family = service_families(svc)[0]
        keep = sorted(by_group.pop((family, ()), []), key=name_of)
        for sl in keep[1:]:
            await self._delete_slice(key, namespace, name_of(sl))
        for stale in by_group.values():
            for sl in stale:
                await self._delete_slice(key, namespace, name_of(sl))
        if keep:
            if keep[0].get("endpoints") or labels_of(keep[0]) != slice_labels(svc):
                await self._update_slice(
                    key, namespace, name_of(keep[0]), [], slice_labels(svc), trigger
                )
            return
        created = await self.client.create(annotate(new_slice(svc, Group(family, []), []), trigger))
        self._note(key, created, object_key(created))

    async def _update_slice(
        self,
        key: str,
        namespace: str,
        name: str,
        eps: list[Obj],
        labels: dict[str, str],
        trigger: datetime | None,
    ) -> None:
        cached = self.slices.cache.get(f"{namespace}/{name}")
        body = annotate(
            {
                "metadata": {
                    "labels": labels,
                    "resourceVersion": meta(cached or {}).get("resourceVersion"),
                },
                "endpoints": eps,
            },
            trigger,
        )
        try:
            out = await self.client.patch("EndpointSlice", name, body, namespace=namespace)
        except ApiError as e:
            if not is_not_found(e):
                raise
            return
        self._note(key, out, f"{namespace}/{name}")

    async def _delete_slice(self, key: str, namespace: str, name: str) -> None:
        try:
            await self.client.delete("EndpointSlice", name, namespace)
        except ApiError as e:
            if not is_not_found(e):
                raise
        self._note(key, None, f"{namespace}/{name}")

    async def _sync_endpoints(
        self, svc: Obj, groups: Mapping[GroupKey, Group], trigger: datetime | None
    ) -> None:
        wanted = annotate(endpoints_object(svc, groups), trigger)
        current = self.endpoints.cache.get(object_key(svc))
        if current is None:
            try:
                await self.client.create(wanted)
            except ApiError as e:
                if e.code != 409:
                    raise
                current = await self.client.get("Endpoints", name_of(svc), namespace_of(svc))
            else:
                return
        have_labels = labels_of(current)
        if (current.get("subsets") or []) == wanted["subsets"] and have_labels == (
            wanted["metadata"].get("labels") or {}
        ):
            return
        body = dict(wanted)
        body["metadata"] = {
            **meta(current),
            "labels": wanted["metadata"].get("labels") or None,
        }
        if "annotations" in wanted["metadata"]:
            body["metadata"]["annotations"] = {
                **(meta(current).get("annotations") or {}),
                **wanted["metadata"]["annotations"],
            }
        body["metadata"] = {k: v for k, v in body["metadata"].items() if v is not None}
        await self.client.replace(body)

    async def _service_gone(self, key: str, namespace: str, name: str) -> None:
        """The garbage collector would remove the slices (they are owned by the Service); the
        Endpoints are not owned, so they go here, and the slices with them without waiting."""
        self._written.pop(key, None)
        self.triggers.forget(key)
        for sl in self._own_slices(namespace, name):
            await self._delete_slice(key, namespace, name_of(sl))
        self._written.pop(key, None)
        if self.endpoints.cache.get(key) is not None:
            try:
                await self.client.delete("Endpoints", name, namespace)
            except ApiError as e:
                if not is_not_found(e):
                    raise
