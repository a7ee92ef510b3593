"""Protobuf field tables of the rest of the stored kinds (see schema.py for the format):
core/v1 PersistentVolumeClaim, PersistentVolume (hostPath, nfs, local and csi sources; other
sources are skipped as unknown fields), LimitRange and PodTemplate; networking.k8s.io/v1
IngressClass and NetworkPolicy; autoscaling/v2 and v1 HorizontalPodAutoscaler;
apiregistration.k8s.io/v1 APIService. Field numbers are upstream's generated.proto ones.

Importing this module adds them to schema.MESSAGES and schema.KINDS (the package does).
"""

from __future__ import annotations

from knet.apiserver.protobuf.schema import (
    BOOL,
    BYTES,
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
    kv,
    opt,
    ptr,
    rep,
    req,
)


def _quantities(name: str) -> Field:
    return Field(name, "map", map_value=QUANTITY)


_VOLUMES: dict[str, Message] = {
    "core.PersistentVolumeClaim": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "core.PersistentVolumeClaimSpec"),
        3: opt("status", "core.PersistentVolumeClaimStatus"),
    },
    "core.PersistentVolumeClaimSpec": {
        1: rep("accessModes", STRING),
        4: ptr("selector", "meta.LabelSelector"),
        2: opt("resources", "core.VolumeResourceRequirements"),
        3: opt("volumeName", STRING),
        5: ptr("storageClassName", STRING),
        6: ptr("volumeMode", STRING),
        7: ptr("dataSource", "core.TypedLocalObjectReference"),
        9: ptr("volumeAttributesClassName", STRING),
    },
    "core.VolumeResourceRequirements": {1: _quantities("limits"), 2: _quantities("requests")},
    "core.PersistentVolumeClaimStatus": {
        1: opt("phase", STRING),
        2: rep("accessModes", STRING),
        3: _quantities("capacity"),
        4: rep("conditions", "core.PersistentVolumeClaimCondition"),
    },
    "core.PersistentVolumeClaimCondition": {
        1: req("type", STRING),
        2: req("status", STRING),
        3: opt("lastProbeTime", TIME),
        4: opt("lastTransitionTime", TIME),
        5: opt("reason", STRING),
        6: opt("message", STRING),
    },
    "core.PersistentVolume": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "core.PersistentVolumeSpec"),
        3: opt("status", "core.PersistentVolumeStatus"),
    },
    "core.PersistentVolumeSpec": {
        1: _quantities("capacity"),
        2: inline("core.PersistentVolumeSource"),
        3: rep("accessModes", STRING),
        4: ptr("claimRef", "core.ObjectReference"),
        5: opt("persistentVolumeReclaimPolicy", STRING),
        6: opt("storageClassName", STRING),
        7: rep("mountOptions", STRING),
        8: ptr("volumeMode", STRING),
        9: ptr("nodeAffinity", "core.VolumeNodeAffinity"),
        10: ptr("volumeAttributesClassName", STRING),
    },
    "core.PersistentVolumeSource": {
        3: ptr("hostPath", "core.HostPathVolumeSource"),
        5: ptr("nfs", "core.NFSVolumeSource"),
        20: ptr("local", "core.LocalVolumeSource"),
        22: ptr("csi", "core.CSIPersistentVolumeSource"),
    },
    "core.NFSVolumeSource": {
        1: req("server", STRING),
        2: req("path", STRING),
        3: opt("readOnly", BOOL),
    },
    "core.LocalVolumeSource": {1: req("path", STRING), 2: ptr("fsType", STRING)},
    "core.CSIPersistentVolumeSource": {
        1: req("driver", STRING),
        2: req("volumeHandle", STRING),
        3: opt("readOnly", BOOL),
        4: opt("fsType", STRING),
        5: kv("volumeAttributes"),
    },
    "core.VolumeNodeAffinity": {1: ptr("required", "core.NodeSelector")},
    "core.PersistentVolumeStatus": {
        1: opt("phase", STRING),
        2: opt("message", STRING),
        3: opt("reason", STRING),
        4: ptr("lastPhaseTransitionTime", TIME),
    },
    "core.LimitRange": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "core.LimitRangeSpec"),
    },
    "core.LimitRangeSpec": {1: rep("limits", "core.LimitRangeItem")},
    "core.LimitRangeItem": {
        1: req("type", STRING),
        2: _quantities("max"),
        3: _quantities("min"),
        4: _quantities("default"),
        5: _quantities("defaultRequest"),
        6: _quantities("maxLimitRequestRatio"),
    },
    "core.PodTemplate": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("template", "core.PodTemplateSpec"),
    },
}

