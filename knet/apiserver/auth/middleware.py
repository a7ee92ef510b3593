"""The chain as one aiohttp middleware, in kube-apiserver's filter order: authentication (401),
impersonation, authorization (403), then the handler; one audit line per decision."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from knet.apiserver import errors
from knet.apiserver.auth import escalation, messages
from knet.apiserver.auth.attributes import from_request
from knet.apiserver.auth.authn import Unauthorized, authenticate
from knet.apiserver.auth.decide import audit_line, authorized
from knet.apiserver.auth.impersonation import impersonate
from knet.apiserver.auth.keys import AUTH, USER
from knet.apiserver.auth.user import UserInfo
from knet.apiserver.errors import ApiError
from knet.apiserver.keys import RESOURCES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


@web.middleware
async def auth_chain(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[AUTH]
    a = from_request(request.method, request.path, request.query)
    try:
        user = await authenticate(
            request, request.app[RESOURCES], state.verifier, state.config.anonymous_auth
        )
    except Unauthorized as e:
        audit_line(_nobody(), a, "deny", 401, str(e))
        raise unauthorized() from None
    user = await impersonate(request, state, user, a)
    if not await authorized(state, user, a):
        message = messages.forbidden(user, a)
        audit_line(user, a, "deny", 403, message)
        raise errors.forbidden(message, messages.details(a))
    await escalation.check(request, state, user, a)
    request[USER] = user
    return await handler(request)


def _nobody() -> UserInfo:
    return UserInfo("")
