"""The review APIs (create-only, nothing stored): SelfSubjectAccessReview, SubjectAccessReview,
SelfSubjectRulesReview (authorization.k8s.io/v1), TokenReview and SelfSubjectReview
(authentication.k8s.io/v1). `kubectl auth can-i [--list]` and `kubectl auth whoami` use them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from knet.apiserver import errors
from knet.apiserver import request as req
from knet.apiserver.auth.attributes import Attributes
from knet.apiserver.auth.authn import Unauthorized, service_account_token_user
from knet.apiserver.auth.decide import authorized
from knet.apiserver.auth.keys import AUTH, USER
from knet.apiserver.auth.rbac import Rule
from knet.apiserver.auth.user import MASTERS, UserInfo, anonymous
from knet.apiserver.handlers import json_response
from knet.apiserver.keys import RESOURCES

AUTHZ = "authorization.k8s.io/v1"
AUTHN = "authentication.k8s.io/v1"


async def _body(request: web.Request, kind: str) -> dict[str, Any]:
    raw = await req.read_body(request)
    doc = req.decode_document(raw, request.headers.get("Content-Type", ""))
    if not isinstance(doc, dict):
        raise errors.bad_request(f"the request body must be a {kind} object")
    if doc.get("kind") not in (None, "", kind):
        raise errors.bad_request(f'the kind "{doc.get("kind")}" does not match "{kind}"')
    spec = doc.get("spec")
    if spec is not None and not isinstance(spec, dict):
        raise errors.bad_request("spec must be an object")
    return doc


def _attributes(spec: dict[str, Any]) -> Attributes:
    res = spec.get("resourceAttributes")
    non = spec.get("nonResourceAttributes")
    if isinstance(res, dict):
        return Attributes(
            str(res.get("verb", "")),
            True,
            api_group=str(res.get("group", "")),
            api_version=str(res.get("version", "")),
            resource=str(res.get("resource", "")),
            subresource=str(res.get("subresource", "")),
            namespace=str(res.get("namespace", "")),
            name=str(res.get("name", "")),
        )
    if isinstance(non, dict):
        return Attributes(str(non.get("verb", "")), False, path=str(non.get("path", "")))
    raise errors.ApiError(
        422,
        "Invalid",
        "spec.resourceAttributes: Required value: exactly one of nonResourceAttributes or "
        "resourceAttributes must be specified",
    )


def _reply(
    doc: dict[str, Any], api_version: str, kind: str, status: dict[str, Any]
) -> web.Response:
    out = {
        "kind": kind,
        "apiVersion": api_version,
        "metadata": {"creationTimestamp": None},
        "spec": doc.get("spec") or {},
        "status": status,
    }
    return json_response(out, status=201)


async def _decision(request: web.Request, user: UserInfo, a: Attributes) -> dict[str, Any]:
    allowed = await authorized(request.app[AUTH], user, a)
    if allowed:
        reason = "" if MASTERS not in user.groups else "allowed by the system:masters group"
        return {"allowed": True, "reason": reason} if reason else {"allowed": True}
    return {"allowed": False}


def _user(request: web.Request) -> UserInfo:
    """The authenticated user; without the chain (an insecure server) everyone is anonymous."""
    return request.get(USER) or anonymous()


async def self_subject_access_review(request: web.Request) -> web.Response:
    doc = await _body(request, "SelfSubjectAccessReview")
    status = await _decision(request, _user(request), _attributes(doc.get("spec") or {}))
    return _reply(doc, AUTHZ, "SelfSubjectAccessReview", status)


async def subject_access_review(request: web.Request) -> web.Response:
    doc = await _body(request, "SubjectAccessReview")
    spec = doc.get("spec") or {}
    groups = tuple(str(g) for g in spec.get("groups") or ())
    user = UserInfo(str(spec.get("user", "")), groups, str(spec.get("uid", "")))
    if not user.name and not user.groups:
        raise errors.bad_request("at least one of user or group must be specified")
    status = await _decision(request, user, _attributes(spec))
    return _reply(doc, AUTHZ, "SubjectAccessReview", status)


async def self_subject_rules_review(request: web.Request) -> web.Response:
    doc = await _body(request, "SelfSubjectRulesReview")
    namespace = str((doc.get("spec") or {}).get("namespace", ""))
    user: UserInfo = _user(request)
    state = request.app[AUTH]
    rules: tuple[Rule, ...] = ()
    if MASTERS in user.groups or state.config.authorization_modes == ("AlwaysAllow",):
        rules = (Rule(frozenset({"*"}), frozenset({"*"}), frozenset({"*"})),
                 Rule(frozenset({"*"}), non_resource_urls=frozenset({"*"})))  # fmt: skip
    if state.rbac is not None:
        rules += (await state.rbac.authorizer()).rules_for(user, namespace)
    resource_rules = [r.to_wire() for r in rules if not r.non_resource_urls]
    non_resource = [r.to_wire() for r in rules if r.non_resource_urls]
    status = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource,
        "incomplete": False,
    }
    return _reply(doc, AUTHZ, "SelfSubjectRulesReview", status)


async def token_review(request: web.Request) -> web.Response:
    doc = await _body(request, "TokenReview")
    spec = doc.get("spec") or {}
    token = spec.get("token")
    state = request.app[AUTH]
    if not isinstance(token, str) or not token or state.verifier is None:
        return _reply(doc, AUTHN, "TokenReview", {"user": {}, "error": "no token to review"})
    audiences = [str(a) for a in spec.get("audiences") or ()] or None
    try:
        user, claims = await service_account_token_user(
            state.verifier, request.app[RESOURCES], token, audiences
        )
    except Unauthorized as e:
        return _reply(doc, AUTHN, "TokenReview", {"user": {}, "error": str(e)})
    status = {
        "authenticated": True,
        "user": user.with_authenticated().to_wire(),
        "audiences": list(claims.audiences if audiences is None else audiences),
    }
    return _reply(doc, AUTHN, "TokenReview", status)


async def self_subject_review(request: web.Request) -> web.Response:
    doc = await _body(request, "SelfSubjectReview")
    user: UserInfo = _user(request)
    return _reply(doc, AUTHN, "SelfSubjectReview", {"userInfo": user.to_wire()})


ROUTES = {
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews": self_subject_access_review,
    "/apis/authorization.k8s.io/v1/subjectaccessreviews": subject_access_review,
    "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews": self_subject_rules_review,
    "/apis/authentication.k8s.io/v1/tokenreviews": token_review,
    "/apis/authentication.k8s.io/v1/selfsubjectreviews": self_subject_review,
}
