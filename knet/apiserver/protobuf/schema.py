"""Which protobuf field is which JSON field, for the kinds this server serves.

Field numbers and names are upstream's, from the generated.proto files of Kubernetes 1.32
(kubernetes/kubernetes, staging/src/k8s.io/...; the same files as the kubernetes/api and
kubernetes/apimachinery repositories):
  api/core/v1/generated.proto                      (core.*)
  api/apps/v1/generated.proto                      (apps.*)
  api/autoscaling/v1/generated.proto               (autoscaling.*)
  api/coordination/v1/generated.proto              (coordination.*)
  api/discovery/v1/generated.proto                 (discovery.*)
  apimachinery/pkg/apis/meta/v1/generated.proto    (meta.*)
  apimachinery/pkg/runtime/generated.proto         (Unknown, TypeMeta: read in decode.py)
  apimachinery/pkg/util/intstr/generated.proto     (IntOrString)
  apimachinery/pkg/api/resource/generated.proto    (Quantity)
and checked against the file descriptors compiled into kubectl 1.32.

Only what is needed to read these kinds as clients send them is listed. A field number a message
does not list is skipped and left out of the result (as an old server drops a field it does not
know), so a newer client's extra fields cannot break decoding.

proto2 semantics as Go's JSON encoder sees them: generated Go code writes every non-pointer field,
even when empty, and a pointer field only when set. So a zero value on the wire is left out unless
the Go field is a pointer or its JSON tag has no omitempty (`keep_zero`), which is exactly when
kubectl's JSON would have carried it. Messages are always kept (encoding/json never omits a struct).
"""

from __future__ import annotations

from dataclasses import dataclass

# Scalar types.
STRING = "string"
BYTES = "bytes"
BOOL = "bool"
INT32 = "int32"
INT64 = "int64"
SCALARS = frozenset({STRING, BYTES, BOOL, INT32, INT64})

# Messages with a JSON form of their own (see decode.py).
TIME = "Time"  # {seconds, nanos} -> RFC 3339 in seconds, null when empty
MICRO_TIME = "MicroTime"  # {seconds, nanos} -> RFC 3339 in microseconds, null when empty
INT_OR_STRING = "IntOrString"  # {type, intVal, strVal} -> a number or a string
QUANTITY = "Quantity"  # {string} -> the string
FIELDS_V1 = "FieldsV1"  # {Raw} -> the JSON document it holds
SPECIALS = frozenset({TIME, MICRO_TIME, INT_OR_STRING, QUANTITY, FIELDS_V1})


@dataclass(frozen=True)
class Field:
    name: str  # the JSON name
    type: str  # a scalar, a special, or a key of MESSAGES
    repeated: bool = False
    map_value: str | None = None  # map<string, map_value>: entries with key = 1, value = 2
    keep_zero: bool = False  # Go pointer, or no omitempty: a zero value on the wire is sent
    inline: bool = False  # a Go struct embedded with `json:",inline"`: its fields join the parent


def opt(name: str, type_: str) -> Field:
    """An omitempty field: dropped when it holds its zero value."""
    return Field(name, type_)


def ptr(name: str, type_: str) -> Field:
    """A Go pointer: present only when set, and then kept even when zero."""
    return Field(name, type_, keep_zero=True)


def req(name: str, type_: str) -> Field:
    """A field whose JSON tag has no omitempty: a zero value is still sent."""
    return Field(name, type_, keep_zero=True)


def rep(name: str, type_: str) -> Field:
    return Field(name, type_, repeated=True)


def kv(name: str, value_type: str = STRING) -> Field:
    return Field(name, "map", map_value=value_type)


def inline(type_: str) -> Field:
    return Field("", type_, inline=True)


Message = dict[int, Field]

_META: dict[str, Message] = {
    "meta.ObjectMeta": {
        1: opt("name", STRING),
        2: opt("generateName", STRING),
        3: opt("namespace", STRING),
        4: opt("selfLink", STRING),
        5: opt("uid", STRING),
        6: opt("resourceVersion", STRING),
        7: opt("generation", INT64),
        8: opt("creationTimestamp", TIME),
        9: ptr("deletionTimestamp", TIME),
        10: ptr("deletionGracePeriodSeconds", INT64),
        11: kv("labels"),
        12: kv("annotations"),
        13: rep("ownerReferences", "meta.OwnerReference"),
        14: rep("finalizers", STRING),
        17: rep("managedFields", "meta.ManagedFieldsEntry"),
    },
    "meta.OwnerReference": {
        5: req("apiVersion", STRING),
        1: req("kind", STRING),
        3: req("name", STRING),
        4: req("uid", STRING),
        6: ptr("controller", BOOL),
        7: ptr("blockOwnerDeletion", BOOL),
    },
    "meta.ManagedFieldsEntry": {
        1: opt("manager", STRING),
        2: opt("operation", STRING),
        3: opt("apiVersion", STRING),
        4: ptr("time", TIME),
        6: opt("fieldsType", STRING),
        7: ptr("fieldsV1", FIELDS_V1),
        8: opt("subresource", STRING),
    },
    "meta.LabelSelector": {
        1: kv("matchLabels"),
        2: rep("matchExpressions", "meta.LabelSelectorRequirement"),
    },
    "meta.LabelSelectorRequirement": {
        1: req("key", STRING),
        2: req("operator", STRING),
        3: rep("values", STRING),
    },
    "meta.Condition": {
        1: req("type", STRING),
        2: req("status", STRING),
        3: opt("observedGeneration", INT64),
        4: req("lastTransitionTime", TIME),
        5: req("reason", STRING),
        6: req("message", STRING),
    },
    "meta.DeleteOptions": {
        1: ptr("gracePeriodSeconds", INT64),
        2: ptr("preconditions", "meta.Preconditions"),
        3: ptr("orphanDependents", BOOL),
        4: ptr("propagationPolicy", STRING),
        5: rep("dryRun", STRING),
        6: ptr("ignoreStoreReadErrorWithClusterBreakingPotential", BOOL),
    },
    "meta.Preconditions": {
        1: ptr("uid", STRING),
        2: ptr("resourceVersion", STRING),
    },
}

