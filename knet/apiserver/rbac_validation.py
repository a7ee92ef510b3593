"""Name rules for the RBAC kinds: upstream validates their names only as path segments (so
`system:node-proxier` is valid), not as DNS names. Pure."""

from __future__ import annotations


def path_segment_name_errors(name: str) -> list[str]:
    """Upstream's ValidatePathSegmentName; and no NUL, which no store key may hold."""
    if name in (".", ".."):
        return [f'may not be "{name}"']
    out = [f'may not contain "{bad}"' for bad in ("/", "%") if bad in name]
    if "\x00" in name:
        out.append("may not contain a NUL character")
    return out


RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
