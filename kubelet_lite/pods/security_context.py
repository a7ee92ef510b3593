"""A container's securityContext (merged over the pod's) as the runtime applies it. Pure.

runAsUser/runAsGroup/supplementalGroups (and fsGroup as a supplementary group; the volumes'
group ownership is volumes/pod_volumes.py's), runAsNonRoot
(refused as the kubelet refuses it), privileged (every capability), capabilities add/drop over
containerd's default set, allowPrivilegeEscalation: false (no_new_privs), and
readOnlyRootFilesystem. The fields not carried out are returned by path, for an Event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelet_lite.pods.container_spec import ContainerConfigError
from kubelet_lite.runtime.security import (
    CAP_NUMBER,
    CAPABILITIES,
    DEFAULT_CAPABILITIES,
    SecurityPlan,
)

NOT_HONOURED = (
    "seLinuxOptions",
    "seccompProfile",
    "appArmorProfile",
    "windowsOptions",
    "procMount",
    "sysctls",
    "fsGroupChangePolicy",
    "supplementalGroupsPolicy",
)


@dataclass(frozen=True)
class ContainerSecurity:
    plan: SecurityPlan
    read_only_root: bool = False
    not_honoured: list[str] = field(default_factory=list)


def _cap_name(raw: Any, where: str) -> str:
    name = str(raw).upper().removeprefix("CAP_")
    if name != "ALL" and name not in CAP_NUMBER:
        raise ContainerConfigError(f"{where}: unknown capability {raw!r}")
    return name


def capabilities(caps: Mapping[str, Any] | None, where: str) -> tuple[str, ...]:
    """containerd's default set, minus ``drop``, plus ``add`` ("ALL" in either: all)."""
    caps = caps or {}
    drop = [_cap_name(c, f"{where}.drop") for c in caps.get("drop") or []]
    add = [_cap_name(c, f"{where}.add") for c in caps.get("add") or []]
    keep = [] if "ALL" in drop else [c for c in DEFAULT_CAPABILITIES if c not in drop]
    if "ALL" in add:
        return tuple(CAPABILITIES)
    return tuple(sorted(set(keep) | set(add), key=CAP_NUMBER.__getitem__))


def container_security(
    pod_sc: Mapping[str, Any] | None,
    c_sc: Mapping[str, Any] | None,
    container: str,
    pod_label: str,
) -> ContainerSecurity:
    """Raises ContainerConfigError (runAsNonRoot broken, unknown capability)."""
    psc, csc = pod_sc or {}, c_sc or {}

    def pick(key: str) -> Any:
        return csc[key] if csc.get(key) is not None else psc.get(key)

    uid, gid = pick("runAsUser"), pick("runAsGroup")
    if pick("runAsNonRoot"):
        who = f'(pod: "{pod_label}", container: {container})'
        if uid is None:
            raise ContainerConfigError(
                f"container has runAsNonRoot and image will run as root {who}"
            )
        if uid == 0:
            raise ContainerConfigError(f"container's runAsUser breaks non-root policy {who}")
    groups = [int(g) for g in psc.get("supplementalGroups") or []]
    if psc.get("fsGroup") is not None:
        groups.append(int(psc["fsGroup"]))
    where = f"spec.containers[{container}].securityContext"
    not_honoured = [f"spec.securityContext.{k}" for k in NOT_HONOURED if psc.get(k)]
    not_honoured += [f"{where}.{k}" for k in NOT_HONOURED if csc.get(k)]
    privileged = bool(csc.get("privileged"))
    plan = SecurityPlan(
        uid=int(uid) if uid is not None else None,
        gid=int(gid) if gid is not None else None,
        groups=tuple(dict.fromkeys(groups)),
        no_new_privs=csc.get("allowPrivilegeEscalation") is False,
        capabilities=None if privileged else capabilities(csc.get("capabilities"), where),
    )
    return ContainerSecurity(plan, bool(csc.get("readOnlyRootFilesystem")), not_honoured)
