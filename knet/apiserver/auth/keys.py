"""What the chain keeps on the application and on each request."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from knet.apiserver.auth.source import RbacSource
from knet.apiserver.auth.tokens import Signer, Verifier
from knet.apiserver.auth.user import UserInfo
from knet.apiserver.auth_config import AuthConfig
from knet.apiserver.resources import Resources


@dataclass
class AuthState:
    config: AuthConfig
    rbac: RbacSource | None = None
    signer: Signer | None = None
    verifier: Verifier | None = None
    resources: Resources | None = None  # for the Node authorizer's pod lookups


AUTH = web.AppKey("auth", AuthState)
USER = web.RequestKey("user", UserInfo)
