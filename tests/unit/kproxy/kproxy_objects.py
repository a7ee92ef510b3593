"""API objects (plain dicts, as informers deliver them) for the proxier and tracker tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Obj = dict[str, Any]
Port = tuple[str, str, int]  # (name, protocol, port)


def service(
    name: str,
    cluster_ip: str,
    ports: Sequence[tuple[str, str, int] | tuple[str, str, int, int]] = (("http", "TCP", 80),),
    *,
    namespace: str = "default",
    type_: str = "ClusterIP",
    affinity_seconds: int | None = None,
    resource_version: str = "1",
    **spec: Any,
) -> Obj:
    svc_ports = []
    for p in ports:
        port: Obj = {"name": p[0], "protocol": p[1], "port": p[2], "targetPort": p[2]}
        if len(p) == 4:
            port["nodePort"] = p[3]
        svc_ports.append(port)
    body: Obj = {"type": type_, "clusterIP": cluster_ip, "ports": svc_ports, **spec}
    if affinity_seconds is not None:
        body["sessionAffinity"] = "ClientIP"
        body["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": affinity_seconds}}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": resource_version},
        "spec": body,
    }


def endpoint(
    ip: str, *, ready: bool | None = True, node: str | None = "node1", **conditions: bool
) -> Obj:
    cond: Obj = dict(conditions)
    if ready is not None:
        cond["ready"] = ready
    out: Obj = {"addresses": [ip], "conditions": cond}
    if node is not None:
        out["nodeName"] = node
    return out


def endpoint_slice(
    service_name: str,
    endpoints: Sequence[Obj],
    ports: Sequence[Port] = (("http", "TCP", 8080),),
    *,
    name: str | None = None,
    namespace: str = "default",
    address_type: str = "IPv4",
    labels: dict[str, str] | None = None,
) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name or f"{service_name}-abc",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name, **(labels or {})},
        },
        "addressType": address_type,
        "endpoints": list(endpoints),
        "ports": [{"name": n, "protocol": proto, "port": port} for n, proto, port in ports],
    }


def legacy_endpoints(
    name: str,
    ready: Sequence[str],
    not_ready: Sequence[str] = (),
    ports: Sequence[Port] = (("http", "TCP", 8080),),
    *,
    namespace: str = "default",
) -> Obj:
    subset: Obj = {
        "addresses": [{"ip": ip, "nodeName": "node1"} for ip in ready],
        "ports": [{"name": n, "protocol": proto, "port": port} for n, proto, port in ports],
    }
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": namespace},
        "subsets": [subset],
    }
