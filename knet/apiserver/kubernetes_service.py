"""The ``default/kubernetes`` Service and its endpoints: how in-cluster clients find the API.

As upstream's bootstrap controller and lease endpoint reconciler: the Service has the first
address of the Service range and port 443 named ``https`` whose targetPort is the API servers'
port; its Endpoints and EndpointSlice (both named ``kubernetes``) list every API server that is
alive. "Alive" is a lease: each API server renews a Lease in kube-system for its advertised
address every ``RECONCILE_INTERVAL`` seconds, and every API server writes the endpoints from the
leases not yet expired, so a control plane of several API servers converges on all of them and
drops one that stops renewing (upstream keeps these leases as TTL keys in etcd; a Lease object
is the same idea, visible with kubectl). A server that stops cleanly removes itself at once.

Pure: the object builders and ``live_endpoints``. ``KubernetesServiceReconciler`` does the I/O
through ``Resources``, so the writes are validated and watched like any client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from knet.api import registry
from knet.api.times import micro_time, parse_time_or_none
from knet.apiserver.deletion import DeleteOptions
from knet.apiserver.errors import ApiError
from knet.apiserver.resources import Resources

log = logging.getLogger("knet.apiserver.kubernetes_service")

NAME = "kubernetes"
NAMESPACE = "default"
LEASE_NAMESPACE = "kube-system"
IDENTITY_LABEL = "apiserver.kubernetes.io/identity"
IDENTITY = "kube-apiserver"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
RECONCILE_INTERVAL = 10.0  # seconds, upstream's endpoint reconciler interval
LEASE_SECONDS = 15  # upstream's master lease TTL
PORT_NAME = "https"
SERVICE_PORT = 443


def first_address(service_cidr: str) -> str:
    """The Service range's first host address: the ``kubernetes`` Service's ClusterIP."""
    net = ipaddress.ip_network(service_cidr, strict=False)
    return str(net.network_address + 1)


def service_object(cluster_ip: str, target_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": SERVICE_PORT,
                    "protocol": "TCP",
                    "targetPort": target_port,
                }
            ],
            "sessionAffinity": "None",
        },
    }


def endpoints_object(addresses: Iterable[str], port: int) -> dict[str, Any]:
    ips = sorted(set(addresses), key=ipaddress.ip_address)
    subsets = (
        [
            {
                "addresses": [{"ip": ip} for ip in ips],
                "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
            }
        ]
        if ips
        else []
    )
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "subsets": subsets,
    }


def endpoint_slice_object(addresses: Iterable[str], port: int) -> dict[str, Any]:
    ips = sorted(set(addresses), key=ipaddress.ip_address)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {SERVICE_NAME_LABEL: NAME},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
        "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
    }


def lease_name(address: str, port: int) -> str:
    digest = hashlib.sha256(f"{address}:{port}".encode()).hexdigest()[:16]
    return f"kube-apiserver-{digest}"


def lease_object(address: str, port: int, now: float) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": lease_name(address, port),
            "namespace": LEASE_NAMESPACE,
            "labels": {IDENTITY_LABEL: IDENTITY},
        },
        "spec": {
            "holderIdentity": f"{address}:{port}",
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": micro_time(now),
        },
    }


def live_endpoints(leases: Iterable[Mapping[str, Any]], now: float) -> list[str]:
    """The addresses of the API servers whose lease has not expired at ``now``."""
    alive: set[str] = set()
    for lease in leases:
        if (lease.get("metadata", {}).get("labels") or {}).get(IDENTITY_LABEL) != IDENTITY:
            continue
        spec = lease.get("spec") or {}
        renewed = parse_time_or_none(spec.get("renewTime"))
        holder = str(spec.get("holderIdentity") or "")
        address = holder.rpartition(":")[0]
        if renewed is None or not address:
            continue
        if renewed.timestamp() + float(spec.get("leaseDurationSeconds") or 0) < now:
            continue
        with contextlib.suppress(ValueError):
            alive.add(str(ipaddress.ip_address(address)))
    return sorted(alive, key=ipaddress.ip_address)


def _differs(current: Mapping[str, Any], wanted: Mapping[str, Any], fields: Iterable[str]) -> bool:
    if any(current.get(f) != wanted.get(f) for f in fields):
        return True
    labels = current.get("metadata", {}).get("labels") or {}
    return any(labels.get(k) != v for k, v in (wanted["metadata"].get("labels") or {}).items())


class KubernetesServiceReconciler:
    """Keeps this API server's lease, the Service, and its endpoints, every interval."""

    def __init__(
        self,
        resources: Resources,
        service_cidr: str,
        address: str,
        port: int,
        interval: float = RECONCILE_INTERVAL,
    ) -> None:
        self.resources = resources
        self.cluster_ip = first_address(service_cidr)
        self.address = address
        self.port = port
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        """Stop, and take this server out of the endpoints (a clean stop needs no expiry)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        try:
            await self._delete_lease()
            await self.reconcile_endpoints(exclude_self=True)
        except Exception:  # stopping anyway: the lease expires on its own
            log.warning("could not take this API server out of the kubernetes endpoints")

    async def _loop(self) -> None:
        while True:
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store may be away; the next round tries again
                log.exception("reconciling the kubernetes Service failed")
            await asyncio.sleep(self.interval)

    async def reconcile(self) -> None:
        await self._renew_lease()
        await self._ensure(
            "Service", service_object(self.cluster_ip, self.port), ("spec",), spec_ports=True
        )
        await self.reconcile_endpoints()

    async def reconcile_endpoints(self, exclude_self: bool = False) -> None:
        info = registry.by_kind("Lease")
        leases, _ = await self.resources.list_objects(info, LEASE_NAMESPACE)
        addresses = set(live_endpoints(leases, time.time()))
        if exclude_self:
            addresses.discard(self.address)
        else:
            addresses.add(self.address)
        await self._ensure("Endpoints", endpoints_object(addresses, self.port), ("subsets",))
        await self._ensure(
            "EndpointSlice",
            endpoint_slice_object(addresses, self.port),
            ("addressType", "endpoints", "ports"),
        )

    async def _renew_lease(self) -> None:
        wanted = lease_object(self.address, self.port, time.time())
        info = registry.by_kind("Lease")
        name = wanted["metadata"]["name"]

        def renew(current: dict[str, Any]) -> dict[str, Any]:
            current["spec"] = wanted["spec"]
            current["metadata"].setdefault("labels", {}).update(wanted["metadata"]["labels"])
            return current

        try:
            await self.resources.guaranteed_update(info, LEASE_NAMESPACE, name, renew)
        except ApiError as e:
            if e.code != 404:
                raise
            await self.resources.create(info, LEASE_NAMESPACE, wanted)

    async def _delete_lease(self) -> None:
        info = registry.by_kind("Lease")
        name = lease_name(self.address, self.port)
        await self.resources.delete(info, LEASE_NAMESPACE, name, DeleteOptions())

    async def _ensure(
        self,
        kind: str,
        wanted: dict[str, Any],
        fields: tuple[str, ...],
        spec_ports: bool = False,
    ) -> None:
        """Create ``wanted``, or bring the fields we own back to it (the Service: only its
        ports and ClusterIP, so that defaults the server filled in are not fought over)."""
        info = registry.by_kind(kind)
        try:
            current = await self.resources.get(info, NAMESPACE, NAME)
        except ApiError as e:
            if e.code != 404:
                raise
            with contextlib.suppress(ApiError):  # another API server made it first
                await self.resources.create(info, NAMESPACE, wanted)
            return
        if spec_ports:
            spec = current.get("spec") or {}
            if spec.get("ports") == wanted["spec"]["ports"]:
                return

            def fix_ports(obj: dict[str, Any]) -> dict[str, Any]:
                obj["spec"]["ports"] = wanted["spec"]["ports"]
                return obj

            await self.resources.guaranteed_update(info, NAMESPACE, NAME, fix_ports)
            return
        if not _differs(current, wanted, fields):
            return

        def overwrite(obj: dict[str, Any]) -> dict[str, Any]:
            for f in fields:
                obj[f] = wanted[f]
            obj["metadata"].setdefault("labels", {}).update(wanted["metadata"].get("labels") or {})
            return obj

        await self.resources.guaranteed_update(info, NAMESPACE, NAME, overwrite)
