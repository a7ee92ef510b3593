"""rbac.authorization.k8s.io/v1 (Role, ClusterRole, RoleBinding, ClusterRoleBinding) and the
core ServiceAccount with its `token` subresource (the TokenRequest API). Pure data: the
registry turns each entry into a ResourceInfo with one line there."""

from __future__ import annotations

from typing import Any

RBAC_GROUP = "rbac.authorization.k8s.io"

# (group, version, kind, plural, singular, namespaced), ResourceInfo's keyword fields, and the
# subresources as (name, kind, group, version, verbs).
_NO_STATUS: dict[str, Any] = {"has_status": False}
_TOKEN = ("token", "TokenRequest", "authentication.k8s.io", "v1", ("create",))
_G = RBAC_GROUP
_Names = tuple[str, str, str, str, str, bool]
_Sub = tuple[str, str, str, str, tuple[str, ...]]
KINDS: tuple[tuple[_Names, dict[str, Any], tuple[_Sub, ...]], ...] = (
    ((_G, "v1", "Role", "roles", "role", True), _NO_STATUS, ()),
    ((_G, "v1", "ClusterRole", "clusterroles", "clusterrole", False), _NO_STATUS, ()),
    ((_G, "v1", "RoleBinding", "rolebindings", "rolebinding", True), _NO_STATUS, ()),
    (
        (_G, "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", False),
        _NO_STATUS,
        (),
    ),
    (
        ("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", True),
        {"short_names": ("sa",), **_NO_STATUS},
        (_TOKEN,),
    ),
)
