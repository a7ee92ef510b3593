"""Wiring the chain into the app: keys loaded, the middleware, the review and token routes,
upstream's bootstrap RBAC policy written at start-up, and the TLS context to serve with."""

from __future__ import annotations

import logging
import ssl

from aiohttp import web

from knet.api import registry
from knet.apiserver.auth import bootstrap, printers, reviews, tokenrequest
from knet.apiserver.auth.keys import AUTH, AuthState
from knet.apiserver.auth.middleware import auth_chain
from knet.apiserver.auth.rbac import aggregate
from knet.apiserver.auth.source import RbacSource
from knet.apiserver.auth.tokens import Signer, Verifier, load_public_keys
from knet.apiserver.auth_config import AuthConfig
from knet.apiserver.errors import ApiError
from knet.apiserver.keys import RESOURCES

log = logging.getLogger("knet.apiserver.auth")


def setup(app: web.Application, config: AuthConfig) -> None:
    """Routes always (an insecure server answers reviews as AlwaysAllow); the middleware and
    the policy only when the chain is on. Call before the catch-all resource routes."""
    printers.register()
    state = AuthState(config)
    if config.service_account_signing_key_file is not None:
        state.signer = Signer(
            config.service_account_signing_key_file, config.service_account_issuer
        )
    if config.verification_keys:
        keys = load_public_keys(config.verification_keys)
        state.verifier = Verifier(
            keys, config.service_account_issuer, [config.service_account_issuer]
        )
    app[AUTH] = state
    r = app.router
    for path, handler in reviews.ROUTES.items():
        r.add_post(path, handler)
    r.add_post(
        "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", tokenrequest.create_token
    )
    r.add_get("/.well-known/openid-configuration", tokenrequest.openid_configuration)
    r.add_get("/openid/v1/jwks", tokenrequest.jwks)
    if not config.active:
        return
    app.middlewares.append(auth_chain)

    async def start(app: web.Application) -> None:
        state.resources = app[RESOURCES]
        if config.rbac:
            state.rbac = RbacSource(app[RESOURCES])
            await write_bootstrap_policy(app)

    app.on_startup.append(start)


async def write_bootstrap_policy(app: web.Application) -> None:
    """Create upstream's default roles and bindings that are missing (never overwrite: an
    administrator's edits stay, as with autoupdate off)."""
    res = app[RESOURCES]
    roles = bootstrap.cluster_roles()
    # Aggregated roles are stored with the rules they aggregate, as upstream's aggregation
    # controller leaves them (`kubectl describe clusterrole view` shows them); roles labelled
    # for aggregation later still count at once, in the authorizer's index.
    aggregated = aggregate(roles)
    for role in roles:
        if "aggregationRule" in role:
            role["rules"] = [r.to_wire() for r in aggregated[role["metadata"]["name"]]]
    for obj in [*roles, *bootstrap.cluster_role_bindings()]:
        info = registry.by_kind(obj["kind"])
        try:
            await res.create(info, None, obj)
        except ApiError as e:
            if e.reason != "AlreadyExists":
                raise


def server_ssl_context(config: AuthConfig) -> ssl.SSLContext | None:
    """TLS 1.2+ with the serving certificate; client certificates requested and verified
    against --client-ca-file when one is given (a client without one may still connect, as
    anonymous or with a token)."""
    if config.tls_cert_file is None or config.tls_private_key_file is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(config.tls_cert_file), str(config.tls_private_key_file))
    if config.client_ca_file is not None:
        ctx.load_verify_locations(cafile=str(config.client_ca_file))
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx
