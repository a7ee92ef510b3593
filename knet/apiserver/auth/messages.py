"""Upstream's words for a refusal (403 Forbidden). Pure."""

from __future__ import annotations

from typing import Any

from knet.apiserver.auth.attributes import Attributes
from knet.apiserver.auth.user import UserInfo


def forbidden(user: UserInfo, a: Attributes) -> str:
    """e.g. `pods "web" is forbidden: User "alice" cannot get resource "pods" in API group ""
    in the namespace "default"`, or `forbidden: User "x" cannot get path "/api"`."""
    who = f'User "{user.name}"'
    if not a.resource_request:
        return f'forbidden: {who} cannot {a.verb} path "{a.path}"'
    what = a.resource_and_sub
    subject = f"{a.resource}{'.' + a.api_group if a.api_group else ''}"
    head = f'{subject} "{a.name}" is forbidden' if a.name else f"{subject} is forbidden"
    scope = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    return f'{head}: {who} cannot {a.verb} resource "{what}" in API group "{a.api_group}" {scope}'


def details(a: Attributes) -> dict[str, Any]:
    if not a.resource_request:
        return {}
    out: dict[str, Any] = {"group": a.api_group, "kind": a.resource}
    if a.name:
        out["name"] = a.name
    return out
