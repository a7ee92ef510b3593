"""What a request asks to do, as upstream's RequestInfo and authorizer.Attributes: a verb on a
resource (group, resource, subresource, namespace, name) or on a non-resource path. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_ITEM_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_COLLECTION_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}


@dataclass(frozen=True)
class Attributes:
    verb: str
    resource_request: bool
    path: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def resource_and_sub(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "t", "true")


def from_request(method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """Classify one request by its method, path and query (never fails: anything that is not a
    well-formed resource path is a non-resource request, as upstream)."""
    lower = method.lower()
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return Attributes(lower, False, path=path)
    if not rest:  # discovery of the group/version itself
        return Attributes(lower, False, path=path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 2:
        # The Namespace object's name is also its namespace; a path past it names a resource
        # inside, unless it is one of the Namespace's own subresources.
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    sub = rest[2] if len(rest) >= 3 else ""
    if len(rest) > 3:
        sub = "/".join(rest[2:])
    if name:
        verb = _ITEM_VERBS.get(method, lower)
        if method == "POST" and sub:
            verb = "create"
    else:
        verb = _COLLECTION_VERBS.get(method, lower)
    if verb in ("list", "get") and _truthy(query.get("watch")):
        verb = "watch"
    return Attributes(
        verb,
        True,
        path=path,
        api_group=group,
        api_version=version,
        resource=resource,
        subresource=sub,
        namespace=namespace,
        name=name,
    )
