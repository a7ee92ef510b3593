"""RBAC's escalation check: a user may write a Role or ClusterRole only with permissions it
already holds (or the `escalate` verb on it), and bind a role only if it holds the role's
permissions (or the `bind` verb on it), as upstream's RBAC storage does."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from knet.apiserver import errors
from knet.apiserver import request as req
from knet.apiserver.auth.attributes import Attributes
from knet.apiserver.auth.decide import audit_line, authorized
from knet.apiserver.auth.keys import AuthState
from knet.apiserver.auth.rbac import Rule, covers
from knet.apiserver.auth.user import MASTERS, UserInfo

RBAC_GROUP = "rbac.authorization.k8s.io"
_ROLES = ("roles", "clusterroles")
_BINDINGS = ("rolebindings", "clusterrolebindings")


def _guarded(a: Attributes) -> bool:
    return (
        a.resource_request
        and a.api_group == RBAC_GROUP
        and not a.subresource
        and a.resource in (*_ROLES, *_BINDINGS)
        and a.verb in ("create", "update", "patch")
    )


async def check(request: web.Request, state: AuthState, user: UserInfo, a: Attributes) -> None:
    if state.rbac is None or MASTERS in user.groups or not _guarded(a):
        return
    is_role = a.resource in _ROLES
    verb = "escalate" if is_role else "bind"
    if is_role and await authorized(state, user, _with_verb(a, verb)):
        return
    if a.verb == "patch":
        # A patch's result is known only inside the handler: without `escalate`/`bind`, RBAC
        # objects are changed with create/update, where their content can be checked.
        _refuse(user, a, f"patching {a.resource} requires the {verb} permission")
    doc = req.decode_document(await req.read_body(request), request.headers.get("Content-Type", ""))
    if not isinstance(doc, dict):
        return  # the handler answers the malformed body
    if is_role:
        wanted = [Rule.from_wire(r) for r in doc.get("rules") or () if isinstance(r, dict)]
    else:
        ref = doc.get("roleRef") or {}
        kind, name = ref.get("kind"), str(ref.get("name", ""))
        target = Attributes(
            "bind",
            True,
            api_group=RBAC_GROUP,
            resource="clusterroles" if kind == "ClusterRole" else "roles",
            namespace=a.namespace if kind == "Role" else "",
            name=name,
        )
        if await authorized(state, user, target) or await authorized(
            state, user, _with_verb(target, "bind", a.namespace)
        ):
            return
        wanted = await _role_rules(state, kind, a.namespace, name)
    held = (await state.rbac.authorizer()).rules_for(user, a.namespace)
    missing = [r for r in wanted if not covers(held, r)]
    if missing:
        listed = "\n".join(_describe(r) for r in missing)
        groups = ",".join(f'"{g}"' for g in user.groups)
        _refuse(
            user,
            a,
            f'user "{user.name}" (groups=[{groups}]) is attempting to grant RBAC permissions '
            f"not currently held:\n{listed}",
        )


def _with_verb(a: Attributes, verb: str, namespace: str | None = None) -> Attributes:
    return Attributes(
        verb,
        True,
        api_group=a.api_group,
        resource=a.resource,
        namespace=a.namespace if namespace is None else namespace,
        name=a.name,
    )


async def _role_rules(state: AuthState, kind: Any, namespace: str, name: str) -> list[Rule]:
    """The rules of the role a binding names, as the authorizer sees them (aggregation
    included); none if it does not exist (binding a missing role grants nothing yet)."""
    assert state.rbac is not None
    index = (await state.rbac.authorizer()).index
    if kind == "ClusterRole":
        return list(index.cluster_roles.get(name, ()))
    return list(index.roles.get((namespace, name), ()))


def _describe(r: Rule) -> str:
    parts = []
    for label, values in (
        ("APIGroups", r.api_groups),
        ("Resources", r.resources),
        ("ResourceNames", r.resource_names),
        ("NonResourceURLs", r.non_resource_urls),
        ("Verbs", r.verbs),
    ):
        if values:
            parts.append(f"{label}:[" + " ".join(f'"{v}"' for v in sorted(values)) + "]")
    return "{" + ", ".join(parts) + "}"


def _refuse(user: UserInfo, a: Attributes, why: str) -> None:
    subject = f"{a.resource}.{RBAC_GROUP}"
    head = f'{subject} "{a.name}" is forbidden' if a.name else f"{subject} is forbidden"
    message = f"{head}: {why}"
    audit_line(user, a, "deny", 403, message)
    raise errors.forbidden(message, {"group": RBAC_GROUP, "kind": a.resource, "name": a.name})