_CORE_OBJECTS: dict[str, Message] = {
    "core.Namespace": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "core.NamespaceSpec"),
        3: opt("status", "core.NamespaceStatus"),
    },
    "core.NamespaceSpec": {1: rep("finalizers", STRING)},
    "core.NamespaceStatus": {
        1: opt("phase", STRING),
        2: rep("conditions", "core.NamespaceCondition"),
    },
    "core.NamespaceCondition": {
        1: req("type", STRING),
        2: req("status", STRING),
        4: opt("lastTransitionTime", TIME),
        5: opt("reason", STRING),
        6: opt("message", STRING),
    },
    "core.Service": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "core.ServiceSpec"),
        3: opt("status", "core.ServiceStatus"),
    },
    "core.ServiceSpec": {
        1: rep("ports", "core.ServicePort"),
        2: kv("selector"),
        3: opt("clusterIP", STRING),
        18: rep("clusterIPs", STRING),
        4: opt("type", STRING),
        5: rep("externalIPs", STRING),
        7: opt("sessionAffinity", STRING),
        8: opt("loadBalancerIP", STRING),
        9: rep("loadBalancerSourceRanges", STRING),
        10: opt("externalName", STRING),
        11: opt("externalTrafficPolicy", STRING),
        12: opt("healthCheckNodePort", INT32),
        13: opt("publishNotReadyAddresses", BOOL),
        14: ptr("sessionAffinityConfig", "core.SessionAffinityConfig"),
        19: rep("ipFamilies", STRING),
        17: ptr("ipFamilyPolicy", STRING),
        20: ptr("allocateLoadBalancerNodePorts", BOOL),
        21: ptr("loadBalancerClass", STRING),
        22: ptr("internalTrafficPolicy", STRING),
        23: ptr("trafficDistribution", STRING),
    },
    "core.ServicePort": {
        1: opt("name", STRING),
        2: opt("protocol", STRING),
        6: ptr("appProtocol", STRING),
        3: req("port", INT32),
        4: opt("targetPort", INT_OR_STRING),
        5: opt("nodePort", INT32),
    },
    "core.SessionAffinityConfig": {1: ptr("clientIP", "core.ClientIPConfig")},
    "core.ClientIPConfig": {1: ptr("timeoutSeconds", INT32)},
    "core.ServiceStatus": {
        1: opt("loadBalancer", "core.LoadBalancerStatus"),
        2: rep("conditions", "meta.Condition"),
    },
    "core.LoadBalancerStatus": {1: rep("ingress", "core.LoadBalancerIngress")},
    "core.LoadBalancerIngress": {
        1: opt("ip", STRING),
        2: opt("hostname", STRING),
        3: ptr("ipMode", STRING),
        4: rep("ports", "core.PortStatus"),
    },
    "core.PortStatus": {
        1: req("port", INT32),
        2: req("protocol", STRING),
        3: ptr("error", STRING),
    },
    "core.Endpoints": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: rep("subsets", "core.EndpointSubset"),
    },
    "core.EndpointSubset": {
        1: rep("addresses", "core.EndpointAddress"),
        2: rep("notReadyAddresses", "core.EndpointAddress"),
        3: rep("ports", "core.EndpointPort"),
    },
    "core.EndpointAddress": {
        1: req("ip", STRING),
        3: opt("hostname", STRING),
        4: ptr("nodeName", STRING),
        2: ptr("targetRef", "core.ObjectReference"),
    },
    "core.EndpointPort": {
        1: opt("name", STRING),
        2: req("port", INT32),
        3: opt("protocol", STRING),
        4: ptr("appProtocol", STRING),
    },
    "core.ObjectReference": {
        1: opt("kind", STRING),
        2: opt("namespace", STRING),
        3: opt("name", STRING),
        4: opt("uid", STRING),
        5: opt("apiVersion", STRING),
        6: opt("resourceVersion", STRING),
        7: opt("fieldPath", STRING),
    },
    "core.Binding": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: req("target", "core.ObjectReference"),
    },
    "core.Event": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: req("involvedObject", "core.ObjectReference"),
        3: opt("reason", STRING),
        4: opt("message", STRING),
        5: opt("source", "core.EventSource"),
        6: opt("firstTimestamp", TIME),
        7: opt("lastTimestamp", TIME),
        8: opt("count", INT32),
        9: opt("type", STRING),
        10: opt("eventTime", MICRO_TIME),
        11: ptr("series", "core.EventSeries"),
        12: opt("action", STRING),
        13: ptr("related", "core.ObjectReference"),
        14: req("reportingComponent", STRING),
        15: req("reportingInstance", STRING),
    },
    "core.EventSource": {1: opt("component", STRING), 2: opt("host", STRING)},
    "core.EventSeries": {1: opt("count", INT32), 2: opt("lastObservedTime", MICRO_TIME)},
    "core.Node": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "core.NodeSpec"),
        3: opt("status", "core.NodeStatus"),
    },
    "core.NodeSpec": {
        1: opt("podCIDR", STRING),
        7: rep("podCIDRs", STRING),
        3: opt("providerID", STRING),
        4: opt("unschedulable", BOOL),
        5: rep("taints", "core.Taint"),
        2: opt("externalID", STRING),
    },
    "core.Taint": {
        1: req("key", STRING),
        2: opt("value", STRING),
        3: req("effect", STRING),
        4: ptr("timeAdded", TIME),
    },
    "core.NodeStatus": {
        1: kv("capacity", QUANTITY),
        2: kv("allocatable", QUANTITY),
        3: opt("phase", STRING),
        4: rep("conditions", "core.NodeCondition"),
        5: rep("addresses", "core.NodeAddress"),
        6: opt("daemonEndpoints", "core.NodeDaemonEndpoints"),
        7: opt("nodeInfo", "core.NodeSystemInfo"),
        9: rep("volumesInUse", STRING),
    },
    "core.NodeCondition": {
        1: req("type", STRING),
        2: req("status", STRING),
        3: opt("lastHeartbeatTime", TIME),
        4: opt("lastTransitionTime", TIME),
        5: opt("reason", STRING),
        6: opt("message", STRING),
    },
    "core.NodeAddress": {1: req("type", STRING), 2: req("address", STRING)},
    "core.NodeDaemonEndpoints": {1: opt("kubeletEndpoint", "core.DaemonEndpoint")},
    "core.DaemonEndpoint": {1: req("Port", INT32)},
    "core.NodeSystemInfo": {
        1: req("machineID", STRING),
        2: req("systemUUID", STRING),
        3: req("bootID", STRING),
        4: req("kernelVersion", STRING),
        5: req("osImage", STRING),
        6: req("containerRuntimeVersion", STRING),
        7: req("kubeletVersion", STRING),
        8: req("kubeProxyVersion", STRING),
        9: req("operatingSystem", STRING),
        10: req("architecture", STRING),
    },
}