_NETWORKING: dict[str, Message] = {
    "networking.IngressClass": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "networking.IngressClassSpec"),
    },
    "networking.IngressClassSpec": {
        1: opt("controller", STRING),
        2: ptr("parameters", "networking.IngressClassParametersReference"),
    },
    "networking.IngressClassParametersReference": {
        1: ptr("apiGroup", STRING),
        2: req("kind", STRING),
        3: req("name", STRING),
        4: ptr("scope", STRING),
        5: ptr("namespace", STRING),
    },
    "networking.NetworkPolicy": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "networking.NetworkPolicySpec"),
    },
    "networking.NetworkPolicySpec": {
        1: req("podSelector", "meta.LabelSelector"),
        2: rep("ingress", "networking.NetworkPolicyIngressRule"),
        3: rep("egress", "networking.NetworkPolicyEgressRule"),
        4: rep("policyTypes", STRING),
    },
    "networking.NetworkPolicyIngressRule": {
        1: rep("ports", "networking.NetworkPolicyPort"),
        2: rep("from", "networking.NetworkPolicyPeer"),
    },
    "networking.NetworkPolicyEgressRule": {
        1: rep("ports", "networking.NetworkPolicyPort"),
        2: rep("to", "networking.NetworkPolicyPeer"),
    },
    "networking.NetworkPolicyPort": {
        1: ptr("protocol", STRING),
        2: ptr("port", INT_OR_STRING),
        3: ptr("endPort", INT32),
    },
    "networking.NetworkPolicyPeer": {
        1: ptr("podSelector", "meta.LabelSelector"),
        2: ptr("namespaceSelector", "meta.LabelSelector"),
        3: ptr("ipBlock", "networking.IPBlock"),
    },
    "networking.IPBlock": {1: req("cidr", STRING), 2: rep("except", STRING)},
}

_AUTOSCALING: dict[str, Message] = {
    "autoscaling2.HorizontalPodAutoscaler": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "autoscaling2.HorizontalPodAutoscalerSpec"),
        3: opt("status", "autoscaling2.HorizontalPodAutoscalerStatus"),
    },
    "autoscaling2.HorizontalPodAutoscalerSpec": {
        1: req("scaleTargetRef", "autoscaling2.CrossVersionObjectReference"),
        2: ptr("minReplicas", INT32),
        3: req("maxReplicas", INT32),
        4: rep("metrics", "autoscaling2.MetricSpec"),
        5: ptr("behavior", "autoscaling2.HorizontalPodAutoscalerBehavior"),
    },
    "autoscaling2.CrossVersionObjectReference": {
        1: req("kind", STRING),
        2: req("name", STRING),
        3: opt("apiVersion", STRING),
    },
    "autoscaling2.MetricSpec": {
        1: req("type", STRING),
        2: ptr("object", "autoscaling2.ObjectMetricSource"),
        3: ptr("pods", "autoscaling2.PodsMetricSource"),
        4: ptr("resource", "autoscaling2.ResourceMetricSource"),
        7: ptr("containerResource", "autoscaling2.ContainerResourceMetricSource"),
        5: ptr("external", "autoscaling2.ExternalMetricSource"),
    },
    "autoscaling2.ObjectMetricSource": {
        1: req("describedObject", "autoscaling2.CrossVersionObjectReference"),
        2: req("target", "autoscaling2.MetricTarget"),
        3: req("metric", "autoscaling2.MetricIdentifier"),
    },
    "autoscaling2.PodsMetricSource": {
        1: req("metric", "autoscaling2.MetricIdentifier"),
        2: req("target", "autoscaling2.MetricTarget"),
    },
    "autoscaling2.ResourceMetricSource": {
        1: req("name", STRING),
        2: req("target", "autoscaling2.MetricTarget"),
    },
    "autoscaling2.ContainerResourceMetricSource": {
        1: req("name", STRING),
        2: req("target", "autoscaling2.MetricTarget"),
        3: req("container", STRING),
    },
    "autoscaling2.ExternalMetricSource": {
        1: req("metric", "autoscaling2.MetricIdentifier"),
        2: req("target", "autoscaling2.MetricTarget"),
    },
    "autoscaling2.MetricIdentifier": {
        1: req("name", STRING),
        2: ptr("selector", "meta.LabelSelector"),
    },
    "autoscaling2.MetricTarget": {
        1: req("type", STRING),
        2: ptr("value", QUANTITY),
        3: ptr("averageValue", QUANTITY),
        4: ptr("averageUtilization", INT32),
    },
    "autoscaling2.HorizontalPodAutoscalerBehavior": {
        1: ptr("scaleUp", "autoscaling2.HPAScalingRules"),
        2: ptr("scaleDown", "autoscaling2.HPAScalingRules"),
    },
    "autoscaling2.HPAScalingRules": {
        3: ptr("stabilizationWindowSeconds", INT32),
        1: ptr("selectPolicy", STRING),
        2: rep("policies", "autoscaling2.HPAScalingPolicy"),
    },
    "autoscaling2.HPAScalingPolicy": {
        1: req("type", STRING),
        2: req("value", INT32),
        3: req("periodSeconds", INT32),
    },
    "autoscaling2.HorizontalPodAutoscalerStatus": {
        1: ptr("observedGeneration", INT64),
        2: ptr("lastScaleTime", TIME),
        3: opt("currentReplicas", INT32),
        4: req("desiredReplicas", INT32),
        6: rep("conditions", "autoscaling2.HorizontalPodAutoscalerCondition"),
    },
    "autoscaling2.HorizontalPodAutoscalerCondition": {
        1: req("type", STRING),
        2: req("status", STRING),
        3: opt("lastTransitionTime", TIME),
        4: opt("reason", STRING),
        5: opt("message", STRING),
    },
}

