"""kube-proxy's chain names, computed exactly as upstream does.

A per-service chain is a prefix plus the first 16 characters of base32(sha256(name + proto)),
which keeps names within iptables' 28-character limit and lets cleanup recognise its own chains
by prefix alone.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import NamedTuple

from kproxy.servicemodel import EndpointInfo, ServicePortName

# Top-level chains (filter and nat).
KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY"

# Per-service chain prefixes.
SVC_PREFIX = "KUBE-SVC-"
SVL_PREFIX = "KUBE-SVL-"
EXT_PREFIX = "KUBE-EXT-"
FW_PREFIX = "KUBE-FW-"
SEP_PREFIX = "KUBE-SEP-"
SERVICE_CHAIN_PREFIXES = (SVC_PREFIX, SVL_PREFIX, EXT_PREFIX, FW_PREFIX, SEP_PREFIX)

# iptables' XT_EXTENSION_MAXNAMELEN is 29 including the terminating NUL.
MAX_CHAIN_NAME = 28

# Caches hold the ~100k names of a 10k-service cluster; churn evicts the oldest.
_CACHE_SIZE = 1 << 18


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 alphabet, as Go's base32.StdEncoding
# Two base32 characters per 10 bits: 16 characters are exactly the first 80 bits (10 bytes).
_PAIRS = [_B32[i >> 5] + _B32[i & 31] for i in range(1024)]


def _hash16(text: str) -> str:
    """First 16 characters of base32(sha256(text)).

    Equal to ``base64.b32encode(digest)[:16]`` but ~3x faster (that encoder is pure Python),
    which matters when a full sync names 100k endpoint chains.
    """
    v = int.from_bytes(hashlib.sha256(text.encode()).digest()[:10], "big")
    p = _PAIRS
    return (
        p[v >> 70]
        + p[(v >> 60) & 1023]
        + p[(v >> 50) & 1023]
        + p[(v >> 40) & 1023]
        + p[(v >> 30) & 1023]
        + p[(v >> 20) & 1023]
        + p[(v >> 10) & 1023]
        + p[v & 1023]
    )


class ServiceChains(NamedTuple):
    """The four per-service chain names, which share one hash."""

    cluster: str  # KUBE-SVC-*: endpoints for Cluster traffic policy
    local: str  # KUBE-SVL-*: endpoints for Local traffic policy
    external: str  # KUBE-EXT-*: NodePort / external IP / LB IP entry
    firewall: str  # KUBE-FW-*: loadBalancerSourceRanges filter


@lru_cache(maxsize=_CACHE_SIZE)
def chains_for(port_name: str, protocol: str) -> ServiceChains:
    """Like service_chains(), from the name string and lowercase protocol (hot path)."""
    h = _hash16(port_name + protocol)
    return ServiceChains(SVC_PREFIX + h, SVL_PREFIX + h, EXT_PREFIX + h, FW_PREFIX + h)


@lru_cache(maxsize=_CACHE_SIZE)
def endpoint_chain_for(port_name: str, protocol: str, endpoint: str) -> str:
    """Like endpoint_chain(), from strings (hot path)."""
    return SEP_PREFIX + _hash16(port_name + protocol + endpoint)


def service_chains(name: ServicePortName) -> ServiceChains:
    """KUBE-SVC/SVL/EXT/FW names for a service port."""
    return chains_for(str(name), name.protocol.lower())


def endpoint_chain(name: ServicePortName, endpoint: EndpointInfo | str) -> str:
    """KUBE-SEP name for one endpoint ("ip:port") of a service port."""
    return endpoint_chain_for(str(name), name.protocol.lower(), str(endpoint))


def is_owned_chain(chain: str) -> bool:
    """True for the per-service chains kproxy creates and may delete when stale."""
    return chain.startswith(SERVICE_CHAIN_PREFIXES)


def check_chain_name(chain: str) -> None:
    """Raise ValueError for a name iptables would refuse."""
    if not chain or len(chain) > MAX_CHAIN_NAME:
        raise ValueError(f"chain name {chain!r} must be 1..{MAX_CHAIN_NAME} characters")
    if chain[0] in "-!" or any(c.isspace() for c in chain):
        raise ValueError(f"chain name {chain!r} may not start with -/! or contain spaces")
