"""A container's security context, applied by its own process as the last step before exec
(after its namespaces and mounts, which need the privileges it gives up here).

In order: the capability bounding set cut down to what the container keeps (unless it is
privileged), its supplementary groups, gid and uid, the effective/permitted/inheritable sets
(a root process that runs a built-in program execs nothing, so the bounding set alone would
not take them away), and ``no_new_privs`` when privilege escalation is not allowed.

Standard library only (ctypes for capset and prctl).
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from typing import Any

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
LINUX_CAPABILITY_VERSION_3 = 0x20080522

CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]
CAP_NUMBER = {name: n for n, name in enumerate(CAPABILITIES)}
# What containerd gives a container that is not privileged.
DEFAULT_CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
]


@dataclass(frozen=True)
class SecurityPlan:
    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] = ()
    no_new_privs: bool = False
    capabilities: tuple[str, ...] | None = None  # None: all of them (privileged)

    def to_wire(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "gid": self.gid,
            "groups": list(self.groups),
            "noNewPrivs": self.no_new_privs,
            "capabilities": list(self.capabilities) if self.capabilities is not None else None,
        }


def _id(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32 - 1:
        raise ValueError(f"security.{what} must be a user or group id")
    return value


def plan_from_wire(doc: Any) -> SecurityPlan | None:
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ValueError("security must be an object")
    caps = doc.get("capabilities")
    if caps is not None and (not isinstance(caps, list) or not all(c in CAP_NUMBER for c in caps)):
        raise ValueError("security.capabilities must name Linux capabilities")
    groups = [_id(g, "groups") for g in doc.get("groups") or []]
    return SecurityPlan(
        uid=_id(doc.get("uid"), "uid"),
        gid=_id(doc.get("gid"), "gid"),
        groups=tuple(g for g in groups if g is not None),
        no_new_privs=bool(doc.get("noNewPrivs")),
        capabilities=tuple(caps) if caps is not None else None,
    )


def _libc() -> Any:
    from kubelet_lite.runtime.launch import libc

    return libc()


def _check(rc: int, what: str) -> None:
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def cap_mask(names: tuple[str, ...]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << CAP_NUMBER[name]
    return mask


def _capset(mask: int) -> None:
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        word = (mask >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = data[i].inheritable = word
    _check(_libc().capset(ctypes.byref(header), data), "capset")


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return len(CAPABILITIES) - 1


def apply(plan: SecurityPlan) -> None:
    """Raises OSError."""
    keep = cap_mask(plan.capabilities) if plan.capabilities is not None else None
    if keep is not None:
        for n in range(_last_cap() + 1):
            if not keep & (1 << n):
                _check(_libc().prctl(PR_CAPBSET_DROP, n, 0, 0, 0), f"dropping capability {n}")
    if plan.groups or plan.gid is not None:
        os.setgroups(list(plan.groups))
    if plan.gid is not None:
        os.setgid(plan.gid)
    if plan.uid is not None:
        os.setuid(plan.uid)  # a non-root uid loses its capabilities here
    if keep is not None and (plan.uid is None or plan.uid == 0):
        _capset(keep)
    if plan.no_new_privs:
        _check(_libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl no_new_privs")