_CORE_PODS: dict[str, Message] = {
    "core.Pod": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "core.PodSpec"),
        3: opt("status", "core.PodStatus"),
    },
    "core.PodTemplateSpec": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "core.PodSpec"),
    },
    "core.PodSpec": {
        1: rep("volumes", "core.Volume"),
        20: rep("initContainers", "core.Container"),
        2: rep("containers", "core.Container"),
        3: opt("restartPolicy", STRING),
        4: ptr("terminationGracePeriodSeconds", INT64),
        5: ptr("activeDeadlineSeconds", INT64),
        6: opt("dnsPolicy", STRING),
        7: kv("nodeSelector"),
        8: opt("serviceAccountName", STRING),
        9: opt("serviceAccount", STRING),
        21: ptr("automountServiceAccountToken", BOOL),
        10: opt("nodeName", STRING),
        11: opt("hostNetwork", BOOL),
        12: opt("hostPID", BOOL),
        13: opt("hostIPC", BOOL),
        27: ptr("shareProcessNamespace", BOOL),
        14: ptr("securityContext", "core.PodSecurityContext"),
        15: rep("imagePullSecrets", "core.LocalObjectReference"),
        16: opt("hostname", STRING),
        17: opt("subdomain", STRING),
        18: ptr("affinity", "core.Affinity"),
        19: opt("schedulerName", STRING),
        22: rep("tolerations", "core.Toleration"),
        23: rep("hostAliases", "core.HostAlias"),
        24: opt("priorityClassName", STRING),
        25: ptr("priority", INT32),
        26: ptr("dnsConfig", "core.PodDNSConfig"),
        28: rep("readinessGates", "core.PodReadinessGate"),
        29: ptr("runtimeClassName", STRING),
        30: ptr("enableServiceLinks", BOOL),
        31: ptr("preemptionPolicy", STRING),
        32: kv("overhead", QUANTITY),
        33: rep("topologySpreadConstraints", "core.TopologySpreadConstraint"),
        35: ptr("setHostnameAsFQDN", BOOL),
        36: ptr("os", "core.PodOS"),
        37: ptr("hostUsers", BOOL),
        38: rep("schedulingGates", "core.PodSchedulingGate"),
        40: ptr("resources", "core.ResourceRequirements"),
    },
    "core.Container": {
        1: req("name", STRING),
        2: opt("image", STRING),
        3: rep("command", STRING),
        4: rep("args", STRING),
        5: opt("workingDir", STRING),
        6: rep("ports", "core.ContainerPort"),
        19: rep("envFrom", "core.EnvFromSource"),
        7: rep("env", "core.EnvVar"),
        8: opt("resources", "core.ResourceRequirements"),
        23: rep("resizePolicy", "core.ContainerResizePolicy"),
        24: ptr("restartPolicy", STRING),
        9: rep("volumeMounts", "core.VolumeMount"),
        10: ptr("livenessProbe", "core.Probe"),
        11: ptr("readinessProbe", "core.Probe"),
        22: ptr("startupProbe", "core.Probe"),
        12: ptr("lifecycle", "core.Lifecycle"),
        13: opt("terminationMessagePath", STRING),
        20: opt("terminationMessagePolicy", STRING),
        14: opt("imagePullPolicy", STRING),
        15: ptr("securityContext", "core.SecurityContext"),
        16: opt("stdin", BOOL),
        17: opt("stdinOnce", BOOL),
        18: opt("tty", BOOL),
    },
    "core.ContainerPort": {
        1: opt("name", STRING),
        2: opt("hostPort", INT32),
        3: req("containerPort", INT32),
        4: opt("protocol", STRING),
        5: opt("hostIP", STRING),
    },
    "core.EnvVar": {
        1: req("name", STRING),
        2: opt("value", STRING),
        3: ptr("valueFrom", "core.EnvVarSource"),
    },
    "core.EnvVarSource": {
        1: ptr("fieldRef", "core.ObjectFieldSelector"),
        2: ptr("resourceFieldRef", "core.ResourceFieldSelector"),
        3: ptr("configMapKeyRef", "core.ConfigMapKeySelector"),
        4: ptr("secretKeyRef", "core.SecretKeySelector"),
    },
    "core.EnvFromSource": {
        1: opt("prefix", STRING),
        2: ptr("configMapRef", "core.ConfigMapEnvSource"),
        3: ptr("secretRef", "core.SecretEnvSource"),
    },
    "core.ConfigMapEnvSource": {
        1: inline("core.LocalObjectReference"),
        2: ptr("optional", BOOL),
    },
    "core.SecretEnvSource": {
        1: inline("core.LocalObjectReference"),
        2: ptr("optional", BOOL),
    },
    "core.ObjectFieldSelector": {1: opt("apiVersion", STRING), 2: req("fieldPath", STRING)},
    "core.ResourceFieldSelector": {
        1: opt("containerName", STRING),
        2: req("resource", STRING),
        3: opt("divisor", QUANTITY),
    },
    "core.ConfigMapKeySelector": {
        1: inline("core.LocalObjectReference"),
        2: req("key", STRING),
        3: ptr("optional", BOOL),
    },
    "core.SecretKeySelector": {
        1: inline("core.LocalObjectReference"),
        2: req("key", STRING),
        3: ptr("optional", BOOL),
    },
    "core.LocalObjectReference": {1: opt("name", STRING)},
    "core.ResourceRequirements": {
        1: kv("limits", QUANTITY),
        2: kv("requests", QUANTITY),
        3: rep("claims", "core.ResourceClaim"),
    },
    "core.ResourceClaim": {1: req("name", STRING), 2: opt("request", STRING)},
    "core.ContainerResizePolicy": {
        1: req("resourceName", STRING),
        2: req("restartPolicy", STRING),
    },
    "core.Probe": {
        1: inline("core.ProbeHandler"),
        2: opt("initialDelaySeconds", INT32),
        3: opt("timeoutSeconds", INT32),
        4: opt("periodSeconds", INT32),
        5: opt("successThreshold", INT32),
        6: opt("failureThreshold", INT32),
        7: ptr("terminationGracePeriodSeconds", INT64),
    },
    "core.ProbeHandler": {
        1: ptr("exec", "core.ExecAction"),
        2: ptr("httpGet", "core.HTTPGetAction"),
        3: ptr("tcpSocket", "core.TCPSocketAction"),
        4: ptr("grpc", "core.GRPCAction"),
    },
    "core.ExecAction": {1: rep("command", STRING)},
    "core.HTTPGetAction": {
        1: opt("path", STRING),
        2: req("port", INT_OR_STRING),
        3: opt("host", STRING),
        4: opt("scheme", STRING),
        5: rep("httpHeaders", "core.HTTPHeader"),
    },
    "core.HTTPHeader": {1: req("name", STRING), 2: req("value", STRING)},
    "core.TCPSocketAction": {1: req("port", INT_OR_STRING), 2: opt("host", STRING)},
    "core.GRPCAction": {1: req("port", INT32), 2: ptr("service", STRING)},
    "core.Lifecycle": {
        1: ptr("postStart", "core.LifecycleHandler"),
        2: ptr("preStop", "core.LifecycleHandler"),
    },
    "core.LifecycleHandler": {
        1: ptr("exec", "core.ExecAction"),
        2: ptr("httpGet", "core.HTTPGetAction"),
        3: ptr("tcpSocket", "core.TCPSocketAction"),
        4: ptr("sleep", "core.SleepAction"),
    },
    "core.SleepAction": {1: req("seconds", INT64)},
    "core.VolumeMount": {
        1: req("name", STRING),
        2: opt("readOnly", BOOL),
        7: ptr("recursiveReadOnly", STRING),
        3: req("mountPath", STRING),
        4: opt("subPath", STRING),
        5: ptr("mountPropagation", STRING),
        6: opt("subPathExpr", STRING),
    },
    "core.Volume": {1: req("name", STRING), 2: inline("core.VolumeSource")},
    # The volume types a small cluster uses; the cloud and network ones are skipped.
    "core.VolumeSource": {
        1: ptr("hostPath", "core.HostPathVolumeSource"),
        2: ptr("emptyDir", "core.EmptyDirVolumeSource"),
        6: ptr("secret", "core.SecretVolumeSource"),
        10: ptr("persistentVolumeClaim", "core.PersistentVolumeClaimVolumeSource"),
        16: ptr("downwardAPI", "core.DownwardAPIVolumeSource"),
        19: ptr("configMap", "core.ConfigMapVolumeSource"),
    },
    "core.HostPathVolumeSource": {1: req("path", STRING), 2: ptr("type", STRING)},
    "core.EmptyDirVolumeSource": {1: opt("medium", STRING), 2: ptr("sizeLimit", QUANTITY)},
    "core.SecretVolumeSource": {
        1: opt("secretName", STRING),
        2: rep("items", "core.KeyToPath"),
        3: ptr("defaultMode", INT32),
        4: ptr("optional", BOOL),
    },
    "core.ConfigMapVolumeSource": {
        1: inline("core.LocalObjectReference"),
        2: rep("items", "core.KeyToPath"),
        3: ptr("defaultMode", INT32),
        4: ptr("optional", BOOL),
    },
    "core.KeyToPath": {1: req("key", STRING), 2: req("path", STRING), 3: ptr("mode", INT32)},
    "core.PersistentVolumeClaimVolumeSource": {
        1: req("claimName", STRING),
        2: opt("readOnly", BOOL),
    },
    "core.DownwardAPIVolumeSource": {
        1: rep("items", "core.DownwardAPIVolumeFile"),
        2: ptr("defaultMode", INT32),
    },
    "core.DownwardAPIVolumeFile": {
        1: req("path", STRING),
        2: ptr("fieldRef", "core.ObjectFieldSelector"),
        3: ptr("resourceFieldRef", "core.ResourceFieldSelector"),
        4: ptr("mode", INT32),
    },
    "core.SecurityContext": {
        1: ptr("capabilities", "core.Capabilities"),
        2: ptr("privileged", BOOL),
        3: ptr("seLinuxOptions", "core.SELinuxOptions"),
        4: ptr("runAsUser", INT64),
        8: ptr("runAsGroup", INT64),
        5: ptr("runAsNonRoot", BOOL),
        6: ptr("readOnlyRootFilesystem", BOOL),
        7: ptr("allowPrivilegeEscalation", BOOL),
        9: ptr("procMount", STRING),
        11: ptr("seccompProfile", "core.SeccompProfile"),
        12: ptr("appArmorProfile", "core.AppArmorProfile"),
    },
    "core.Capabilities": {1: rep("add", STRING), 2: rep("drop", STRING)},
    "core.SELinuxOptions": {
        1: opt("user", STRING),
        2: opt("role", STRING),
        3: opt("type", STRING),
        4: opt("level", STRING),
    },
    "core.SeccompProfile": {1: req("type", STRING), 2: ptr("localhostProfile", STRING)},
    "core.AppArmorProfile": {1: req("type", STRING), 2: ptr("localhostProfile", STRING)},
    "core.PodSecurityContext": {
        1: ptr("seLinuxOptions", "core.SELinuxOptions"),
        2: ptr("runAsUser", INT64),
        6: ptr("runAsGroup", INT64),
        3: ptr("runAsNonRoot", BOOL),
        4: rep("supplementalGroups", INT64),
        12: ptr("supplementalGroupsPolicy", STRING),
        5: ptr("fsGroup", INT64),
        7: rep("sysctls", "core.Sysctl"),
        9: ptr("fsGroupChangePolicy", STRING),
        10: ptr("seccompProfile", "core.SeccompProfile"),
        11: ptr("appArmorProfile", "core.AppArmorProfile"),
        13: ptr("seLinuxChangePolicy", STRING),
    },
    "core.Sysctl": {1: req("name", STRING), 2: req("value", STRING)},
    "core.Toleration": {
        1: opt("key", STRING),
        2: opt("operator", STRING),
        3: opt("value", STRING),
        4: opt("effect", STRING),
        5: ptr("tolerationSeconds", INT64),
    },
    "core.HostAlias": {1: opt("ip", STRING), 2: rep("hostnames", STRING)},
    "core.PodDNSConfig": {
        1: rep("nameservers", STRING),
        2: rep("searches", STRING),
        3: rep("options", "core.PodDNSConfigOption"),
    },
    "core.PodDNSConfigOption": {1: opt("name", STRING), 2: ptr("value", STRING)},
    "core.PodReadinessGate": {1: req("conditionType", STRING)},
    "core.PodOS": {1: req("name", STRING)},
    "core.PodSchedulingGate": {1: req("name", STRING)},
    "core.Affinity": {
        1: ptr("nodeAffinity", "core.NodeAffinity"),
        2: ptr("podAffinity", "core.PodAffinity"),
        3: ptr("podAntiAffinity", "core.PodAntiAffinity"),
    },
    "core.NodeAffinity": {
        1: ptr("requiredDuringSchedulingIgnoredDuringExecution", "core.NodeSelector"),
        2: rep("preferredDuringSchedulingIgnoredDuringExecution", "core.PreferredSchedulingTerm"),
    },
    "core.NodeSelector": {1: rep("nodeSelectorTerms", "core.NodeSelectorTerm")},
    "core.NodeSelectorTerm": {
        1: rep("matchExpressions", "core.NodeSelectorRequirement"),
        2: rep("matchFields", "core.NodeSelectorRequirement"),
    },
    "core.NodeSelectorRequirement": {
        1: req("key", STRING),
        2: req("operator", STRING),
        3: rep("values", STRING),
    },
    "core.PreferredSchedulingTerm": {
        1: req("weight", INT32),
        2: req("preference", "core.NodeSelectorTerm"),
    },
    "core.PodAffinity": {
        1: rep("requiredDuringSchedulingIgnoredDuringExecution", "core.PodAffinityTerm"),
        2: rep("preferredDuringSchedulingIgnoredDuringExecution", "core.WeightedPodAffinityTerm"),
    },
    "core.PodAntiAffinity": {
        1: rep("requiredDuringSchedulingIgnoredDuringExecution", "core.PodAffinityTerm"),
        2: rep("preferredDuringSchedulingIgnoredDuringExecution", "core.WeightedPodAffinityTerm"),
    },
    "core.PodAffinityTerm": {
        1: ptr("labelSelector", "meta.LabelSelector"),
        2: rep("namespaces", STRING),
        3: req("topologyKey", STRING),
        4: ptr("namespaceSelector", "meta.LabelSelector"),
        5: rep("matchLabelKeys", STRING),
        6: rep("mismatchLabelKeys", STRING),
    },
    "core.WeightedPodAffinityTerm": {
        1: req("weight", INT32),
        2: req("podAffinityTerm", "core.PodAffinityTerm"),
    },
    "core.TopologySpreadConstraint": {
        1: req("maxSkew", INT32),
        2: req("topologyKey", STRING),
        3: req("whenUnsatisfiable", STRING),
        4: ptr("labelSelector", "meta.LabelSelector"),
        5: ptr("minDomains", INT32),
        6: ptr("nodeAffinityPolicy", STRING),
        7: ptr("nodeTaintsPolicy", STRING),
        8: rep("matchLabelKeys", STRING),
    },
    "core.PodStatus": {
        1: opt("phase", STRING),
        2: rep("conditions", "core.PodCondition"),
        3: opt("message", STRING),
        4: opt("reason", STRING),
        11: opt("nominatedNodeName", STRING),
        5: opt("hostIP", STRING),
        16: rep("hostIPs", "core.HostIP"),
        6: opt("podIP", STRING),
        12: rep("podIPs", "core.PodIP"),
        7: ptr("startTime", TIME),
        10: rep("initContainerStatuses", "core.ContainerStatus"),
        8: rep("containerStatuses", "core.ContainerStatus"),
        9: opt("qosClass", STRING),
    },
    "core.PodCondition": {
        1: req("type", STRING),
        2: req("status", STRING),
        3: opt("lastProbeTime", TIME),
        4: opt("lastTransitionTime", TIME),
        5: opt("reason", STRING),
        6: opt("message", STRING),
    },
    "core.PodIP": {1: req("ip", STRING)},
    "core.HostIP": {1: req("ip", STRING)},
    "core.ContainerStatus": {
        1: req("name", STRING),
        2: opt("state", "core.ContainerState"),
        3: opt("lastState", "core.ContainerState"),
        4: req("ready", BOOL),
        5: req("restartCount", INT32),
        6: req("image", STRING),
        7: req("imageID", STRING),
        8: opt("containerID", STRING),
        9: ptr("started", BOOL),
    },
    "core.ContainerState": {
        1: ptr("waiting", "core.ContainerStateWaiting"),
        2: ptr("running", "core.ContainerStateRunning"),
        3: ptr("terminated", "core.ContainerStateTerminated"),
    },
    "core.ContainerStateWaiting": {1: opt("reason", STRING), 2: opt("message", STRING)},
    "core.ContainerStateRunning": {1: opt("startedAt", TIME)},
    "core.ContainerStateTerminated": {
        1: req("exitCode", INT32),
        2: opt("signal", INT32),
        3: opt("reason", STRING),
        4: opt("message", STRING),
        5: opt("startedAt", TIME),
        6: opt("finishedAt", TIME),
        7: opt("containerID", STRING),
    },
}

