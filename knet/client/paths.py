"""URL paths of resources, from the registry's table. Pure."""

from __future__ import annotations

from urllib.parse import quote

from knet.api import registry
from knet.api.registry import ResourceInfo


def resource_info(kind: str) -> ResourceInfo:
    try:
        return registry.by_kind(kind)
    except KeyError:
        known = ", ".join(sorted(r.kind for r in registry.RESOURCES))
        raise ValueError(f"unknown kind {kind!r}; the API serves: {known}") from None


def _segment(value: str, what: str) -> str:
    if not value or "/" in value:
        raise ValueError(f"invalid {what} {value!r}: must be non-empty and contain no '/'")
    return quote(value, safe="")


def collection_path(info: ResourceInfo, namespace: str | None) -> str:
    """/api/v1/pods, /api/v1/namespaces/ns/pods, /apis/apps/v1/namespaces/ns/deployments.

    For a namespaced kind, namespace None means every namespace (list and watch only)."""
    root = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    if not info.namespaced:
        if namespace:
            raise ValueError(f"{info.kind} is cluster-scoped; do not give a namespace")
        return f"{root}/{info.plural}"
    if namespace is None:
        return f"{root}/{info.plural}"
    return f"{root}/namespaces/{_segment(namespace, 'namespace')}/{info.plural}"


def item_path(
    info: ResourceInfo, namespace: str | None, name: str, subresource: str | None = None
) -> str:
    if info.namespaced and not namespace:
        raise ValueError(f"{info.kind} is namespaced; a namespace is required")
    path = f"{collection_path(info, namespace)}/{_segment(name, 'name')}"
    if subresource is not None:
        if info.subresource(subresource) is None:
            raise ValueError(f"{info.kind} has no subresource {subresource!r}")
        path += f"/{subresource}"
    return path
