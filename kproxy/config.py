"""kproxy's configuration (the subset of KubeProxyConfiguration that the iptables mode uses)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class ProxyConfig:
    """Per-node settings, with kube-proxy's defaults.

    ``cluster_cidr`` drives the "local traffic detector": traffic to a ClusterIP from outside
    this CIDR is masqueraded. Without it (and without ``masquerade_all``) no such rule is
    written, as upstream does when no detector is configured.
    ``nodeport_addresses`` empty means NodePorts answer on every local address.
    """

    node_name: str
    node_ips: tuple[str, ...] = ()
    cluster_cidr: str | None = None
    masquerade_all: bool = False
    masquerade_bit: int = 14
    nodeport_addresses: tuple[str, ...] = ()
    masquerade_random_fully: bool = False
    conntrack_tcp_liberal: bool = False
    min_sync_period: float = 1.0
    sync_period: float = 30.0

    def __post_init__(self) -> None:
        if not self.node_name:
            raise ValueError("node_name must not be empty")
        for ip in self.node_ips:
            try:
                ipaddress.IPv4Address(ip)
            except ValueError:
                raise ValueError(f"node_ips: {ip!r} is not an IPv4 address") from None
        for cidr in (self.cluster_cidr, *self.nodeport_addresses):
            if cidr is None:
                continue
            try:
                ipaddress.IPv4Network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an IPv4 CIDR") from None
        if not 0 <= self.masquerade_bit <= 31:
            raise ValueError(f"masquerade_bit {self.masquerade_bit} must be in 0..31")
        if self.min_sync_period < 0 or self.sync_period <= 0:
            raise ValueError("sync periods must be positive")

    @property
    def masquerade_mark(self) -> str:
        """The mark value as the rules spell it, e.g. ``0x4000`` for bit 14."""
        return hex(1 << self.masquerade_bit)

    def nodeport_ips(self) -> tuple[str, ...]:
        """Node IPs inside ``nodeport_addresses`` (empty tuple when every address is used)."""
        if not self.nodeport_addresses:
            return ()
        nets = [ipaddress.IPv4Network(c, strict=False) for c in self.nodeport_addresses]
        picked = []
        for ip in self.node_ips:
            addr = ipaddress.IPv4Address(ip)
            # Localhost NodePorts need route_localnet, which kproxy does not turn on.
            if not addr.is_loopback and any(addr in net for net in nets):
                picked.append(ip)
        return tuple(picked)
