"""The synthetic cluster the lab programs: N Services with M endpoints each. PURE.

Service ``i`` is ``lab/svc-<i, 7 digits>`` with one TCP port 80 and ClusterIP ``10.96.0.0/12``
+ 1 + i; its endpoints are consecutive addresses in ``10.128.0.0/9`` on port 8080. Names are
zero-padded so the proxier's order (by namespace and name) is the index order: service 0 is the
first rule of nat KUBE-SERVICES and the highest index the last. Every endpoint address is
routable in the lab's data plane (the server pod answers for the whole /9), so any Service can
be connected to.

Objects are plain dicts shaped as informers deliver them; ``model`` gives the same cluster as
the typed maps ``render`` takes (a unit test holds the two to agree).
"""

from __future__ import annotations

import time
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from kproxy.provider import ProxyProvider
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName

NAMESPACE = "lab"
PORT_NAME = "http"
SERVICE_PORT = 80
TARGET_PORT = 8080
NODE_NAME = "kt-lab-node"

SERVICE_CIDR = IPv4Network("10.96.0.0/12")
ENDPOINT_CIDR = IPv4Network("10.128.0.0/9")
# The last addresses of ENDPOINT_CIDR are kept for the endpoint swapped in by partial syncs.
_SPARE_ENDPOINTS = 256
MAX_SERVICES = SERVICE_CIDR.num_addresses - 2 - 1  # one more is added by the partial sync
MAX_ENDPOINTS = ENDPOINT_CIDR.num_addresses - 2 - _SPARE_ENDPOINTS

Obj = dict[str, Any]


def check_size(services: int, endpoints: int) -> None:
    """ValueError unless the address plan has room for ``services`` x ``endpoints`` (+1)."""
    if services < 1 or endpoints < 1:
        raise ValueError(f"need at least 1 service and 1 endpoint, not {services} x {endpoints}")
    if services > MAX_SERVICES:
        raise ValueError(f"{services} services do not fit {SERVICE_CIDR} (max {MAX_SERVICES})")
    if (services + 1) * endpoints > MAX_ENDPOINTS:
        raise ValueError(
            f"{services} x {endpoints} endpoints do not fit {ENDPOINT_CIDR} (max {MAX_ENDPOINTS})"
        )


def service_name(i: int) -> str:
    return f"svc-{i:07d}"


def cluster_ip(i: int) -> str:
    return str(SERVICE_CIDR.network_address + 1 + i)


def endpoint_ip(i: int, j: int, endpoints: int) -> str:
    """Address of endpoint ``j`` of service ``i`` when every service has ``endpoints``."""
    return str(ENDPOINT_CIDR.network_address + 1 + i * endpoints + j)


def spare_endpoint_ip(k: int) -> str:
    """An address no service uses: the replacement endpoint of partial-sync round ``k``."""
    if not 0 <= k < _SPARE_ENDPOINTS:
        raise ValueError(f"spare endpoint {k} out of range 0..{_SPARE_ENDPOINTS - 1}")
    return str(ENDPOINT_CIDR.broadcast_address - _SPARE_ENDPOINTS + k)


def service_object(i: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service_name(i), "namespace": NAMESPACE},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip(i),
            "ports": [
                {
                    "name": PORT_NAME,
                    "protocol": "TCP",
                    "port": SERVICE_PORT,
                    "targetPort": TARGET_PORT,
                }
            ],
        },
    }


def slice_object(i: int, endpoints: int, replace_first: str | None = None) -> Obj:
    """Service ``i``'s EndpointSlice; ``replace_first`` swaps its first endpoint's address."""
    addresses = [endpoint_ip(i, j, endpoints) for j in range(endpoints)]
    if replace_first is not None:
        addresses[0] = replace_first
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service_name(i)}-lab",
            "namespace": NAMESPACE,
            "labels": {"kubernetes.io/service-name": service_name(i)},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": True}, "nodeName": "kt-lab-other"}
            for ip in addresses
        ],
        "ports": [{"name": PORT_NAME, "protocol": "TCP", "port": TARGET_PORT}],
    }


def port_name(i: int) -> ServicePortName:
    return ServicePortName(NAMESPACE, service_name(i), PORT_NAME, "TCP")


def model(
    services: int, endpoints: int
) -> tuple[dict[ServicePortName, ServicePortInfo], dict[ServicePortName, tuple[EndpointInfo, ...]]]:
    """The same cluster as the objects, as ``render``'s input."""
    check_size(services, endpoints)
    svcs: dict[ServicePortName, ServicePortInfo] = {}
    eps: dict[ServicePortName, tuple[EndpointInfo, ...]] = {}
    for i in range(services):
        name = port_name(i)
        svcs[name] = ServicePortInfo(cluster_ip(i), SERVICE_PORT, target_port=TARGET_PORT)
        eps[name] = tuple(
            EndpointInfo(endpoint_ip(i, j, endpoints), TARGET_PORT, node_name="kt-lab-other")
            for j in range(endpoints)
        )
    return svcs, eps


def is_endpoint_ip(ip: str) -> bool:
    return IPv4Address(ip) in ENDPOINT_CIDR


def feed(proxier: ProxyProvider, services: int, endpoints: int) -> float:
    """Hand a proxier the informer events for the whole workload, then "synced" for both
    kinds, as its informers would after their first list; returns the seconds it took."""
    started = time.perf_counter()
    for i in range(services):
        proxier.on_service_add(service_object(i))
        proxier.on_endpoint_slice_add(slice_object(i, endpoints))
    proxier.on_services_synced()
    proxier.on_endpoint_slices_synced()
    return time.perf_counter() - started
