"""Object validation: one table of valid and invalid objects per kind, asserting field + reason."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from knet.apiserver.validation import (
    Cause,
    is_dns1123_label,
    is_dns1123_subdomain,
    validate_object,
)

Obj = dict[str, Any]
Mutation = Callable[[Obj], None]


def pod() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "knet/http:1",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                }
            ],
            "restartPolicy": "Always",
        },
    }


def service() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": "web"},
            "clusterIP": "10.96.0.10",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def deployment(kind: str = "Deployment") -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", "extra": "x"}},
                "spec": {"containers": [{"name": "web", "image": "knet/http:1"}]},
            },
        },
    }


def node() -> Obj:
    return {"kind": "Node", "metadata": {"name": "kt-node-1"}, "spec": {"podCIDR": "10.244.1.0/24"}}


def slice_() -> Obj:
    return {
        "kind": "EndpointSlice",
        "metadata": {"name": "web-abc12", "namespace": "default"},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def endpoints() -> Obj:
    return {
        "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "default"},
        "subsets": [
            {"addresses": [{"ip": "10.244.1.5"}], "ports": [{"port": 8080, "protocol": "TCP"}]}
        ],
    }


def lease() -> Obj:
    return {
        "kind": "Lease",
        "metadata": {"name": "kt-node-1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "kt-node-1", "leaseDurationSeconds": 40, "leaseTransitions": 0},
    }


def namespace() -> Obj:
    return {"kind": "Namespace", "metadata": {"name": "team-a"}}


FACTORIES: dict[str, Callable[[], Obj]] = {
    "Pod": pod,
    "Service": service,
    "Deployment": deployment,
    "ReplicaSet": lambda: deployment("ReplicaSet"),
    "Node": node,
    "EndpointSlice": slice_,
    "Endpoints": endpoints,
    "Lease": lease,
    "Namespace": namespace,
}


def _set(path: str, value: Any) -> Mutation:
    """A mutation that sets a dotted path ("spec.containers.0.image"); value DELETE removes."""

    def apply(obj: Obj) -> None:
        *parents, last = path.split(".")
        target: Any = obj
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        elif value is DELETE:
            del target[last]
        else:
            target[last] = value

    return apply


DELETE = object()


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_valid_objects_have_no_causes(kind: str) -> None:
    assert validate_object(kind, FACTORIES[kind]()) == []


INVALID: list[Any] = [
    # metadata, any kind
    pytest.param(
        "Pod",
        _set("metadata.name", DELETE),
        "metadata.name",
        "FieldValueRequired",
        id="name-missing",
    ),
    pytest.param(
        "Pod",
        _set("metadata.name", "Web_1"),
        "metadata.name",
        "FieldValueInvalid",
        id="name-not-subdomain",
    ),
    pytest.param(
        "Pod",
        _set("metadata.name", "a" * 254),
        "metadata.name",
        "FieldValueInvalid",
        id="name-too-long",
    ),
    pytest.param(
        "Namespace",
        _set("metadata.name", "a.b"),
        "metadata.name",
        "FieldValueInvalid",
        id="namespace-name-not-label",
    ),
    pytest.param(
        "Service",
        _set("metadata.name", "1web"),
        "metadata.name",
        "FieldValueInvalid",
        id="service-name-starts-with-digit",
    ),
    pytest.param(
        "Pod",
        _set("metadata.namespace", "Bad"),
        "metadata.namespace",
        "FieldValueInvalid",
        id="bad-namespace",
    ),
    pytest.param(
        "Node",
        _set("metadata.namespace", "default"),
        "metadata.namespace",
        "FieldValueForbidden",
        id="namespace-on-cluster-kind",
    ),
    pytest.param(
        "Pod",
        _set("metadata.labels", {"bad key": "x"}),
        "metadata.labels",
        "FieldValueInvalid",
        id="label-key",
    ),
    pytest.param(
        "Pod",
        _set("metadata.labels", {"app": "-x"}),
        "metadata.labels[app]",
        "FieldValueInvalid",
        id="label-value",
    ),
    pytest.param(
        "Pod",
        _set("metadata.labels", {"app": 3}),
        "metadata.labels[app]",
        "FieldValueInvalid",
        id="label-value-not-string",
    ),
    pytest.param(
        "Pod",
        _set("metadata.labels", "app=web"),
        "metadata.labels",
        "FieldValueInvalid",
        id="labels-not-a-map",
    ),
    pytest.param(
        "Pod",
        _set("metadata.annotations", {"a/b/c": "x"}),
        "metadata.annotations",
        "FieldValueInvalid",
        id="annotation-key",
    ),
    pytest.param(
        "Pod",
        _set("metadata.annotations", {"big": "x" * (256 * 1024)}),
        "metadata.annotations",
        "FieldValueTooLong",
        id="annotations-too-big",
    ),
    pytest.param(
        "Pod", _set("metadata", "x"), "metadata", "FieldValueInvalid", id="metadata-not-object"
    ),
    # Pod
    pytest.param(
        "Pod",
        _set("spec.containers", []),
        "spec.containers",
        "FieldValueRequired",
        id="pod-no-containers",
    ),
    pytest.param(
        "Pod", _set("spec", DELETE), "spec.containers", "FieldValueRequired", id="pod-no-spec"
    ),
    pytest.param(
        "Pod",
        _set("spec.containers", "web"),
        "spec.containers",
        "FieldValueInvalid",
        id="pod-containers-string",
    ),
    pytest.param(
        "Pod",
        _set("spec.containers.0", "web"),
        "spec.containers[0]",
        "FieldValueInvalid",
        id="pod-container-string",
    ),
    pytest.param(
        "Pod",
        _set("spec.containers.0.image", ""),
        "spec.containers[0].image",
        "FieldValueRequired",
        id="pod-image-empty",
    ),
    pytest.param(
        "Pod",
        _set("spec.containers.0.image", DELETE),
        "spec.containers[0].image",
        "FieldValueRequired",
        id="pod-image-missing",
    ),
    pytest.param(
        "Pod",
        _set("spec.containers.0.name", DELETE),
        "spec.containers[0].name",
        "FieldValueRequired",
        id="pod-container-name-missing",
    ),
    pytest.param(
        "Pod",
        _set("spec.containers.0.name", "Web"),
        "spec.containers[0].name",
        "FieldValueInvalid",
        id="pod-container-name-invalid",
    ),
    pytest.param(
        "Pod",
        _set("spec.containers.0.ports.0.containerPort", 70000),
        "spec.containers[0].ports[0].containerPort",
        "FieldValueInvalid",
        id="pod-port-range",
    ),
    pytest.param(
        "Pod",
        _set("spec.containers.0.ports.0.containerPort", DELETE),
        "spec.containers[0].ports[0].containerPort",
        "FieldValueRequired",
        id="pod-port-missing",
    ),
    pytest.param(
        "Pod",
        _set("spec.containers.0.ports.0.containerPort", "80"),
        "spec.containers[0].ports[0].containerPort",
        "FieldValueInvalid",
        id="pod-port-string",
    ),
    pytest.param(
        "Pod",
        _set("spec.containers.0.ports.0.protocol", "ICMP"),
        "spec.containers[0].ports[0].protocol",
        "FieldValueNotSupported",
        id="pod-port-protocol",
    ),
    pytest.param(
        "Pod",
        _set("spec.containers.0.ports.0.name", "http--x"),
        "spec.containers[0].ports[0].name",
        "FieldValueInvalid",
        id="pod-port-name",
    ),
    pytest.param(
        "Pod",
        _set("spec.restartPolicy", "Sometimes"),
        "spec.restartPolicy",
        "FieldValueNotSupported",
        id="pod-restart-policy",
    ),
    pytest.param(
        "Pod",
        _set("spec.nodeName", "Node_1"),
        "spec.nodeName",
        "FieldValueInvalid",
        id="pod-node-name",
    ),
    # Service
    pytest.param(
        "Service", _set("spec.ports", []), "spec.ports", "FieldValueRequired", id="svc-no-ports"
    ),
    pytest.param(
        "Service",
        _set("spec.ports.0.port", 0),
        "spec.ports[0].port",
        "FieldValueInvalid",
        id="svc-port-zero",
    ),
    pytest.param(
        "Service",
        _set("spec.ports.0.port", DELETE),
        "spec.ports[0].port",
        "FieldValueInvalid",
        id="svc-port-missing",
    ),
    pytest.param(
        "Service",
        _set("spec.ports.0.targetPort", 65536),
        "spec.ports[0].targetPort",
        "FieldValueInvalid",
        id="svc-target-port-range",
    ),
    pytest.param(
        "Service",
        _set("spec.ports.0.targetPort", "8080"),
        "spec.ports[0].targetPort",
        "FieldValueInvalid",
        id="svc-target-port-numeric-string",
    ),
    pytest.param(
        "Service",
        _set("spec.ports.0.targetPort", [1]),
        "spec.ports[0].targetPort",
        "FieldValueInvalid",
        id="svc-target-port-list",
    ),
    pytest.param(
        "Service",
        _set("spec.ports.0.nodePort", 30080),
        "spec.ports[0].nodePort",
        "FieldValueForbidden",
        id="svc-nodeport-on-clusterip",
    ),
    pytest.param(
        "Service",
        _set("spec.ports.0.protocol", "HTTP"),
        "spec.ports[0].protocol",
        "FieldValueNotSupported",
        id="svc-protocol",
    ),
    pytest.param(
        "Service", _set("spec.type", "Magic"), "spec.type", "FieldValueNotSupported", id="svc-type"
    ),
    pytest.param(
        "Service",
        _set("spec.clusterIP", "10.96.0.300"),
        "spec.clusterIP",
        "FieldValueInvalid",
        id="svc-cluster-ip",
    ),
    pytest.param(
        "Service",
        _set("spec.sessionAffinity", "Sticky"),
        "spec.sessionAffinity",
        "FieldValueNotSupported",
        id="svc-affinity",
    ),
    pytest.param(
        "Service",
        _set("spec.externalTrafficPolicy", "Local"),
        "spec.externalTrafficPolicy",
        "FieldValueInvalid",
        id="svc-etp-on-clusterip",
    ),
    pytest.param(
        "Service",
        _set("spec.selector", {"app": "a b"}),
        "spec.selector[app]",
        "FieldValueInvalid",
        id="svc-selector-value",
    ),
    pytest.param(
        "Service",
        _set("spec.ports", [{"port": 80}, {"name": "b", "port": 81}]),
        "spec.ports[0].name",
        "FieldValueRequired",
        id="svc-port-name-required",
    ),
    pytest.param(
        "Service",
        _set("spec.ports", [{"name": "a", "port": 80}, {"name": "a", "port": 81}]),
        "spec.ports[1].name",
        "FieldValueDuplicate",
        id="svc-port-name-duplicate",
    ),
    pytest.param(
        "Service",
        _set("spec.ports", [{"name": "a", "port": 80}, {"name": "b", "port": 80}]),
        "spec.ports[1]",
        "FieldValueDuplicate",
        id="svc-port-duplicate",
    ),
    pytest.param(
        "Service",
        _set("spec.ports", "80"),
        "spec.ports",
        "FieldValueInvalid",
        id="svc-ports-string",
    ),
    pytest.param(
        "Service",
        _set("spec.type", "ExternalName"),
        "spec.externalName",
        "FieldValueRequired",
        id="svc-externalname-missing",
    ),
    # Deployment / ReplicaSet
    pytest.param(
        "Deployment",
        _set("spec.selector", DELETE),
        "spec.selector",
        "FieldValueRequired",
        id="deploy-no-selector",
    ),
    pytest.param(
        "Deployment",
        _set("spec.selector", {}),
        "spec.selector",
        "FieldValueInvalid",
        id="deploy-empty-selector",
    ),
    pytest.param(
        "Deployment",
        _set("spec.selector.matchLabels.app", "db"),
        "spec.template.metadata.labels",
        "FieldValueInvalid",
        id="deploy-selector-mismatch",
    ),
    pytest.param(
        "Deployment",
        _set("spec.replicas", -1),
        "spec.replicas",
        "FieldValueInvalid",
        id="deploy-negative-replicas",
    ),
    pytest.param(
        "Deployment",
        _set("spec.replicas", "3"),
        "spec.replicas",
        "FieldValueInvalid",
        id="deploy-replicas-string",
    ),
    pytest.param(
        "Deployment",
        _set("spec.template.spec.containers", []),
        "spec.template.spec.containers",
        "FieldValueRequired",
        id="deploy-template-no-containers",
    ),
    pytest.param(
        "Deployment",
        _set("spec.template.spec.containers.0.image", ""),
        "spec.template.spec.containers[0].image",
        "FieldValueRequired",
        id="deploy-template-image",
    ),
    pytest.param(
        "Deployment",
        _set("spec.template.spec.restartPolicy", "Never"),
        "spec.template.spec.restartPolicy",
        "FieldValueNotSupported",
        id="deploy-restart-never",
    ),
    pytest.param(
        "Deployment",
        _set("spec.strategy", {"type": "BlueGreen"}),
        "spec.strategy.type",
        "FieldValueNotSupported",
        id="deploy-strategy",
    ),
    pytest.param(
        "Deployment",
        _set("spec.template", DELETE),
        "spec.template",
        "FieldValueRequired",
        id="deploy-no-template",
    ),
    pytest.param(
        "ReplicaSet",
        _set("spec.selector", {"matchExpressions": [{"key": "app", "operator": "In"}]}),
        "spec.selector.matchExpressions[0].values",
        "FieldValueRequired",
        id="rs-in-without-values",
    ),
    pytest.param(
        "ReplicaSet",
        _set(
            "spec.selector",
            {"matchExpressions": [{"key": "app", "operator": "Like", "values": ["x"]}]},
        ),
        "spec.selector.matchExpressions[0].operator",
        "FieldValueInvalid",
        id="rs-bad-operator",
    ),
    pytest.param(
        "ReplicaSet",
        _set(
            "spec.selector",
            {"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]},
        ),
        "spec.selector.matchExpressions[0].values",
        "FieldValueForbidden",
        id="rs-exists-with-values",
    ),
    pytest.param(
        "ReplicaSet",
        _set("spec.template.metadata.labels", {}),
        "spec.template.metadata.labels",
        "FieldValueInvalid",
        id="rs-template-no-labels",
    ),
    # Node
    pytest.param(
        "Node",
        _set("spec.podCIDR", "10.244.1.0"),
        "spec.podCIDR",
        "FieldValueInvalid",
        id="node-cidr-no-prefix",
    ),
    pytest.param(
        "Node",
        _set("spec.podCIDR", "nonsense/24"),
        "spec.podCIDR",
        "FieldValueInvalid",
        id="node-cidr-garbage",
    ),
    pytest.param(
        "Node",
        _set("spec.podCIDRs", ["10.244.2.0/24"]),
        "spec.podCIDRs[0]",
        "FieldValueInvalid",
        id="node-cidrs-mismatch",
    ),
    # EndpointSlice
    pytest.param(
        "EndpointSlice",
        _set("addressType", DELETE),
        "addressType",
        "FieldValueRequired",
        id="slice-no-address-type",
    ),
    pytest.param(
        "EndpointSlice",
        _set("addressType", "IP"),
        "addressType",
        "FieldValueNotSupported",
        id="slice-bad-address-type",
    ),
    pytest.param(
        "EndpointSlice",
        _set("endpoints.0.addresses", []),
        "endpoints[0].addresses",
        "FieldValueRequired",
        id="slice-no-addresses",
    ),
    pytest.param(
        "EndpointSlice",
        _set("endpoints.0.addresses", ["10.0.0.1"] * 101),
        "endpoints[0].addresses",
        "FieldValueTooMany",
        id="slice-too-many-addresses",
    ),
    pytest.param(
        "EndpointSlice",
        _set("endpoints.0.addresses", ["fd00::1"]),
        "endpoints[0].addresses[0]",
        "FieldValueInvalid",
        id="slice-family-mismatch",
    ),
    pytest.param(
        "EndpointSlice",
        _set("endpoints.0.addresses", ["10.0.0.256"]),
        "endpoints[0].addresses[0]",
        "FieldValueInvalid",
        id="slice-bad-ip",
    ),
    pytest.param(
        "EndpointSlice",
        _set("endpoints", [{"addresses": ["10.0.0.1"]}] * 1001),
        "endpoints",
        "FieldValueTooMany",
        id="slice-too-many-endpoints",
    ),
    pytest.param(
        "EndpointSlice",
        _set("ports.0.port", 0),
        "ports[0].port",
        "FieldValueInvalid",
        id="slice-port-zero",
    ),
    pytest.param(
        "EndpointSlice",
        _set("ports.0.protocol", "ICMP"),
        "ports[0].protocol",
        "FieldValueNotSupported",
        id="slice-protocol",
    ),
    pytest.param(
        "EndpointSlice",
        _set("ports", [{"name": "a", "port": 1}, {"name": "a", "port": 2}]),
        "ports[1].name",
        "FieldValueDuplicate",
        id="slice-port-name-dup",
    ),
    pytest.param(
        "EndpointSlice",
        _set("endpoints", "10.0.0.1"),
        "endpoints",
        "FieldValueInvalid",
        id="slice-endpoints-string",
    ),
    # Endpoints
    pytest.param(
        "Endpoints",
        _set("subsets.0.addresses.0.ip", "10.0.0"),
        "subsets[0].addresses[0].ip",
        "FieldValueInvalid",
        id="endpoints-bad-ip",
    ),
    pytest.param(
        "Endpoints",
        _set("subsets.0.ports.0.port", 99999),
        "subsets[0].ports[0].port",
        "FieldValueInvalid",
        id="endpoints-bad-port",
    ),
    # Lease
    pytest.param(
        "Lease",
        _set("spec.leaseDurationSeconds", 0),
        "spec.leaseDurationSeconds",
        "FieldValueInvalid",
        id="lease-zero-duration",
    ),
    pytest.param(
        "Lease",
        _set("spec.leaseTransitions", -1),
        "spec.leaseTransitions",
        "FieldValueInvalid",
        id="lease-negative-transitions",
    ),
]


@pytest.mark.parametrize(("kind", "mutate", "field", "reason"), INVALID)
def test_invalid_objects(kind: str, mutate: Mutation, field: str, reason: str) -> None:
    obj = FACTORIES[kind]()
    mutate(obj)
    causes = validate_object(kind, obj)
    assert (field, reason) in {(c.field, c.reason) for c in causes}, causes


VALID_VARIANTS: list[Any] = [
    pytest.param("Pod", _set("metadata.name", DELETE), id="generate-name-only"),
    pytest.param(
        "Pod", _set("spec.containers.0.ports.0.protocol", DELETE), id="pod-protocol-defaulted"
    ),
    pytest.param("Pod", _set("spec.restartPolicy", DELETE), id="pod-restart-policy-defaulted"),
    pytest.param("Service", _set("spec.clusterIP", "None"), id="svc-headless"),
    pytest.param("Service", _set("spec.ports.0.targetPort", "http"), id="svc-named-target-port"),
    pytest.param("Service", _set("spec.type", "NodePort"), id="svc-nodeport"),
    pytest.param("Service", _set("spec.selector", DELETE), id="svc-no-selector"),
    pytest.param("Deployment", _set("spec.replicas", 0), id="deploy-zero-replicas"),
    pytest.param("Node", _set("spec", {}), id="node-no-cidr"),
    pytest.param("EndpointSlice", _set("ports.0.port", None), id="slice-all-ports"),
    pytest.param("EndpointSlice", _set("endpoints", []), id="slice-no-endpoints"),
]


@pytest.mark.parametrize(("kind", "mutate"), VALID_VARIANTS)
def test_valid_variants(kind: str, mutate: Mutation) -> None:
    obj = FACTORIES[kind]()
    mutate(obj)
    if kind == "Pod" and "name" not in obj["metadata"]:
        obj["metadata"]["generateName"] = "web-"
    assert validate_object(kind, obj) == []


def test_headless_service_without_ports_is_valid() -> None:
    svc = service()
    svc["spec"]["clusterIP"] = "None"
    svc["spec"]["ports"] = []
    assert validate_object("Service", svc) == []


def test_nodeport_service_with_node_port_and_local_policy_is_valid() -> None:
    svc = service()
    svc["spec"]["type"] = "NodePort"
    svc["spec"]["externalTrafficPolicy"] = "Local"
    svc["spec"]["ports"][0]["nodePort"] = 30080
    assert validate_object("Service", svc) == []


def test_externalname_service() -> None:
    svc = service()
    svc["spec"] = {"type": "ExternalName", "externalName": "db.example.com."}
    assert validate_object("Service", svc) == []


# Messages use upstream's wording ------------------------------------------------------------


def test_messages_match_upstream_wording() -> None:
    obj = pod()
    obj["metadata"]["name"] = "Web"
    obj["spec"]["containers"][0]["image"] = ""
    obj["spec"]["restartPolicy"] = "Sometimes"
    by_field = {c.field: c.message for c in validate_object("Pod", obj)}
    assert by_field["metadata.name"] == (
        'Invalid value: "Web": a lowercase RFC 1123 subdomain must consist of lower case '
        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
        "character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )
    assert by_field["spec.containers[0].image"] == "Required value"
    assert by_field["spec.restartPolicy"] == (
        'Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"'
    )


def test_dns_label_message() -> None:
    assert is_dns1123_label("my-name") == []
    assert is_dns1123_label("My_Name") == [
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    ]
    assert is_dns1123_label("a" * 64)[0] == "must be no more than 63 characters"
    assert is_dns1123_subdomain("a.b-c.d") == []
    assert is_dns1123_subdomain("a" * 254)[0] == "must be no more than 253 characters"


def test_other_messages() -> None:
    svc = service()
    svc["spec"]["ports"][0]["nodePort"] = 30080
    svc["spec"]["ports"][0]["port"] = 0
    msgs = {c.field: c.message for c in validate_object("Service", svc)}
    assert msgs["spec.ports[0].nodePort"] == "Forbidden: may not be used when `type` is 'ClusterIP'"
    assert msgs["spec.ports[0].port"] == "Invalid value: 0: must be between 1 and 65535, inclusive"
    dep = deployment()
    dep["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    (cause,) = validate_object("Deployment", dep)
    assert cause == Cause(
        "FieldValueInvalid",
        'Invalid value: {"app":"other"}: `selector` does not match template `labels`',
        "spec.template.metadata.labels",
    )
    obj = pod()
    del obj["metadata"]["name"]
    (cause,) = validate_object("Pod", obj)
    assert cause.message == "Required value: name or generateName is required"


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param({"metadata": [], "spec": 5}, id="wrong-types"),
        pytest.param(
            {"metadata": {"name": 5, "labels": [1]}, "spec": {"containers": [None, 3]}}, id="nested"
        ),
        pytest.param(
            {"spec": {"ports": [None, "x", {"port": "eighty"}], "type": 7}}, id="service-junk"
        ),
        pytest.param({"spec": {"selector": "x", "template": []}}, id="workload-junk"),
        pytest.param(
            {"endpoints": [{"addresses": "x"}], "ports": {}, "subsets": [1]}, id="endpoint-junk"
        ),
        pytest.param({}, id="empty"),
    ],
)
@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_malformed_shapes_never_raise(kind: str, garbage: Obj) -> None:
    causes = validate_object(kind, copy.deepcopy(garbage), old=copy.deepcopy(garbage))
    assert all(isinstance(c, Cause) for c in causes)


def test_malformed_pod_reports_causes() -> None:
    obj = pod()
    obj["spec"]["containers"] = "web"
    (cause,) = validate_object("Pod", obj)
    assert cause.field == "spec.containers"
    assert cause.reason == "FieldValueInvalid"


# Updates --------------------------------------------------------------------------------------


def test_pod_update_may_change_image() -> None:
    old = pod()
    new = pod()
    new["spec"]["containers"][0]["image"] = "knet/http:2"
    new["spec"]["activeDeadlineSeconds"] = 30
    new["spec"]["tolerations"] = [{"key": "k", "operator": "Exists"}]
    assert validate_object("Pod", new, old=old) == []


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(_set("spec.containers.0.ports.0.containerPort", 9090), id="port"),
        pytest.param(_set("spec.restartPolicy", "Never"), id="restart-policy"),
        pytest.param(_set("spec.nodeName", "kt-node-2"), id="node-name"),
        pytest.param(_set("spec.containers.0.name", "other"), id="container-name"),
    ],
)
def test_pod_update_other_spec_changes_forbidden(mutate: Mutation) -> None:
    old = pod()
    new = pod()
    mutate(new)
    causes = validate_object("Pod", new, old=old)
    assert [(c.field, c.reason) for c in causes] == [("spec", "FieldValueForbidden")]
    assert causes[0].message.startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
    )


def test_pod_update_may_not_drop_tolerations() -> None:
    old = pod()
    old["spec"]["tolerations"] = [{"key": "a", "operator": "Exists"}]
    new = pod()
    assert validate_object("Pod", new, old=old)[0].reason == "FieldValueForbidden"


def test_pod_metadata_update_allowed() -> None:
    old = pod()
    new = pod()
    new["metadata"]["labels"] = {"app": "web", "new": "label"}
    assert validate_object("Pod", new, old=old) == []


def test_service_cluster_ip_immutable() -> None:
    old = service()
    new = service()
    new["spec"]["clusterIP"] = "10.96.0.11"
    causes = validate_object("Service", new, old=old)
    assert [(c.field, c.reason, c.message) for c in causes] == [
        ("spec.clusterIP", "FieldValueInvalid", 'Invalid value: "10.96.0.11": field is immutable')
    ]
    new["spec"]["clusterIP"] = ""
    assert validate_object("Service", new, old=old) == []


def test_deployment_selector_immutable() -> None:
    old = deployment()
    new = deployment()
    new["spec"]["selector"] = {"matchLabels": {"extra": "x"}}
    causes = validate_object("Deployment", new, old=old)
    assert ("spec.selector", "FieldValueInvalid") in {(c.field, c.reason) for c in causes}
    assert validate_object("Deployment", deployment(), old=old) == []


def test_node_pod_cidr_may_be_set_once() -> None:
    old = node()
    old["spec"] = {}
    new = node()
    assert validate_object("Node", new, old=old) == []
    changed = node()
    changed["spec"]["podCIDR"] = "10.244.9.0/24"
    causes = validate_object("Node", changed, old=new)
    assert [(c.field, c.reason) for c in causes] == [("spec.podCIDRs", "FieldValueForbidden")]
