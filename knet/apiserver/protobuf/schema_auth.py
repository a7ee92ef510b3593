"""Protobuf field tables for the security kinds kubectl sends as protobuf: RBAC (rbac/v1), the
review and TokenRequest kinds (authorization/v1, authentication/v1); ServiceAccount is in
schema_ext.py. Field numbers are upstream's generated.proto (1.32), checked against the
descriptors compiled into kubectl 1.32; conventions as in schema.py."""

from __future__ import annotations

from knet.apiserver.protobuf.schema import (
    INT64,
    STRING,
    Message,
    opt,
    ptr,
    rep,
    req,
)

BOOL = "bool"


MESSAGES: dict[str, Message] = {
    "rbac.PolicyRule": {
        1: rep("verbs", STRING),
        2: rep("apiGroups", STRING),
        3: rep("resources", STRING),
        4: rep("resourceNames", STRING),
        5: rep("nonResourceURLs", STRING),
    },
    "rbac.Role": {1: opt("metadata", "meta.ObjectMeta"), 2: rep("rules", "rbac.PolicyRule")},
    "rbac.ClusterRole": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: rep("rules", "rbac.PolicyRule"),
        3: ptr("aggregationRule", "rbac.AggregationRule"),
    },
    "rbac.AggregationRule": {1: rep("clusterRoleSelectors", "meta.LabelSelector")},
    "rbac.Subject": {
        1: req("kind", STRING),
        2: opt("apiGroup", STRING),
        3: req("name", STRING),
        4: opt("namespace", STRING),
    },
    "rbac.RoleRef": {1: req("apiGroup", STRING), 2: req("kind", STRING), 3: req("name", STRING)},
    "rbac.RoleBinding": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: rep("subjects", "rbac.Subject"),
        3: req("roleRef", "rbac.RoleRef"),
    },
    "authz.ResourceAttributes": {
        1: opt("namespace", STRING),
        2: opt("verb", STRING),
        3: opt("group", STRING),
        4: opt("version", STRING),
        5: opt("resource", STRING),
        6: opt("subresource", STRING),
        7: opt("name", STRING),
    },
    "authz.NonResourceAttributes": {1: opt("path", STRING), 2: opt("verb", STRING)},
    "authz.SelfSubjectAccessReviewSpec": {
        1: ptr("resourceAttributes", "authz.ResourceAttributes"),
        2: ptr("nonResourceAttributes", "authz.NonResourceAttributes"),
    },
    "authz.SubjectAccessReviewSpec": {
        1: ptr("resourceAttributes", "authz.ResourceAttributes"),
        2: ptr("nonResourceAttributes", "authz.NonResourceAttributes"),
        3: opt("user", STRING),
        4: rep("groups", STRING),
        6: opt("uid", STRING),
    },
    "authz.SelfSubjectAccessReview": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: req("spec", "authz.SelfSubjectAccessReviewSpec"),
    },
    "authz.SubjectAccessReview": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: req("spec", "authz.SubjectAccessReviewSpec"),
    },
    "authz.SelfSubjectRulesReviewSpec": {1: opt("namespace", STRING)},
    "authz.SelfSubjectRulesReview": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: req("spec", "authz.SelfSubjectRulesReviewSpec"),
    },
    "authn.TokenReviewSpec": {1: opt("token", STRING), 2: rep("audiences", STRING)},
    "authn.TokenReview": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: req("spec", "authn.TokenReviewSpec"),
    },
    "authn.SelfSubjectReview": {1: opt("metadata", "meta.ObjectMeta")},
    "authn.BoundObjectReference": {
        1: opt("kind", STRING),
        2: opt("apiVersion", STRING),
        3: opt("name", STRING),
        4: opt("uid", STRING),
    },
    "authn.TokenRequestSpec": {
        1: rep("audiences", STRING),
        4: ptr("expirationSeconds", INT64),
        3: ptr("boundObjectRef", "authn.BoundObjectReference"),
    },
    "authn.TokenRequest": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: req("spec", "authn.TokenRequestSpec"),
    },
}

KINDS: dict[tuple[str, str], str] = {
    ("rbac.authorization.k8s.io/v1", "Role"): "rbac.Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "rbac.ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "rbac.RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "rbac.RoleBinding",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "authz.SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SubjectAccessReview"): "authz.SubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "authz.SelfSubjectRulesReview",
    ("authentication.k8s.io/v1", "TokenReview"): "authn.TokenReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "authn.SelfSubjectReview",
    ("authentication.k8s.io/v1", "TokenRequest"): "authn.TokenRequest",
}
