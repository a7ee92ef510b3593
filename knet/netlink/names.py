"""Deterministic, short names for what we create: interfaces (<= 15 chars) and namespaces.

Names are derived from the pod UID by hash, so any pod name or UID, however long or odd, maps to
a valid, stable name, and cleanup can recognise our objects by prefix.
"""

from __future__ import annotations

import hashlib
import re

# Linux IFNAMSIZ is 16 including the terminating NUL.
IFNAME_MAX = 15
NETNS_NAME_MAX = 200  # a file name under /run/netns; keep well below NAME_MAX (255)

VETH_HASH_LEN = 10
NETNS_HASH_LEN = 12

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_NETNS_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_IFNAME_BAD = frozenset("/: \t\n\r\x00")


def _digest(*parts: str) -> str:
    # NUL separates parts so ("a", "bc") and ("ab", "c") hash differently.
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def validate_ifname(name: str) -> str:
    """Return ``name`` if the kernel accepts it as an interface name, else raise ValueError."""
    if not isinstance(name, str) or not name:
        raise ValueError("interface name must be a non-empty string")
    if len(name) > IFNAME_MAX:
        raise ValueError(f"interface name {name!r} is longer than {IFNAME_MAX} characters")
    if name in (".", "..") or any(ch in _IFNAME_BAD for ch in name) or not name.isprintable():
        raise ValueError(f"interface name {name!r} contains characters the kernel rejects")
    return name


def validate_netns_name(name: str) -> str:
    """Return ``name`` if it is a safe file name under /run/netns, else raise ValueError."""
    if not isinstance(name, str) or not name:
        raise ValueError("network namespace name must be a non-empty string")
    if len(name) > NETNS_NAME_MAX:
        raise ValueError(f"network namespace name is longer than {NETNS_NAME_MAX} characters")
    if not _NETNS_RE.fullmatch(name):
        raise ValueError(
            f"network namespace name {name!r} must match {_NETNS_RE.pattern} "
            "(no slashes, spaces or leading dots)"
        )
    return name


def validate_prefix(prefix: str, max_len: int) -> str:
    if not _PREFIX_RE.fullmatch(prefix) or len(prefix) > max_len:
        raise ValueError(
            f"name prefix {prefix!r} must be 1..{max_len} chars of [a-z0-9-], "
            "starting with a letter"
        )
    return prefix


def veth_name(pod_uid: str, ifname: str = "eth0", prefix: str = "kv") -> str:
    """Host-side veth name for (pod, container interface): ``prefix`` + 10 hex chars."""
    if not pod_uid:
        raise ValueError("pod UID must not be empty")
    validate_prefix(prefix, IFNAME_MAX - VETH_HASH_LEN)
    return prefix + _digest(pod_uid, ifname)[:VETH_HASH_LEN]


def netns_name(pod_uid: str, prefix: str = "kl-") -> str:
    """Pod network namespace name: ``prefix`` + 12 hex chars of the UID's hash."""
    if not pod_uid:
        raise ValueError("pod UID must not be empty")
    validate_prefix(prefix, 40)
    return prefix + _digest(pod_uid)[:NETNS_HASH_LEN]