_APPS: dict[str, Message] = {
    "apps.Deployment": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "apps.DeploymentSpec"),
        3: opt("status", "apps.DeploymentStatus"),
    },
    "apps.DeploymentSpec": {
        1: ptr("replicas", INT32),
        2: ptr("selector", "meta.LabelSelector"),
        3: req("template", "core.PodTemplateSpec"),
        4: opt("strategy", "apps.DeploymentStrategy"),
        5: opt("minReadySeconds", INT32),
        6: ptr("revisionHistoryLimit", INT32),
        7: opt("paused", BOOL),
        9: ptr("progressDeadlineSeconds", INT32),
    },
    "apps.DeploymentStrategy": {
        1: opt("type", STRING),
        2: ptr("rollingUpdate", "apps.RollingUpdateDeployment"),
    },
    "apps.RollingUpdateDeployment": {
        1: ptr("maxUnavailable", INT_OR_STRING),
        2: ptr("maxSurge", INT_OR_STRING),
    },
    "apps.DeploymentStatus": {
        1: opt("observedGeneration", INT64),
        2: opt("replicas", INT32),
        3: opt("updatedReplicas", INT32),
        7: opt("readyReplicas", INT32),
        4: opt("availableReplicas", INT32),
        5: opt("unavailableReplicas", INT32),
        6: rep("conditions", "apps.DeploymentCondition"),
        8: ptr("collisionCount", INT32),
    },
    "apps.DeploymentCondition": {
        1: req("type", STRING),
        2: req("status", STRING),
        6: opt("lastUpdateTime", TIME),
        7: opt("lastTransitionTime", TIME),
        4: opt("reason", STRING),
        5: opt("message", STRING),
    },
    "apps.ReplicaSet": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "apps.ReplicaSetSpec"),
        3: opt("status", "apps.ReplicaSetStatus"),
    },
    "apps.ReplicaSetSpec": {
        1: ptr("replicas", INT32),
        4: opt("minReadySeconds", INT32),
        2: ptr("selector", "meta.LabelSelector"),
        3: opt("template", "core.PodTemplateSpec"),
    },
    "apps.ReplicaSetStatus": {
        1: req("replicas", INT32),
        2: opt("fullyLabeledReplicas", INT32),
        4: opt("readyReplicas", INT32),
        5: opt("availableReplicas", INT32),
        3: opt("observedGeneration", INT64),
        6: rep("conditions", "apps.ReplicaSetCondition"),
    },
    "apps.ReplicaSetCondition": {
        1: req("type", STRING),
        2: req("status", STRING),
        3: opt("lastTransitionTime", TIME),
        4: opt("reason", STRING),
        5: opt("message", STRING),
    },
}

