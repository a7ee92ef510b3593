"""kube-proxy's internal service model: what the rule renderer works from.

These are the typed, already-validated facts about one service port and its endpoints, after the
API objects (Service, EndpointSlice) have been translated. Everything is frozen so values can be
shared between the change trackers, the renderer and tests without copying.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

PROTOCOLS = ("TCP", "UDP", "SCTP")

# Kubernetes object names (DNS labels/subdomains) and port names (IANA service names). Holding
# them to these characters means names never need escaping inside iptables comments.
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_PORT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

# Kubernetes limits ClientIP affinity to one day (validateAffinityTimeout).
MAX_AFFINITY_SECONDS = 86400
DEFAULT_AFFINITY_SECONDS = 10800


def _check_ip(value: str, what: str) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not an IPv4 address") from None


def _check_port(value: int, what: str, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 65535:
        raise ValueError(f"{what}: {value!r} is not a port number ({low}-65535)")


def _check_protocol(value: str) -> None:
    if value not in PROTOCOLS:
        raise ValueError(f"protocol {value!r} is not one of {', '.join(PROTOCOLS)}")


@dataclass(frozen=True, order=True)
class ServicePortName:
    """Identifies one port of one service: the unit kube-proxy load-balances."""

    namespace: str
    name: str
    port_name: str = ""
    protocol: str = "TCP"

    def __post_init__(self) -> None:
        for value in (self.namespace, self.name):
            if not _OBJECT_NAME.fullmatch(value) or len(value) > 253:
                raise ValueError(f"{value!r} is not a valid namespace/service name ({self!r})")
        if self.port_name and not _PORT_NAME.fullmatch(self.port_name):
            raise ValueError(f"{self.port_name!r} is not a valid port name ({self!r})")
        _check_protocol(self.protocol)

    def __str__(self) -> str:
        # Upstream's ServicePortName.String(): the ":port" suffix only when the port is named.
        if self.port_name:
            return f"{self.namespace}/{self.name}:{self.port_name}"
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ServicePortInfo:
    """One service port as the proxier sees it.

    ``health_check_node_port`` should only be set when upstream's NeedsHealthCheck holds
    (type LoadBalancer with externalTrafficPolicy Local); the translation layer decides that.
    """

    cluster_ip: str
    port: int
    protocol: str = "TCP"
    node_port: int = 0
    target_port: int | str | None = None
    session_affinity_timeout: int | None = None
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()
    load_balancer_source_ranges: tuple[str, ...] = ()
    external_traffic_policy_local: bool = False
    internal_traffic_policy_local: bool = False
    health_check_node_port: int = 0

    def __post_init__(self) -> None:
        _check_ip(self.cluster_ip, "cluster_ip")
        _check_port(self.port, "port")
        _check_protocol(self.protocol)
        _check_port(self.node_port, "node_port", allow_zero=True)
        _check_port(self.health_check_node_port, "health_check_node_port", allow_zero=True)
        for ip in self.external_ips:
            _check_ip(ip, "external_ips")
        for ip in self.load_balancer_ips:
            _check_ip(ip, "load_balancer_ips")
        for cidr in self.load_balancer_source_ranges:
            try:
                ipaddress.IPv4Network(cidr.strip(), strict=False)
            except ValueError:
                raise ValueError(f"load_balancer_source_ranges: {cidr!r} is not a CIDR") from None
        timeout = self.session_affinity_timeout
        if timeout is not None and not 0 < timeout <= MAX_AFFINITY_SECONDS:
            raise ValueError(
                f"session_affinity_timeout {timeout!r} must be in 1..{MAX_AFFINITY_SECONDS}"
            )

    @property
    def externally_accessible(self) -> bool:
        """NodePort, external IPs or load-balancer IPs: traffic that uses the EXT chain."""
        return bool(self.node_port or self.external_ips or self.load_balancer_ips)

    @property
    def external_policy_local(self) -> bool:
        # Upstream only honours externalTrafficPolicy for externally reachable services.
        return self.external_traffic_policy_local and self.externally_accessible

    @property
    def uses_cluster_endpoints(self) -> bool:
        # Even with ETP Local, external traffic from local sources is short-circuited to the
        # cluster-wide chain, so externally reachable services always need it.
        return not self.internal_traffic_policy_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_traffic_policy_local or self.external_policy_local


@dataclass(frozen=True)
class EndpointInfo:
    """One backend address of a service port, with EndpointSlice conditions."""

    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str | None = None
    is_local: bool = False
    # "ip:port", computed once: rendering uses it several times per endpoint.
    endpoint: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_ip(self.ip, "endpoint ip")
        _check_port(self.port, "endpoint port")
        object.__setattr__(self, "endpoint", f"{self.ip}:{self.port}")

    def __str__(self) -> str:
        return self.endpoint
