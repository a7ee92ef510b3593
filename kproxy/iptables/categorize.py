"""Which endpoints a service port's traffic may use (upstream's CategorizeEndpoints).

Only ready endpoints are used; when a policy has no ready endpoint at all, the serving-but-
terminating ones are used instead (KEP-1669), so a rolling update does not blackhole traffic.
Topology hints are not modelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kproxy.servicemodel import EndpointInfo, ServicePortInfo


@dataclass(frozen=True)
class Categorized:
    cluster: tuple[EndpointInfo, ...]  # for Cluster traffic policy
    local: tuple[EndpointInfo, ...]  # for Local traffic policy (this node only)
    reachable: tuple[EndpointInfo, ...]  # union of both: the endpoints that get a SEP chain
    has_any: bool  # usable endpoints exist somewhere in the cluster


def _serving_terminating(ep: EndpointInfo) -> bool:
    return ep.serving and ep.terminating


def _unique(endpoints: Sequence[EndpointInfo]) -> tuple[EndpointInfo, ...]:
    # Two slices may list the same ip:port; it must get one SEP chain, as upstream's map does.
    first: dict[str, EndpointInfo] = {}
    for ep in endpoints:
        first.setdefault(ep.endpoint, ep)
    return tuple(first.values())


def categorize_endpoints(info: ServicePortInfo, endpoints: Sequence[EndpointInfo]) -> Categorized:
    endpoints = _unique(endpoints)
    cluster: tuple[EndpointInfo, ...] = ()
    has_any = False
    if info.uses_cluster_endpoints:
        cluster = tuple(ep for ep in endpoints if ep.ready)
        if not cluster:
            cluster = tuple(ep for ep in endpoints if _serving_terminating(ep))
        has_any = bool(cluster)

    if not info.uses_local_endpoints:
        return Categorized(cluster, (), cluster, has_any)

    local_ready = False
    local_terminating = False
    for ep in endpoints:
        if ep.ready:
            has_any = True
            local_ready = local_ready or ep.is_local
        elif _serving_terminating(ep):
            has_any = True
            local_terminating = local_terminating or ep.is_local

    local: tuple[EndpointInfo, ...] = ()
    if local_ready:
        local = tuple(ep for ep in endpoints if ep.is_local and ep.ready)
    elif local_terminating:
        local = tuple(ep for ep in endpoints if ep.is_local and _serving_terminating(ep))

    if not info.uses_cluster_endpoints:
        return Categorized((), local, local, has_any)

    # Local may hold terminating endpoints that Cluster skipped; merge, keeping order.
    seen = {ep.endpoint for ep in cluster}
    reachable = cluster + tuple(ep for ep in local if ep.endpoint not in seen)
    return Categorized(cluster, local, reachable, has_any)
