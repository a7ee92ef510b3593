"""The TokenRequest API (`serviceaccounts/{name}/token`, `kubectl create token`) and the issuer
discovery documents (`/.well-known/openid-configuration`, `/openid/v1/jwks`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from knet.api import registry
from knet.api.times import rfc3339
from knet.apiserver import errors
from knet.apiserver import request as req
from knet.apiserver.auth.keys import AUTH
from knet.apiserver.auth.tokens import DEFAULT_EXPIRATION, MIN_EXPIRATION, BoundObject
from knet.apiserver.handlers import json_response
from knet.apiserver.keys import RESOURCES

_MAX_EXPIRATION = 2**32  # upstream: expirationSeconds must be less than 2^32


def _invalid(field: str, message: str) -> errors.ApiError:
    return errors.ApiError(422, "Invalid", f"{field}: {message}")


async def create_token(request: web.Request) -> web.Response:
    ns, name = request.match_info["namespace"], request.match_info["name"]
    state = request.app[AUTH]
    if state.signer is None:
        raise errors.path_not_found()
    raw = await req.read_body(request)
    doc: Any = (
        req.decode_document(raw, request.headers.get("Content-Type", "")) if raw.strip() else {}
    )
    spec = doc.get("spec") if isinstance(doc, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    res = request.app[RESOURCES]
    sa = await res.get(registry.by_kind("ServiceAccount"), ns, name)
    expiration = spec.get("expirationSeconds", DEFAULT_EXPIRATION)
    if not isinstance(expiration, int) or isinstance(expiration, bool):
        raise _invalid("spec.expirationSeconds", "must be an integer")
    if expiration < MIN_EXPIRATION:
        raise _invalid("spec.expirationSeconds", "may not specify a duration less than 10 minutes")
    if expiration >= _MAX_EXPIRATION:
        raise _invalid(
            "spec.expirationSeconds", "may not specify a duration larger than 2^32 seconds"
        )
    audiences = [str(a) for a in spec.get("audiences") or ()] or [state.signer.issuer]
    bound = await _bound(request, ns, spec.get("boundObjectRef"))
    token, exp = state.signer.issue(ns, name, sa["metadata"]["uid"], audiences, expiration, bound)
    out = {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
        "spec": {**spec, "audiences": audiences, "expirationSeconds": expiration},
        "status": {
            "token": token,
            "expirationTimestamp": rfc3339(datetime.fromtimestamp(exp, UTC)),
        },
    }
    return json_response(out, status=201)


async def _bound(request: web.Request, ns: str, ref: Any) -> BoundObject | None:
    if ref is None:
        return None
    if not isinstance(ref, dict) or ref.get("kind") not in ("Pod", "Secret"):
        raise _invalid("spec.boundObjectRef.kind", 'supported values: "Pod", "Secret"')
    kind, name = str(ref["kind"]), str(ref.get("name", ""))
    obj = await request.app[RESOURCES].get(registry.by_kind(kind), ns, name)
    uid = obj["metadata"]["uid"]
    if ref.get("uid") not in (None, "", uid):
        raise errors.ApiError(
            409, "Conflict", f"the UID in the bound object reference ({ref['uid']}) does not match"
        )
    return BoundObject(kind, name, uid)


async def openid_configuration(request: web.Request) -> web.Response:
    state = request.app[AUTH]
    if state.verifier is None:
        raise errors.path_not_found()
    issuer = state.config.service_account_issuer
    return json_response(
        {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/openid/v1/jwks",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": sorted(
                {k["alg"] for k in state.verifier.jwks()["keys"]}
            ),
        }
    )


async def jwks(request: web.Request) -> web.Response:
    state = request.app[AUTH]
    if state.verifier is None:
        raise errors.path_not_found()
    return web.Response(
        body=orjson.dumps(state.verifier.jwks()),
        content_type="application/jwk-set+json",
    )
