"""Protobuf field tables of the kinds added beside the first ten (see schema.py for the format
and sources): policy/v1 Eviction and PodDisruptionBudget (`kubectl drain`, `kubectl create pdb`),
core/v1 ServiceAccount and ResourceQuota (`kubectl create serviceaccount|quota`) and
networking.k8s.io/v1 Ingress (`kubectl create ingress`). Field numbers are upstream's, from
api/policy/v1, api/core/v1 and api/networking/v1 generated.proto.

Importing this module adds them to schema.MESSAGES and schema.KINDS (the package does).
"""

from __future__ import annotations

from knet.apiserver.protobuf.schema import (
    BOOL,
    INT32,
    INT64,
    INT_OR_STRING,
    KINDS,
    MESSAGES,
    QUANTITY,
    STRING,
    TIME,
    Field,
    Message,
    inline,
    opt,
    ptr,
    rep,
    req,
)

_POLICY: dict[str, Message] = {
    "policy.Eviction": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: ptr("deleteOptions", "meta.DeleteOptions"),
    },
    "policy.PodDisruptionBudget": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "policy.PodDisruptionBudgetSpec"),
        3: opt("status", "policy.PodDisruptionBudgetStatus"),
    },
    "policy.PodDisruptionBudgetSpec": {
        1: ptr("minAvailable", INT_OR_STRING),
        2: ptr("selector", "meta.LabelSelector"),
        3: ptr("maxUnavailable", INT_OR_STRING),
        4: ptr("unhealthyPodEvictionPolicy", STRING),
    },
    "policy.PodDisruptionBudgetStatus": {
        1: opt("observedGeneration", INT64),
        2: Field("disruptedPods", "map", map_value=TIME),
        3: req("disruptionsAllowed", INT32),
        4: req("currentHealthy", INT32),
        5: req("desiredHealthy", INT32),
        6: req("expectedPods", INT32),
        7: rep("conditions", "meta.Condition"),
    },
}

_CORE: dict[str, Message] = {
    "core.ServiceAccount": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: rep("secrets", "core.ObjectReference"),
        3: rep("imagePullSecrets", "core.LocalObjectReference"),
        4: ptr("automountServiceAccountToken", BOOL),
    },
    "core.ResourceQuota": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "core.ResourceQuotaSpec"),
        3: opt("status", "core.ResourceQuotaStatus"),
    },
    "core.ResourceQuotaSpec": {
        1: Field("hard", "map", map_value=QUANTITY),
        2: rep("scopes", STRING),
        3: ptr("scopeSelector", "core.ScopeSelector"),
    },
    "core.ResourceQuotaStatus": {
        1: Field("hard", "map", map_value=QUANTITY),
        2: Field("used", "map", map_value=QUANTITY),
    },
    "core.ScopeSelector": {1: rep("matchExpressions", "core.ScopedResourceSelectorRequirement")},
    "core.ScopedResourceSelectorRequirement": {
        1: req("scopeName", STRING),
        2: req("operator", STRING),
        3: rep("values", STRING),
    },
    "core.TypedLocalObjectReference": {
        1: ptr("apiGroup", STRING),
        2: req("kind", STRING),
        3: req("name", STRING),
    },
}

_NETWORKING: dict[str, Message] = {
    "networking.Ingress": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "networking.IngressSpec"),
        3: opt("status", "networking.IngressStatus"),
    },
    "networking.IngressSpec": {
        4: ptr("ingressClassName", STRING),
        1: ptr("defaultBackend", "networking.IngressBackend"),
        2: rep("tls", "networking.IngressTLS"),
        3: rep("rules", "networking.IngressRule"),
    },
    "networking.IngressBackend": {
        4: ptr("service", "networking.IngressServiceBackend"),
        3: ptr("resource", "core.TypedLocalObjectReference"),
    },
    "networking.IngressServiceBackend": {
        1: req("name", STRING),
        2: opt("port", "networking.ServiceBackendPort"),
    },
    "networking.ServiceBackendPort": {1: opt("name", STRING), 2: opt("number", INT32)},
    "networking.IngressTLS": {1: rep("hosts", STRING), 2: opt("secretName", STRING)},
    "networking.IngressRule": {
        1: opt("host", STRING),
        2: inline("networking.IngressRuleValue"),
    },
    "networking.IngressRuleValue": {1: ptr("http", "networking.HTTPIngressRuleValue")},
    "networking.HTTPIngressRuleValue": {1: rep("paths", "networking.HTTPIngressPath")},
    "networking.HTTPIngressPath": {
        1: opt("path", STRING),
        3: ptr("pathType", STRING),
        2: req("backend", "networking.IngressBackend"),
    },
    "networking.IngressStatus": {1: opt("loadBalancer", "networking.IngressLoadBalancerStatus")},
    "networking.IngressLoadBalancerStatus": {
        1: rep("ingress", "networking.IngressLoadBalancerIngress")
    },
    "networking.IngressLoadBalancerIngress": {
        1: opt("ip", STRING),
        2: opt("hostname", STRING),
        4: rep("ports", "networking.IngressPortStatus"),
    },
    "networking.IngressPortStatus": {
        1: req("port", INT32),
        2: req("protocol", STRING),
        3: ptr("error", STRING),
    },
}

MESSAGES.update(_POLICY)
MESSAGES.update(_CORE)
MESSAGES.update(_NETWORKING)
KINDS.update(
    {
        ("policy/v1", "Eviction"): "policy.Eviction",
        ("policy/v1", "PodDisruptionBudget"): "policy.PodDisruptionBudget",
        ("v1", "ServiceAccount"): "core.ServiceAccount",
        ("v1", "ResourceQuota"): "core.ResourceQuota",
        ("networking.k8s.io/v1", "Ingress"): "networking.Ingress",
    }
)