# autoscaling/v1 (what `kubectl autoscale` sends).
_AUTOSCALING_V1: dict[str, Message] = {
    "autoscaling.HorizontalPodAutoscaler": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "autoscaling.HorizontalPodAutoscalerSpec"),
        3: opt("status", "autoscaling.HorizontalPodAutoscalerStatus"),
    },
    "autoscaling.HorizontalPodAutoscalerSpec": {
        1: req("scaleTargetRef", "autoscaling2.CrossVersionObjectReference"),
        2: ptr("minReplicas", INT32),
        3: req("maxReplicas", INT32),
        4: ptr("targetCPUUtilizationPercentage", INT32),
    },
    "autoscaling.HorizontalPodAutoscalerStatus": {
        1: ptr("observedGeneration", INT64),
        2: ptr("lastScaleTime", TIME),
        3: req("currentReplicas", INT32),
        4: req("desiredReplicas", INT32),
        5: ptr("currentCPUUtilizationPercentage", INT32),
    },
}

_APIREGISTRATION: dict[str, Message] = {
    "apiregistration.APIService": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "apiregistration.APIServiceSpec"),
        3: opt("status", "apiregistration.APIServiceStatus"),
    },
    "apiregistration.APIServiceSpec": {
        1: ptr("service", "apiregistration.ServiceReference"),
        2: opt("group", STRING),
        3: opt("version", STRING),
        4: opt("insecureSkipTLSVerify", BOOL),
        5: opt("caBundle", BYTES),
        7: req("groupPriorityMinimum", INT32),
        8: req("versionPriority", INT32),
    },
    "apiregistration.ServiceReference": {
        1: opt("namespace", STRING),
        2: opt("name", STRING),
        3: ptr("port", INT32),
    },
    "apiregistration.APIServiceStatus": {
        1: rep("conditions", "apiregistration.APIServiceCondition"),
    },
    "apiregistration.APIServiceCondition": {
        1: req("type", STRING),
        2: req("status", STRING),
        3: opt("lastTransitionTime", TIME),
        4: opt("reason", STRING),
        5: opt("message", STRING),
    },
}

for _table in (_VOLUMES, _NETWORKING, _AUTOSCALING, _AUTOSCALING_V1, _APIREGISTRATION):
    MESSAGES.update(_table)
KINDS.update(
    {
        ("v1", "PersistentVolumeClaim"): "core.PersistentVolumeClaim",
        ("v1", "PersistentVolume"): "core.PersistentVolume",
        ("v1", "LimitRange"): "core.LimitRange",
        ("v1", "PodTemplate"): "core.PodTemplate",
        ("networking.k8s.io/v1", "IngressClass"): "networking.IngressClass",
        ("networking.k8s.io/v1", "NetworkPolicy"): "networking.NetworkPolicy",
        ("autoscaling/v2", "HorizontalPodAutoscaler"): "autoscaling2.HorizontalPodAutoscaler",
        ("autoscaling/v1", "HorizontalPodAutoscaler"): "autoscaling.HorizontalPodAutoscaler",
        ("apiregistration.k8s.io/v1", "APIService"): "apiregistration.APIService",
    }
)
