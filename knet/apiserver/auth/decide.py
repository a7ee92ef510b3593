"""One authorization decision, and the audit line that records a refusal."""

from __future__ import annotations

import json
import logging

from knet.apiserver.auth import node
from knet.apiserver.auth.attributes import Attributes
from knet.apiserver.auth.keys import AuthState
from knet.apiserver.auth.user import MASTERS, UserInfo

audit = logging.getLogger("knet.audit")


def audit_line(user: UserInfo, a: Attributes, decision: str, code: int, reason: str = "") -> None:
    """One JSON line per refused request (and per impersonation), as an audit backend would."""
    audit.info(
        json.dumps(
            {
                "user": user.name,
                "groups": list(user.groups),
                "verb": a.verb,
                "uri": a.path,
                "decision": decision,
                "code": code,
                "reason": reason,
            },
            sort_keys=True,
        )
    )


async def authorized(state: AuthState, user: UserInfo, a: Attributes) -> bool:
    """The authorizers in --authorization-mode order; system:masters always passes (upstream's
    privileged-group authorizer). Node allows or has no opinion (node.py)."""
    if MASTERS in user.groups:
        return True
    for mode in state.config.authorization_modes:
        if mode == "AlwaysAllow":
            return True
        if (
            mode == "Node"
            and state.resources is not None
            and await node.allows(state.resources, user, a)
        ):
            return True
        if mode == "RBAC" and state.rbac is not None:
            authorizer = await state.rbac.authorizer()
            if authorizer.allows(user, a):
                return True
    return False