_OTHER_GROUPS: dict[str, Message] = {
    "autoscaling.Scale": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "autoscaling.ScaleSpec"),
        3: opt("status", "autoscaling.ScaleStatus"),
    },
    "autoscaling.ScaleSpec": {1: opt("replicas", INT32)},
    "autoscaling.ScaleStatus": {1: req("replicas", INT32), 2: opt("selector", STRING)},
    "coordination.Lease": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "coordination.LeaseSpec"),
    },
    "coordination.LeaseSpec": {
        1: ptr("holderIdentity", STRING),
        2: ptr("leaseDurationSeconds", INT32),
        3: ptr("acquireTime", MICRO_TIME),
        4: ptr("renewTime", MICRO_TIME),
        5: ptr("leaseTransitions", INT32),
        6: ptr("strategy", STRING),
        7: ptr("preferredHolder", STRING),
    },
    "discovery.EndpointSlice": {
        1: opt("metadata", "meta.ObjectMeta"),
        4: req("addressType", STRING),
        2: rep("endpoints", "discovery.Endpoint"),
        3: rep("ports", "discovery.EndpointPort"),
    },
    "discovery.Endpoint": {
        1: rep("addresses", STRING),
        2: opt("conditions", "discovery.EndpointConditions"),
        3: ptr("hostname", STRING),
        4: ptr("targetRef", "core.ObjectReference"),
        5: kv("deprecatedTopology"),
        6: ptr("nodeName", STRING),
        7: ptr("zone", STRING),
        8: ptr("hints", "discovery.EndpointHints"),
    },
    "discovery.EndpointConditions": {
        1: ptr("ready", BOOL),
        2: ptr("serving", BOOL),
        3: ptr("terminating", BOOL),
    },
    "discovery.EndpointHints": {1: rep("forZones", "discovery.ForZone")},
    "discovery.ForZone": {1: req("name", STRING)},
    "discovery.EndpointPort": {
        1: ptr("name", STRING),
        2: ptr("protocol", STRING),
        3: ptr("port", INT32),
        4: ptr("appProtocol", STRING),
    },
}

