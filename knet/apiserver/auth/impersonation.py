"""Impersonation (`kubectl --as`, `--as-group`, `--as-uid`): the Impersonate-* headers, each
allowed only if the real user may `impersonate` that user, group, uid or extra."""

from __future__ import annotations

from aiohttp import web

from knet.apiserver import errors
from knet.apiserver.auth import messages
from knet.apiserver.auth.attributes import Attributes
from knet.apiserver.auth.decide import audit_line, authorized
from knet.apiserver.auth.keys import AuthState
from knet.apiserver.auth.user import ANONYMOUS, AUTHENTICATED, SA_PREFIX, UserInfo

_EXTRA = "impersonate-extra-"


def _wanted(request: web.Request) -> tuple[str | None, list[str], str, dict[str, list[str]]]:
    h = request.headers
    extra: dict[str, list[str]] = {}
    for key, value in h.items():
        if key.lower().startswith(_EXTRA):
            extra.setdefault(key[len(_EXTRA) :].lower(), []).append(value)
    return (
        h.get("Impersonate-User"),
        h.getall("Impersonate-Group", []),
        h.get("Impersonate-Uid", ""),
        extra,
    )


async def impersonate(
    request: web.Request, state: AuthState, user: UserInfo, a: Attributes
) -> UserInfo:
    name, groups, uid, extra = _wanted(request)
    if name is None:
        if groups or uid or extra:
            raise errors.bad_request(
                "requested impersonation of groups or extra without a user name"
            )
        return user
    checks: list[Attributes] = []
    if name.startswith(SA_PREFIX) and name.count(":") == 3:
        ns, sa = name[len(SA_PREFIX) :].split(":", 1)
        checks.append(
            Attributes("impersonate", True, resource="serviceaccounts", namespace=ns, name=sa)
        )
    else:
        checks.append(Attributes("impersonate", True, resource="users", name=name))
    checks += [Attributes("impersonate", True, resource="groups", name=g) for g in groups]
    if uid:
        checks.append(
            Attributes(
                "impersonate", True, api_group="authentication.k8s.io", resource="uids", name=uid
            )
        )
    for key, values in extra.items():
        checks += [
            Attributes(
                "impersonate",
                True,
                api_group="authentication.k8s.io",
                resource="userextras",
                subresource=key,
                name=v,
            )
            for v in values
        ]
    for check in checks:
        if not await authorized(state, user, check):
            message = messages.forbidden(user, check)
            audit_line(user, a, "deny", 403, message)
            raise errors.forbidden(message, messages.details(check))
    all_groups = list(groups)
    if name.startswith(SA_PREFIX) and name.count(":") == 3:
        ns = name[len(SA_PREFIX) :].split(":", 1)[0]
        all_groups += ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
    if name != ANONYMOUS and AUTHENTICATED not in all_groups:
        all_groups.append(AUTHENTICATED)
    audit_line(user, a, f"impersonate:{name}", 0)
    return UserInfo(name, tuple(all_groups), uid, {k: tuple(v) for k, v in extra.items()})
