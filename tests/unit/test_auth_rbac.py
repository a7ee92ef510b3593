# ruff: noqa: E501  (tables of upstream messages and paths read best one case a line)
"""The chain's pure parts: request attributes, RBAC rule matching, aggregation, the index and
the escalation cover check, and upstream's Forbidden message."""

from __future__ import annotations

from typing import Any

import pytest

from knet.apiserver.auth import bootstrap, messages
from knet.apiserver.auth.attributes import from_request
from knet.apiserver.auth.rbac import Authorizer, RbacIndex, Rule, aggregate, covers
from knet.apiserver.auth.user import UserInfo

RBAC = "rbac.authorization.k8s.io"


@pytest.mark.parametrize(
    ("method", "path", "query", "want"),
    [
        ("GET", "/api/v1/namespaces/d/pods", {}, ("list", "", "pods", "", "d", "")),
        ("GET", "/api/v1/namespaces/d/pods", {"watch": "1"}, ("watch", "", "pods", "", "d", "")),
        ("GET", "/api/v1/namespaces/d/pods/p", {}, ("get", "", "pods", "", "d", "p")),
        ("GET", "/api/v1/namespaces/d/pods/p/log", {}, ("get", "", "pods", "log", "d", "p")),
        ("POST", "/api/v1/namespaces/d/pods/p/exec", {}, ("create", "", "pods", "exec", "d", "p")),
        ("DELETE", "/api/v1/namespaces/d/pods", {}, ("deletecollection", "", "pods", "", "d", "")),
        ("PATCH", "/api/v1/nodes/n1/status", {}, ("patch", "", "nodes", "status", "", "n1")),
        ("GET", "/api/v1/namespaces/d", {}, ("get", "", "namespaces", "", "d", "d")),
        ("PUT", "/api/v1/namespaces/d/finalize", {}, ("update", "", "namespaces", "finalize", "d", "d")),
        ("POST", "/apis/apps/v1/namespaces/d/deployments", {}, ("create", "apps", "deployments", "", "d", "")),
    ],
)  # fmt: skip
def test_resource_attributes(method: str, path: str, query: dict[str, str], want: Any) -> None:
    a = from_request(method, path, query)
    assert a.resource_request
    assert (a.verb, a.api_group, a.resource, a.subresource, a.namespace, a.name) == want


@pytest.mark.parametrize("path", ["/healthz", "/api", "/apis", "/apis/apps/v1", "/version"])
def test_non_resource_attributes(path: str) -> None:
    a = from_request("GET", path, {})
    assert not a.resource_request and a.verb == "get" and a.path == path


def _rule(**kw: Any) -> Rule:
    return Rule.from_wire(kw)


def test_rule_matching() -> None:
    r = _rule(verbs=["get", "list"], apiGroups=[""], resources=["pods", "pods/log"])
    assert r.allows(from_request("GET", "/api/v1/namespaces/d/pods/x", {}))
    assert r.allows(from_request("GET", "/api/v1/namespaces/d/pods/x/log", {}))
    assert not r.allows(from_request("DELETE", "/api/v1/namespaces/d/pods/x", {}))
    assert not r.allows(from_request("GET", "/api/v1/namespaces/d/pods/x/exec", {}))
    assert not r.allows(from_request("GET", "/apis/apps/v1/namespaces/d/pods", {}))
    named = _rule(verbs=["get"], apiGroups=[""], resources=["secrets"], resourceNames=["s1"])
    assert named.allows(from_request("GET", "/api/v1/namespaces/d/secrets/s1", {}))
    assert not named.allows(from_request("GET", "/api/v1/namespaces/d/secrets/s2", {}))
    assert not named.allows(from_request("GET", "/api/v1/namespaces/d/secrets", {}))
    star_sub = _rule(verbs=["*"], apiGroups=["*"], resources=["*/status"])
    assert star_sub.allows(
        from_request("PUT", "/apis/apps/v1/namespaces/d/deployments/x/status", {})
    )
    assert not star_sub.allows(from_request("PUT", "/apis/apps/v1/namespaces/d/deployments/x", {}))
    urls = _rule(verbs=["get"], nonResourceURLs=["/healthz", "/apis/*"])
    assert urls.allows(from_request("GET", "/healthz", {}))
    assert urls.allows(from_request("GET", "/apis/apps/v1", {}))
    assert not urls.allows(from_request("GET", "/version", {}))
    assert not urls.allows(from_request("GET", "/api/v1/pods", {}))


