"""Authentication: who sent this request. x509 client certificates (verified by the TLS layer
against --client-ca-file; CN is the user, O the groups), ServiceAccount bearer tokens (checked
against the stored ServiceAccount and the object the token is bound to), and anonymous."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from knet.api import registry
from knet.apiserver.auth.tokens import Claims, TokenError, Verifier
from knet.apiserver.auth.user import UserInfo, anonymous, service_account_user
from knet.apiserver.resources import Resources
from knet.apiserver.stored import decode


class Unauthorized(Exception):
    """The credentials sent are not valid (401); the message is for the log, not the client."""


def x509_user(request: web.Request) -> UserInfo | None:
    """The verified client certificate's identity, if the client sent one."""
    transport = request.transport
    if transport is None:
        return None
    cert: Any = transport.get_extra_info("peercert")
    if not cert:
        return None
    user, groups = "", []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                user = value
            elif key == "organizationName":
                groups.append(value)
    if not user:
        raise Unauthorized("the client certificate names no user (empty CN)")
    return UserInfo(user, tuple(groups))


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


async def service_account_token_user(
    verifier: Verifier, res: Resources, token: str, audiences: list[str] | None = None
) -> tuple[UserInfo, Claims]:
    """The ServiceAccount a token speaks for, once the token verifies and the ServiceAccount
    and the bound object still exist with the uids the token names."""
    try:
        claims = verifier.verify(token, audiences)
    except TokenError as e:
        raise Unauthorized(f"invalid bearer token: {e}") from None
    sa = await _get(res, "ServiceAccount", claims.namespace, claims.service_account)
    if sa is None or (sa["metadata"].get("uid") != claims.service_account_uid):
        raise Unauthorized(
            f"service account {claims.namespace}/{claims.service_account} has been deleted"
        )
    extra: dict[str, tuple[str, ...]] = {}
    if claims.bound is not None:
        obj = await _get(res, claims.bound.kind, claims.namespace, claims.bound.name)
        if obj is None or obj["metadata"].get("uid") != claims.bound.uid:
            raise Unauthorized(
                f"the {claims.bound.kind.lower()} {claims.namespace}/{claims.bound.name} "
                "the token is bound to no longer exists"
            )
        if obj["metadata"].get("deletionTimestamp"):
            raise Unauthorized(f"the {claims.bound.kind.lower()} the token is bound to is deleted")
        prefix = f"authentication.kubernetes.io/{claims.bound.kind.lower()}"
        extra = {f"{prefix}-name": (claims.bound.name,), f"{prefix}-uid": (claims.bound.uid,)}
    base = service_account_user(
        claims.namespace, claims.service_account, claims.service_account_uid
    )
    return UserInfo(base.name, base.groups, base.uid, extra), claims


async def _get(res: Resources, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    info = registry.by_kind(kind)
    kv = await res.store.get(info.key(namespace, name))
    return decode(kv) if kv is not None else None


async def authenticate(
    request: web.Request,
    res: Resources,
    verifier: Verifier | None,
    allow_anonymous: bool,
) -> UserInfo:
    """The request's user (with system:authenticated when not anonymous); Unauthorized when
    credentials were sent and fail, or none were and anonymous requests are off."""
    token = bearer_token(request)
    if token is not None:
        if verifier is None:
            raise Unauthorized("bearer tokens are not accepted by this server")
        user, _ = await service_account_token_user(verifier, res, token)
        return user.with_authenticated()
    cert_user = x509_user(request)
    if cert_user is not None:
        return cert_user.with_authenticated()
    if allow_anonymous:
        return anonymous()
    raise Unauthorized("no credentials")
