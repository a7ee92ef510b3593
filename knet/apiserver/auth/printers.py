"""`kubectl get` columns for RoleBindings and ClusterRoleBindings, as upstream prints them
(Roles and ClusterRoles use the default NAME / CREATED AT, as upstream's do). Registered into
the shared printer tables (idempotently) when the chain is set up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from knet.apiserver import printcells as cells
from knet.apiserver import printers as p

_BINDING_COLUMNS = (
    cells._col("Name", cells._NAME_DESC),
    cells._col("Role", "The role the binding grants, as Kind/name."),
    cells._col("Age", cells._AGE_DESC),
    cells._col("Users", "Users bound.", priority=1),
    cells._col("Groups", "Groups bound.", priority=1),
    cells._col("ServiceAccounts", "ServiceAccounts bound, as namespace/name.", priority=1),
)


def _binding_cells(b: dict[str, Any], now: datetime) -> list[Any]:
    meta = b.get("metadata") or {}
    ref = b.get("roleRef") or {}
    subjects = [s for s in b.get("subjects") or () if isinstance(s, dict)]

    def names(kind: str) -> str:
        if kind == "ServiceAccount":
            return ", ".join(
                f"{s.get('namespace', '')}/{s.get('name', '')}"
                for s in subjects
                if s.get("kind") == kind
            )
        return ", ".join(str(s.get("name", "")) for s in subjects if s.get("kind") == kind)

    return [
        str(meta.get("name", "")),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        cells._since(meta.get("creationTimestamp"), now),
        names("User"),
        names("Group"),
        names("ServiceAccount"),
    ]


def register() -> None:
    for plural in ("rolebindings", "clusterrolebindings"):
        p._COLUMNS.setdefault(plural, _BINDING_COLUMNS)
        p._PRINTERS.setdefault(plural, _binding_cells)
