"""Pod CIDRs for nodes: a cluster CIDR cut into equal subnets, each handed out once. Pure.

As upstream's cidrset: the search for a free subnet starts after the last one handed out, so a
released subnet is not reused at once (a node that comes back soon after its deletion does not
get a subnet whose routes may still linger elsewhere).
"""

from __future__ import annotations

import ipaddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_SUBNET_BITS = 16  # upstream refuses more than 2^16 subnets per cluster CIDR


class CidrExhaustedError(Exception):
    """Every subnet of the cluster CIDR is taken."""


class CidrSet:
    def __init__(self, cluster_cidr: str, node_mask_size: int) -> None:
        try:
            self.cluster = ipaddress.ip_network(cluster_cidr, strict=True)
        except ValueError as e:
            raise ValueError(f"invalid --cluster-cidr {cluster_cidr!r}: {e}") from None
        prefix = self.cluster.prefixlen
        if not prefix <= node_mask_size <= self.cluster.max_prefixlen:
            raise ValueError(
                f"--node-cidr-mask-size {node_mask_size} must be between the cluster CIDR's "
                f"prefix length ({prefix}) and {self.cluster.max_prefixlen}"
            )
        if node_mask_size - prefix > MAX_SUBNET_BITS:
            raise ValueError(
                f"--node-cidr-mask-size {node_mask_size} cuts {cluster_cidr} into more than "
                f"2^{MAX_SUBNET_BITS} subnets; use a larger mask size difference of at most "
                f"{MAX_SUBNET_BITS}"
            )
        self.node_mask_size = node_mask_size
        self.capacity = 1 << (node_mask_size - prefix)
        self._step = 1 << (self.cluster.max_prefixlen - node_mask_size)
        self._used: set[int] = set()
        self._next = 0

    def _subnet(self, index: int) -> IPNetwork:
        base = int(self.cluster.network_address) + index * self._step
        return ipaddress.ip_network(f"{ipaddress.ip_address(base)}/{self.node_mask_size}")

    def _index(self, cidr: str) -> int:
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError as e:
            raise ValueError(f"invalid CIDR {cidr!r}: {e}") from None
        if net.version != self.cluster.version or net.prefixlen != self.node_mask_size:
            raise ValueError(f"{cidr} is not a /{self.node_mask_size} of {self.cluster}")
        if not net.subnet_of(self.cluster):  # type: ignore[arg-type]
            raise ValueError(f"{cidr} is outside the cluster CIDR {self.cluster}")
        return (int(net.network_address) - int(self.cluster.network_address)) // self._step

    def allocate_next(self) -> str:
        if len(self._used) >= self.capacity:
            raise CidrExhaustedError(
                f"no free /{self.node_mask_size} left in {self.cluster} "
                f"({self.capacity} are all in use)"
            )
        for offset in range(self.capacity):
            index = (self._next + offset) % self.capacity
            if index not in self._used:
                self._used.add(index)
                self._next = (index + 1) % self.capacity
                return str(self._subnet(index))
        raise CidrExhaustedError(f"no free subnet in {self.cluster}")  # unreachable

    def occupy(self, cidr: str) -> None:
        """Mark a subnet already in use (rebuilding from existing Nodes); idempotent."""
        self._used.add(self._index(cidr))

    def release(self, cidr: str) -> None:
        self._used.discard(self._index(cidr))

    def is_used(self, cidr: str) -> bool:
        return self._index(cidr) in self._used

    def in_use(self) -> int:
        return len(self._used)