# core/v1 ConfigMap and Secret: `data`/`binaryData` are maps, the byte ones map<string, bytes>.
_CORE_CONFIG: dict[str, Message] = {
    "core.ConfigMap": {
        1: opt("metadata", "meta.ObjectMeta"),
        4: ptr("immutable", BOOL),
        2: kv("data"),
        3: kv("binaryData", BYTES),
    },
    "core.Secret": {
        1: opt("metadata", "meta.ObjectMeta"),
        5: ptr("immutable", BOOL),
        2: kv("data", BYTES),
        4: kv("stringData"),
        3: opt("type", STRING),
    },
}

MESSAGES: dict[str, Message] = {**_META, **_CORE_OBJECTS, **_CORE_PODS, **_APPS, **_OTHER_GROUPS}
MESSAGES.update(_CORE_CONFIG)

# The top-level message of each (apiVersion, kind) a client may send.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "core.Namespace",
    ("v1", "Pod"): "core.Pod",
    ("v1", "Service"): "core.Service",
    ("v1", "Endpoints"): "core.Endpoints",
    ("v1", "Node"): "core.Node",
    ("v1", "Event"): "core.Event",
    ("v1", "Binding"): "core.Binding",
    ("v1", "ConfigMap"): "core.ConfigMap",
    ("v1", "Secret"): "core.Secret",
    ("apps/v1", "Deployment"): "apps.Deployment",
    ("apps/v1", "ReplicaSet"): "apps.ReplicaSet",
    ("autoscaling/v1", "Scale"): "autoscaling.Scale",
    ("coordination.k8s.io/v1", "Lease"): "coordination.Lease",
    ("discovery.k8s.io/v1", "EndpointSlice"): "discovery.EndpointSlice",
}

# Kinds every group version registers (client-go tags them with the group version of the client
# that sends them: `kubectl drain` sends v1 DeleteOptions).
ANY_VERSION_KINDS: dict[str, str] = {"DeleteOptions": "meta.DeleteOptions"}


def message_for(api_version: str, kind: str) -> str | None:
    """The message that encodes `kind` in `api_version`, if we can decode it."""
    return KINDS.get((api_version, kind)) or ANY_VERSION_KINDS.get(kind)
