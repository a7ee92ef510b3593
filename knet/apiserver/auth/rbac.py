"""RBAC: rules, their matching, and an index from subjects to the rules bound to them.

The index is built from the stored Roles, ClusterRoles, RoleBindings and ClusterRoleBindings
(ClusterRole aggregation resolved at build time) and rebuilt only when one of them changes; each
user's applicable rules are then cached, so a decision is a few set lookups. Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from knet.api.selectors import SelectorError, selector_from_label_selector
from knet.apiserver.auth.attributes import Attributes
from knet.apiserver.auth.user import SA_PREFIX, UserInfo

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    verbs: frozenset[str]
    api_groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    resource_names: frozenset[str] = frozenset()
    non_resource_urls: frozenset[str] = frozenset()

    @staticmethod
    def from_wire(rule: Obj) -> Rule:
        def strings(name: str) -> frozenset[str]:
            value = rule.get(name) or ()
            return frozenset(v for v in value if isinstance(v, str))

        return Rule(
            strings("verbs"),
            strings("apiGroups"),
            strings("resources"),
            strings("resourceNames"),
            strings("nonResourceURLs"),
        )

    def to_wire(self) -> dict[str, list[str]]:
        out = {"verbs": sorted(self.verbs)}
        for key, values in (
            ("apiGroups", self.api_groups),
            ("resources", self.resources),
            ("resourceNames", self.resource_names),
            ("nonResourceURLs", self.non_resource_urls),
        ):
            if values:
                out[key] = sorted(values)
        return out

    def allows(self, a: Attributes) -> bool:
        if "*" not in self.verbs and a.verb not in self.verbs:
            return False
        if not a.resource_request:
            return _url_matches(self.non_resource_urls, a.path)
        if "*" not in self.api_groups and a.api_group not in self.api_groups:
            return False
        if not _resource_matches(self.resources, a.resource, a.subresource):
            return False
        return not self.resource_names or a.name in self.resource_names


def _resource_matches(rule: frozenset[str], resource: str, sub: str) -> bool:
    if "*" in rule:
        return True
    if sub:
        return f"{resource}/{sub}" in rule or f"*/{sub}" in rule
    return resource in rule


def _url_matches(rule: frozenset[str], path: str) -> bool:
    if "*" in rule or path in rule:
        return True
    return any(u.endswith("*") and path.startswith(u[:-1]) for u in rule)


def allowed_by(rules: Iterable[Rule], a: Attributes) -> bool:
    return any(r.allows(a) for r in rules)


def covers(held: Iterable[Rule], wanted: Rule) -> bool:
    """Whether `held` grants everything `wanted` does (the escalation check), by expanding
    `wanted` into single permissions and checking each."""
    held = tuple(held)
    groups = wanted.api_groups or frozenset({""})
    names = wanted.resource_names or frozenset({""})
    for verb in wanted.verbs:
        for url in wanted.non_resource_urls:
            if not any(_covers_url(r, verb, url) for r in held):
                return False
        for group in groups:
            for res in wanted.resources:
                for name in names:
                    if not any(_covers_resource(r, verb, group, res, name) for r in held):
                        return False
    return True


def _covers_url(r: Rule, verb: str, url: str) -> bool:
    if "*" not in r.verbs and verb not in r.verbs:
        return False
    return (
        "*" in r.non_resource_urls
        or url in r.non_resource_urls
        or (not url.endswith("*") and _url_matches(r.non_resource_urls, url))
    )


def _covers_resource(r: Rule, verb: str, group: str, res: str, name: str) -> bool:
    if "*" not in r.verbs and verb not in r.verbs:
        return False
    if "*" not in r.api_groups and group not in r.api_groups:
        return False
    if "*" not in r.resources and res not in r.resources:
        _, _, sub = res.partition("/")
        if not (sub and f"*/{sub}" in r.resources):
            return False
    return not r.resource_names or (bool(name) and name in r.resource_names)


# ------------------------------------------------------------------------------ the index


def _rules(obj: Obj) -> tuple[Rule, ...]:
    return tuple(Rule.from_wire(r) for r in (obj.get("rules") or ()) if isinstance(r, Mapping))


def _labels(obj: Obj) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def aggregate(cluster_roles: Iterable[Obj]) -> dict[str, tuple[Rule, ...]]:
    """ClusterRole name → rules, with aggregationRule selectors resolved (one level deep, as
    upstream's controller converges to: aggregated roles' own rules are those it copied)."""
    roles = {(r.get("metadata") or {}).get("name", ""): r for r in cluster_roles}
    out = {name: _rules(role) for name, role in roles.items()}
    for name, role in roles.items():
        agg = role.get("aggregationRule")
        if not isinstance(agg, Mapping):
            continue
        collected: list[Rule] = []
        for sel in agg.get("clusterRoleSelectors") or ():
            try:
                selector = selector_from_label_selector(sel)
            except SelectorError:
                continue
            for other, other_role in sorted(roles.items()):
                if other != name and selector.matches(_labels(other_role)):
                    collected.extend(r for r in out[other] if r not in collected)
        out[name] = tuple(collected)
    return out


def _subject_keys(subject: Obj, binding_ns: str) -> str | None:
    kind, name = subject.get("kind"), subject.get("name")
    if not isinstance(name, str):
        return None
    if kind == "User":
        return f"u:{name}"
    if kind == "Group":
        return f"g:{name}"
    if kind == "ServiceAccount":
        return f"u:{SA_PREFIX}{subject.get('namespace') or binding_ns}:{name}"
    return None


@dataclass
class RbacIndex:
    """Subject key ("u:<user>" / "g:<group>") → [(namespace, or "" for cluster-wide; rules)]."""

    grants: dict[str, list[tuple[str, tuple[Rule, ...]]]]
    cluster_roles: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    roles: dict[tuple[str, str], tuple[Rule, ...]] = field(default_factory=dict)

    @staticmethod
    def build(
        roles: Iterable[Obj],
        cluster_roles: Iterable[Obj],
        role_bindings: Iterable[Obj],
        cluster_role_bindings: Iterable[Obj],
    ) -> RbacIndex:
        cluster = aggregate(cluster_roles)
        namespaced = {
            ((r.get("metadata") or {}).get("namespace", ""), r["metadata"].get("name", "")): _rules(
                r
            )
            for r in roles
            if isinstance(r.get("metadata"), Mapping)
        }
        grants: dict[str, list[tuple[str, tuple[Rule, ...]]]] = defaultdict(list)
        for b, is_cluster in [(b, True) for b in cluster_role_bindings] + [
            (b, False) for b in role_bindings
        ]:
            ns = "" if is_cluster else (b.get("metadata") or {}).get("namespace", "")
            ref = b.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole":
                rules = cluster.get(ref.get("name", ""), ())
            elif ref.get("kind") == "Role" and not is_cluster:
                rules = namespaced.get((ns, ref.get("name", "")), ())
            else:
                continue
            if not rules:
                continue
            for subject in b.get("subjects") or ():
                if isinstance(subject, Mapping) and (key := _subject_keys(subject, ns)):
                    grants[key].append((ns, rules))
        return RbacIndex(dict(grants), cluster, namespaced)


class Authorizer:
    """Decisions over one index, with each user's rules gathered once."""

    def __init__(self, index: RbacIndex) -> None:
        self.index = index
        self._per_user: dict[tuple[str, tuple[str, ...]], dict[str, tuple[Rule, ...]]] = {}

    def _rules_by_namespace(self, user: UserInfo) -> dict[str, tuple[Rule, ...]]:
        key = (user.name, user.groups)
        found = self._per_user.get(key)
        if found is None:
            gathered: dict[str, list[Rule]] = defaultdict(list)
            for subject in (f"u:{user.name}", *(f"g:{g}" for g in user.groups)):
                for ns, rules in self.index.grants.get(subject, ()):
                    gathered[ns].extend(rules)
            found = {ns: tuple(rules) for ns, rules in gathered.items()}
            if len(self._per_user) > 10_000:  # many distinct users: start over
                self._per_user.clear()
            self._per_user[key] = found
        return found

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[Rule, ...]:
        """Every rule that applies to `user` in `namespace` ("" for cluster scope only)."""
        by_ns = self._rules_by_namespace(user)
        own = by_ns.get(namespace, ()) if namespace else ()
        return by_ns.get("", ()) + own

    def allows(self, user: UserInfo, a: Attributes) -> bool:
        by_ns = self._rules_by_namespace(user)
        if allowed_by(by_ns.get("", ()), a):
            return True
        return bool(a.namespace) and allowed_by(by_ns.get(a.namespace, ()), a)