def _meta(name: str, ns: str = "", labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    if labels:
        meta["labels"] = labels
    return meta


def test_aggregation_collects_labelled_roles() -> None:
    roles = [
        {"metadata": _meta("agg"), "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "1"}}]}},
        {"metadata": _meta("part", labels={"a": "1"}), "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]},
        {"metadata": _meta("other"), "rules": [{"verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]}]},
    ]  # fmt: skip
    out = aggregate(roles)
    assert out["agg"] == out["part"]
    assert out["agg"] != out["other"]


def test_bootstrap_policy_as_upstream() -> None:
    index = RbacIndex.build([], bootstrap.cluster_roles(), [], bootstrap.cluster_role_bindings())
    authz = Authorizer(index)
    anyone = UserInfo("alice", ("system:authenticated",))
    anon = UserInfo("system:anonymous", ("system:unauthenticated",))
    assert authz.allows(anon, from_request("GET", "/healthz", {}))
    assert not authz.allows(anon, from_request("GET", "/api", {}))
    assert authz.allows(anyone, from_request("GET", "/api", {}))
    ssar = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    assert authz.allows(anyone, from_request("POST", ssar, {}))
    assert not authz.allows(anyone, from_request("GET", "/api/v1/namespaces/d/pods", {}))
    proxy = UserInfo("system:kube-proxy", ("system:authenticated",))
    assert authz.allows(proxy, from_request("GET", "/api/v1/services", {"watch": "1"}))
    assert not authz.allows(proxy, from_request("GET", "/api/v1/secrets", {}))
    sched = UserInfo("system:kube-scheduler", ("system:authenticated",))
    assert authz.allows(sched, from_request("POST", "/api/v1/namespaces/d/pods/p/binding", {}))
    assert not authz.allows(sched, from_request("POST", "/api/v1/namespaces/d/pods", {}))
    # admin ⊇ edit ⊇ view through aggregation
    view = index.cluster_roles["view"]
    edit = index.cluster_roles["edit"]
    admin = index.cluster_roles["admin"]
    assert view and all(covers(edit, r) for r in view) and all(covers(admin, r) for r in edit)
    assert not all(covers(view, r) for r in edit)


def test_role_bindings_apply_in_their_namespace_only() -> None:
    roles = [{"metadata": _meta("reader", "team"), "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]}]  # fmt: skip
    bindings = [
        {
            "metadata": _meta("rb", "team"),
            "roleRef": {"kind": "Role", "name": "reader", "apiGroup": RBAC},
            "subjects": [
                {"kind": "User", "name": "bob"},
                {"kind": "ServiceAccount", "name": "robot"},
            ],
        }
    ]
    authz = Authorizer(RbacIndex.build(roles, [], bindings, []))
    bob = UserInfo("bob")
    assert authz.allows(bob, from_request("GET", "/api/v1/namespaces/team/pods", {}))
    assert not authz.allows(bob, from_request("GET", "/api/v1/namespaces/other/pods", {}))
    assert not authz.allows(bob, from_request("GET", "/api/v1/pods", {}))
    robot = UserInfo("system:serviceaccount:team:robot")
    assert authz.allows(robot, from_request("GET", "/api/v1/namespaces/team/pods/x", {}))


def test_covers_is_the_escalation_check() -> None:
    held = [_rule(verbs=["get", "list"], apiGroups=[""], resources=["pods", "secrets"])]
    assert covers(held, _rule(verbs=["get"], apiGroups=[""], resources=["pods"]))
    assert not covers(held, _rule(verbs=["delete"], apiGroups=[""], resources=["pods"]))
    assert not covers(held, _rule(verbs=["get"], apiGroups=["*"], resources=["pods"]))
    assert not covers(held, _rule(verbs=["get"], apiGroups=[""], resources=["*"]))
    admin = [_rule(verbs=["*"], apiGroups=["*"], resources=["*"])]
    assert covers(admin, _rule(verbs=["escalate"], apiGroups=["x"], resources=["y/z"]))
    named = [_rule(verbs=["get"], apiGroups=[""], resources=["secrets"], resourceNames=["a"])]
    assert covers(
        named, _rule(verbs=["get"], apiGroups=[""], resources=["secrets"], resourceNames=["a"])
    )
    assert not covers(named, _rule(verbs=["get"], apiGroups=[""], resources=["secrets"]))


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/api/v1/namespaces/d/pods/web", 'pods "web" is forbidden: User "alice" cannot get resource "pods" in API group "" in the namespace "d"'),
        ("GET", "/api/v1/nodes", 'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope'),
        ("GET", "/api/v1/namespaces/d/pods/web/log", 'pods "web" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "d"'),
        ("POST", "/apis/apps/v1/namespaces/d/deployments", 'deployments.apps is forbidden: User "alice" cannot create resource "deployments" in API group "apps" in the namespace "d"'),
        ("GET", "/api", 'forbidden: User "alice" cannot get path "/api"'),
    ],
)  # fmt: skip
def test_forbidden_messages_as_upstream(method: str, path: str, message: str) -> None:
    assert messages.forbidden(UserInfo("alice"), from_request(method, path, {})) == message


def test_node_authorizer_sees_what_a_pod_uses() -> None:
    from knet.apiserver.auth.node import node_name, references

    pod = {
        "spec": {
            "serviceAccountName": "robot",
            "imagePullSecrets": [{"name": "pull"}],
            "volumes": [
                {"name": "a", "secret": {"secretName": "vol-secret"}},
                {"name": "b", "configMap": {"name": "vol-cm"}},
                {"name": "c", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "d", "projected": {"sources": [{"secret": {"name": "proj"}}]}},
            ],
            "containers": [
                {
                    "name": "x",
                    "env": [
                        {
                            "name": "E",
                            "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}},
                        }
                    ],
                    "envFrom": [{"configMapRef": {"name": "env-cm"}}],
                }
            ],
        }
    }
    assert set(references(pod)) == {
        ("serviceaccounts", "robot"),
        ("secrets", "pull"),
        ("secrets", "vol-secret"),
        ("configmaps", "vol-cm"),
        ("persistentvolumeclaims", "data"),
        ("secrets", "proj"),
        ("secrets", "env-secret"),
        ("configmaps", "env-cm"),
    }
    assert node_name(UserInfo("system:node:n1", ("system:nodes",))) == "n1"
    assert node_name(UserInfo("system:node:n1")) is None  # not in the nodes group
