"""Who a request is: upstream's user.Info."""

from __future__ import annotations

from dataclasses import dataclass, field

ANONYMOUS = "system:anonymous"
UNAUTHENTICATED = "system:unauthenticated"
AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"
SA_PREFIX = "system:serviceaccount:"
SA_GROUP = "system:serviceaccounts"


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)

    def with_authenticated(self) -> UserInfo:
        """Every authenticated user is also in system:authenticated, as upstream adds it."""
        if self.name == ANONYMOUS or AUTHENTICATED in self.groups:
            return self
        return UserInfo(self.name, (*self.groups, AUTHENTICATED), self.uid, self.extra)

    def to_wire(self) -> dict[str, object]:
        out: dict[str, object] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


def anonymous() -> UserInfo:
    return UserInfo(ANONYMOUS, (UNAUTHENTICATED,))


def service_account_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    return UserInfo(
        f"{SA_PREFIX}{namespace}:{name}",
        (SA_GROUP, f"{SA_GROUP}:{namespace}"),
        uid,
    )
