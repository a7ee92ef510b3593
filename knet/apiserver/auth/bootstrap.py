"""Upstream's bootstrap RBAC policy (the roles and bindings kube-apiserver makes at start-up),
as wire dicts. knet's components each get the role upstream gives theirs. Pure data."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io/v1"
_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_BOOTSTRAP = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_AUTO = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def _rule(verbs: list[str], groups: list[str], resources: list[str], **kw: list[str]) -> Obj:
    rule: Obj = {"verbs": verbs, "apiGroups": groups, "resources": resources}
    if kw.get("names"):
        rule["resourceNames"] = kw["names"]
    return rule


def _urls(verbs: list[str], urls: list[str]) -> Obj:
    return {"verbs": verbs, "nonResourceURLs": urls}


def _role(name: str, rules: list[Obj], labels: dict[str, str] | None = None, **kw: Any) -> Obj:
    meta: Obj = {"name": name, "labels": {**_BOOTSTRAP, **(labels or {})}, "annotations": _AUTO}
    role: Obj = {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": meta, "rules": rules}
    if "aggregate" in kw:
        role["aggregationRule"] = {
            "clusterRoleSelectors": [{"matchLabels": {kw["aggregate"]: "true"}}]
        }
    return role


def _binding(name: str, role: str, *subjects: tuple[str, str]) -> Obj:
    subs = []
    for kind, subject in subjects:
        if kind == "ServiceAccount":
            ns, _, sa = subject.partition("/")
            subs.append({"kind": kind, "name": sa, "namespace": ns})
        else:
            subs.append({"kind": kind, "apiGroup": "rbac.authorization.k8s.io", "name": subject})
    return {
        "apiVersion": RBAC,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": dict(_BOOTSTRAP), "annotations": _AUTO},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subs,
    }


_AGG = "rbac.authorization.k8s.io/aggregate-to-"
_VIEW_CORE = [
    "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status",
    "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
    "services", "services/status", "bindings", "events", "limitranges", "namespaces/status",
    "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas",
    "resourcequotas/status",
]  # fmt: skip
_APPS = [
    "controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
    "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
    "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status",
]  # fmt: skip
_DISCOVERY_URLS = [
    "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
    "/readyz", "/version", "/version/",
]  # fmt: skip
_ISSUER_URLS = [
    "/.well-known/openid-configuration", "/.well-known/openid-configuration/",
    "/openid/v1/jwks", "/openid/v1/jwks/",
]  # fmt: skip
_KCM_WRITES = [
    "pods", "pods/status", "replicasets", "replicasets/status", "replicasets/scale",
    "deployments", "deployments/status", "endpoints", "endpointslices", "events", "namespaces",
    "namespaces/status", "namespaces/finalize", "nodes", "nodes/status", "leases",
    "services/status", "serviceaccounts", "configmaps",
]  # fmt: skip
_EDIT_CORE = [
    "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "configmaps",
    "endpoints", "persistentvolumeclaims", "replicationcontrollers",
    "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy",
]  # fmt: skip


def cluster_roles() -> list[Obj]:
    view_labels = {f"{_AGG}view": "true", f"{_AGG}edit": "true", f"{_AGG}admin": "true"}
    return [
        _role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]),
        _role("admin", [], aggregate=f"{_AGG}admin"),
        _role("edit", [], {f"{_AGG}admin": "true"}, aggregate=f"{_AGG}edit"),
        _role("view", [], {f"{_AGG}edit": "true"}, aggregate=f"{_AGG}view"),
        _role(
            "system:aggregate-to-view",
            [
                _rule(_READ, [""], _VIEW_CORE),
                _rule(_READ, [""], ["namespaces"]),
                _rule(_READ, ["apps"], _APPS),
                _rule(_READ, ["autoscaling"], ["horizontalpodautoscalers"]),
                _rule(_READ, ["batch"], ["cronjobs", "jobs", "cronjobs/status", "jobs/status"]),
                _rule(_READ, ["policy"], ["poddisruptionbudgets"]),
                _rule(_READ, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
                _rule(_READ, ["discovery.k8s.io"], ["endpointslices"]),
            ],
            view_labels,
        ),
        _role(
            "system:aggregate-to-edit",
            [
                _rule([*_READ, *_WRITE], [""], _EDIT_CORE),
                _rule(["impersonate"], [""], ["serviceaccounts"]),
                _rule(["create"], [""], ["serviceaccounts/token"]),
                _rule([*_READ, *_WRITE], ["apps"], _APPS),
                _rule([*_READ, *_WRITE], ["autoscaling"], ["horizontalpodautoscalers"]),
                _rule([*_READ, *_WRITE], ["batch"], ["cronjobs", "jobs"]),
                _rule([*_READ, *_WRITE], ["policy"], ["poddisruptionbudgets"]),
                _rule([*_READ, *_WRITE], ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
                _rule([*_READ, *_WRITE], ["discovery.k8s.io"], ["endpointslices"]),
            ],
            {f"{_AGG}edit": "true", f"{_AGG}admin": "true"},
        ),
        _role(
            "system:aggregate-to-admin",
            [
                _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
                _rule([*_READ, *_WRITE], ["rbac.authorization.k8s.io"], ["rolebindings", "roles"]),
            ],
            {f"{_AGG}admin": "true"},
        ),
        _role(
            "system:basic-user",
            [
                _rule(
                    ["create"],
                    ["authorization.k8s.io"],
                    ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
            ],
        ),
        _role(
            "system:discovery",
            [_urls(["get"], _DISCOVERY_URLS)],
        ),
        _role(
            "system:public-info-viewer",
            [_urls(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"])],
        ),
        _role(
            "system:node-proxier",
            [
                _rule(["list", "watch"], [""], ["endpoints", "services"]),
                _rule(_READ, [""], ["nodes"]),
                _rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
                _rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
            ],
        ),
        _role("system:kube-scheduler", _scheduler_rules()),
        _role("system:kube-controller-manager", _controller_manager_rules()),
        _role(
            "system:kube-dns",
            [
                _rule(["list", "watch"], [""], ["endpoints", "services"]),
                _rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
            ],
        ),
        _role("system:node", _node_rules()),
        _role(
            "system:service-account-issuer-discovery",
            [_urls(["get"], _ISSUER_URLS)],
        ),
        _role(
            "system:auth-delegator",
            [
                _rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
                _rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
            ],
        ),
    ]


def _scheduler_rules() -> list[Obj]:
    return [
        _rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
        _rule(["create"], ["coordination.k8s.io"], ["leases"]),
        _rule(["get", "update"], ["coordination.k8s.io"], ["leases"], names=["kube-scheduler"]),
        _rule(_READ, [""], ["nodes", "namespaces", "services", "replicationcontrollers"]),
        _rule(["delete", *_READ], [""], ["pods"]),
        _rule(["create"], [""], ["bindings", "pods/binding"]),
        _rule(["patch", "update"], [""], ["pods/status"]),
        _rule(_READ, ["apps"], ["replicasets", "statefulsets"]),
        _rule(_READ, ["policy"], ["poddisruptionbudgets"]),
        _rule(_READ, [""], ["persistentvolumeclaims", "persistentvolumes"]),
        _rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        _rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
    ]


def _controller_manager_rules() -> list[Obj]:
    # knet's controller-manager runs every loop under one identity (upstream's runs each under
    # its own ServiceAccount): it holds what those loops together write.
    return [
        _rule(_READ, ["*"], ["*"]),
        _rule(
            [*_WRITE],
            ["", "apps", "discovery.k8s.io", "coordination.k8s.io", "events.k8s.io"],
            _KCM_WRITES,
        ),
        _rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        _rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
    ]


def _node_rules() -> list[Obj]:
    # What every node may do through RBAC; what depends on which node it is (its own Node and
    # pods, the Secrets/ConfigMaps/PVCs/tokens its pods use, its Lease) is the Node
    # authorizer's (node.py).
    return [
        _rule(["create", *_READ], [""], ["pods"]),
        _rule(["create"], [""], ["pods/eviction"]),
        _rule(["create", *_READ], [""], ["nodes"]),
        _rule(_READ, [""], ["services", "endpoints"]),
        _rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
        _rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
        _rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        _rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
    ]


def cluster_role_bindings() -> list[Obj]:
    return [
        _binding("cluster-admin", "cluster-admin", ("Group", "system:masters")),
        _binding("system:basic-user", "system:basic-user", ("Group", "system:authenticated")),
        _binding("system:discovery", "system:discovery", ("Group", "system:authenticated")),
        _binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            ("Group", "system:authenticated"),
            ("Group", "system:unauthenticated"),
        ),
        _binding("system:node-proxier", "system:node-proxier", ("User", "system:kube-proxy")),
        _binding(
            "system:kube-scheduler", "system:kube-scheduler", ("User", "system:kube-scheduler")
        ),
        _binding(
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            ("User", "system:kube-controller-manager"),
        ),
        _binding(
            "system:service-account-issuer-discovery",
            "system:service-account-issuer-discovery",
            ("Group", "system:serviceaccounts"),
        ),
        _binding("system:kube-dns", "system:kube-dns", ("ServiceAccount", "kube-system/kube-dns")),
        # Upstream leaves nodes wholly to the Node authorizer; knet's holds only what depends
        # on the node's identity, and the group gets the rest through this role.
        _binding("system:node", "system:node", ("Group", "system:nodes")),
    ]
