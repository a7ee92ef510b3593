"""The wire models: exact round trips (unknown fields included), Kubernetes' spellings, strict
types, required fields and the apiVersion/kind defaults."""

import copy
import inspect
import json
import re
from typing import Any

import pydantic
import pytest

import knet.api as api
from knet.api import (
    Binding,
    Container,
    ContainerPort,
    Deployment,
    EndpointSlice,
    Event,
    KubeModel,
    Lease,
    Node,
    NodeSpec,
    ObjectMeta,
    ObjectReference,
    Pod,
    PodIP,
    PodList,
    PodSpec,
    PodStatus,
    Scale,
    Service,
    ServiceSpec,
    Status,
    Table,
    WatchEvent,
    from_wire,
    to_wire,
)

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "uid": "7c2b0f5e-1111-4c3e-9a59-1f2a3b4c5d6e",
        "resourceVersion": "4711",
        "generation": 3,
        "creationTimestamp": "2026-11-22T16:06:07Z",
        "labels": {"app": "web"},
        "annotations": {"deployment.kubernetes.io/revision": "2"},
        "managedFields": [
            {
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": "2026-11-22T16:06:07Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}},
            }
        ],
    },
    "spec": {
        "replicas": 3,
        "selector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
        },
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
        },
        "minReadySeconds": 5,
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "template": {
            "metadata": {"labels": {"app": "web", "tier": "front"}, "creationTimestamp": None},
            "spec": {
                "containers": [
                    {
                        "name": "nginx",
                        "image": "nginx:1.27",
                        "args": ["-g", "daemon off;"],
                        "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}],
                        "env": [
                            {"name": "MODE", "value": "prod"},
                            {
                                "name": "POD_IP",
                                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                            },
                        ],
                        "resources": {"limits": {"cpu": 1, "memory": "128Mi"}},
                        "readinessProbe": {
                            "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                            "periodSeconds": 10,
                            "failureThreshold": 3,
                        },
                        # Fields knet does not model, at several depths.
                        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                        "securityContext": {"runAsNonRoot": True},
                        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                        "futureField": {"nested": [1, {"deeper": None}]},
                    }
                ],
                "volumes": [{"name": "cache", "emptyDir": {}}],
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "kubernetes.io/os",
                                            "operator": "In",
                                            "values": ["linux"],
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                },
                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "schedulerName": "default-scheduler",
                "topologySpreadConstraints": [
                    {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
                ],
            },
        },
    },
    "status": {
        "observedGeneration": 3,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "lastUpdateTime": "2026-11-22T16:06:09Z",
                "lastTransitionTime": "2026-11-22T16:06:09Z",
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            }
        ],
    },
}

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "type": "NodePort",
        "selector": {"app": "web"},
        "ports": [
            {
                "name": "http",
                "protocol": "TCP",
                "port": 80,
                "targetPort": "http",
                "nodePort": 30080,
            },
            {"name": "metrics", "port": 9090, "targetPort": 9090, "appProtocol": "http"},
        ],
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10"],
        "externalIPs": ["192.0.2.7"],
        "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
        "externalTrafficPolicy": "Local",
        "internalTrafficPolicy": "Cluster",
        "healthCheckNodePort": 31000,
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "publishNotReadyAddresses": False,
        "loadBalancerIP": "",
    },
    "status": {"loadBalancer": {}},
}

NODE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "node1", "labels": {"kubernetes.io/hostname": "node1"}},
    "spec": {
        "podCIDR": "10.244.1.0/24",
        "podCIDRs": ["10.244.1.0/24"],
        "providerID": "knet://node1",
        "taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}],
    },
    "status": {
        "capacity": {"cpu": "4", "memory": "8037Mi", "pods": "110"},
        "allocatable": {"cpu": "4", "memory": "7935Mi", "pods": "110"},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "lastHeartbeatTime": "2026-11-22T16:06:07Z",
                "lastTransitionTime": "2026-11-22T16:00:00Z",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
            }
        ],
        "addresses": [
            {"type": "InternalIP", "address": "192.168.56.11"},
            {"type": "Hostname", "address": "node1"},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": "0123456789abcdef0123456789abcdef",
            "systemUUID": "4c4c4544-0031-3510-8052-b4c04f4e4d32",
            "bootID": "b1f2c3d4-5e6f-4a8b-9c0d-e1f2a3b4c5d6",
            "kernelVersion": "6.8.0-45-generic",
            "osImage": "Ubuntu 24.04.1 LTS",
            "containerRuntimeVersion": "knet://0.1.0",
            "kubeletVersion": "v1.32.0",
            "kubeProxyVersion": "v1.32.0",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
        "images": [{"names": ["busybox"], "sizeBytes": 1234}],
    },
}

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-1",
        "namespace": "default",
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-5d8f",
                "uid": "aa",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
        "finalizers": ["knet.io/sandbox"],
        "deletionTimestamp": "2026-11-22T16:10:00Z",
        "deletionGracePeriodSeconds": 30,
    },
    "spec": {
        "nodeName": "node1",
        "hostNetwork": False,
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
        "containers": [
            {
                "name": "app",
                "image": "busybox",
                "workingDir": "/",
                "ports": [{"containerPort": 8080, "hostIP": "0.0.0.0", "hostPort": 8080}],
                "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 1},
                "startupProbe": {"exec": {"command": ["cat", "/ready"]}, "timeoutSeconds": 2},
            }
        ],
    },
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None}],
        "hostIP": "192.168.56.11",
        "hostIPs": [{"ip": "192.168.56.11"}],
        "podIP": "10.244.1.5",
        "podIPs": [{"ip": "10.244.1.5"}],
        "startTime": "2026-11-22T16:06:07Z",
        "containerStatuses": [
            {
                "name": "app",
                "image": "busybox",
                "imageID": "knet://busybox",
                "containerID": "knet://1234",
                "ready": True,
                "started": True,
                "restartCount": 1,
                "state": {"running": {"startedAt": "2026-11-22T16:06:08Z"}},
                "lastState": {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "Error",
                        "containerID": "knet://1233",
                        "finishedAt": "2026-11-22T16:06:07Z",
                    }
                },
            }
        ],
    },
}

ROUND_TRIPS: list[tuple[type[KubeModel], dict[str, Any]]] = [
    (Deployment, DEPLOYMENT),
    (Service, SERVICE),
    (Node, NODE),
    (Pod, POD),
    (PodList, {"apiVersion": "v1", "kind": "PodList", "metadata": {"continue": "x"}, "items": []}),
    (
        EndpointSlice,
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [
                {
                    "addresses": ["10.244.1.5"],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "nodeName": "node1",
                    "zone": "a",
                    "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"},
                }
            ],
            "ports": [{"name": "http", "protocol": "TCP", "port": 8080, "appProtocol": "http"}],
        },
    ),
    (
        Event,
        {
            "metadata": {"name": "web-1.17a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
            "reason": "Started",
            "message": "Started container app",
            "source": {"component": "kubelet", "host": "node1"},
            "firstTimestamp": "2026-11-22T16:06:08Z",
            "lastTimestamp": "2026-11-22T16:06:08Z",
            "count": 1,
            "type": "Normal",
            "eventTime": None,
            "reportingComponent": "kubelet",
            "reportingInstance": "node1",
        },
    ),
    (
        Lease,
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "node1", "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": "node1",
                "leaseDurationSeconds": 40,
                "renewTime": "2026-11-22T16:06:07.123456Z",
            },
        },
    ),
    (
        Status,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": 'Pod "x" is invalid: spec.containers: Required value',
            "reason": "Invalid",
            "code": 422,
            "details": {
                "name": "x",
                "group": "",
                "kind": "Pod",
                "causes": [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value",
                        "field": "spec.containers",
                    }
                ],
            },
        },
    ),
    (
        Table,
        {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": "107"},
            "columnDefinitions": None,
            "rows": [{"cells": ["web-1", "1/1", 0], "object": {"kind": "PartialObjectMetadata"}}],
        },
    ),
]


@pytest.mark.parametrize(("cls", "wire"), ROUND_TRIPS, ids=lambda x: getattr(x, "__name__", ""))
def test_round_trip_is_exact(cls: type[KubeModel], wire: dict[str, Any]) -> None:
    original = copy.deepcopy(wire)
    assert to_wire(from_wire(cls, wire)) == original
    assert wire == original  # parsing does not mutate its input


def test_unknown_fields_are_reachable_and_kept_inside_containers() -> None:
    deployment = from_wire(Deployment, DEPLOYMENT)
    assert deployment.spec is not None and deployment.spec.template.spec is not None
    container = deployment.spec.template.spec.containers[0]
    assert container.model_extra is not None
    assert container.model_extra["futureField"] == {"nested": [1, {"deeper": None}]}
    container.image = "nginx:1.28"
    wire = to_wire(deployment)
    out = wire["spec"]["template"]["spec"]["containers"][0]
    assert out["image"] == "nginx:1.28"
    assert out["volumeMounts"] == [{"name": "cache", "mountPath": "/cache"}]
    assert out["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "5"]}}}


def test_typed_access_uses_snake_case() -> None:
    service = from_wire(Service, SERVICE)
    assert service.spec is not None and service.spec.ports is not None
    assert [p.target_port for p in service.spec.ports] == ["http", 9090]
    assert service.spec.cluster_ips == ["10.96.0.10"]
    assert service.spec.session_affinity_config is not None
    assert service.spec.session_affinity_config.client_ip is not None
    assert service.spec.session_affinity_config.client_ip.timeout_seconds == 10800

    node = from_wire(Node, NODE)
    assert node.status is not None and node.status.node_info is not None
    assert node.status.node_info.boot_id == "b1f2c3d4-5e6f-4a8b-9c0d-e1f2a3b4c5d6"
    assert node.status.capacity == {"cpu": "4", "memory": "8037Mi", "pods": "110"}

    pod = from_wire(Pod, POD)
    assert pod.status is not None and pod.status.container_statuses is not None
    last = pod.status.container_statuses[0].last_state
    assert last is not None and last.terminated is not None
    assert last.terminated.exit_code == 137


def test_irregular_names_use_kubernetes_spelling() -> None:
    status = PodStatus(
        pod_ip="10.244.1.5",
        pod_ips=[PodIP(ip="10.244.1.5")],
        host_ip="192.168.56.11",
    )
    assert set(to_wire(status)) == {"podIP", "podIPs", "hostIP"}
    spec = ServiceSpec(
        cluster_ip="10.96.0.1",
        cluster_ips=["10.96.0.1"],
        external_ips=["192.0.2.1"],
        load_balancer_ip="192.0.2.2",
        ip_families=["IPv4"],
    )
    assert set(to_wire(spec)) == {
        "clusterIP",
        "clusterIPs",
        "externalIPs",
        "loadBalancerIP",
        "ipFamilies",
    }
    node_spec = NodeSpec(pod_cidr="10.244.0.0/24", pod_cidrs=["10.244.0.0/24"], provider_id="p")
    assert set(to_wire(node_spec)) == {"podCIDR", "podCIDRs", "providerID"}
    port = ContainerPort(container_port=80, host_ip="127.0.0.1")
    assert to_wire(port) == {"containerPort": 80, "hostIP": "127.0.0.1"}


def _all_models() -> list[type[KubeModel]]:
    return [
        obj
        for _, obj in inspect.getmembers(api, inspect.isclass)
        if issubclass(obj, KubeModel) and obj is not KubeModel
    ]


def test_no_alias_lowercases_an_initialism() -> None:
    # Kubernetes writes IP, IPs, ID, CIDR, UUID in capitals; to_camel would give "podIp".
    wrong = re.compile(r"(Ip|Ips|Id|Cidr|Cidrs|Uuid|Uid)(?![a-z])")
    aliases = {
        f"{model.__name__}.{name}": field.alias
        for model in _all_models()
        for name, field in model.model_fields.items()
    }
    assert len(aliases) > 200
    assert {k: a for k, a in aliases.items() if a is None or wrong.search(a)} == {}


def test_python_built_objects_carry_api_version_and_kind() -> None:
    pod = Pod(
        metadata=ObjectMeta(name="p"),
        spec=PodSpec(containers=[Container(name="c", image="busybox")]),
    )
    assert to_wire(pod) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    assert to_wire(Deployment())["apiVersion"] == "apps/v1"
    assert to_wire(EndpointSlice(address_type="IPv4", endpoints=[]))["kind"] == "EndpointSlice"
    assert to_wire(Lease())["apiVersion"] == "coordination.k8s.io/v1"
    assert to_wire(Scale())["apiVersion"] == "autoscaling/v1"
    assert to_wire(Status(code=404)) == {"apiVersion": "v1", "kind": "Status", "code": 404}
    assert to_wire(Table(rows=[]))["apiVersion"] == "meta.k8s.io/v1"
    assert to_wire(PodList(items=[]))["kind"] == "PodList"
    binding = Binding(metadata=ObjectMeta(name="p"), target=ObjectReference(kind="Node", name="n"))
    assert to_wire(binding)["target"] == {"kind": "Node", "name": "n"}


def test_wire_objects_without_type_meta_stay_without_it() -> None:
    # List items from the apiserver usually omit apiVersion/kind; re-encoding must not add them.
    pod = from_wire(Pod, {"metadata": {"name": "p"}})
    assert pod.api_version == "v1" and pod.kind == "Pod"
    assert to_wire(pod) == {"metadata": {"name": "p"}}


def test_explicit_type_meta_is_kept_as_given() -> None:
    pod = from_wire(Pod, {"apiVersion": "v2", "kind": "Pod"})
    assert to_wire(pod) == {"apiVersion": "v2", "kind": "Pod"}


@pytest.mark.parametrize(
    ("cls", "wire", "where"),
    [
        (ContainerPort, {"containerPort": "80"}, "containerPort"),
        (ContainerPort, {"containerPort": 80.5}, "containerPort"),
        (Container, {"name": 7}, "name"),
        (Container, {"name": "c", "ports": {"containerPort": 80}}, "ports"),
        (PodSpec, {"containers": [{"name": "c", "args": "not-a-list"}]}, "args"),
        (Service, {"spec": {"ports": [{"port": 80, "targetPort": True}]}}, "targetPort"),
        (Service, {"spec": {"publishNotReadyAddresses": "true"}}, "publishNotReadyAddresses"),
        (ObjectMeta, {"labels": {"app": 1}}, "labels"),
        (Node, {"status": {"capacity": {"cpu": True}}}, "capacity"),
        (Pod, ["not", "an", "object"], ""),
    ],
)
def test_wrong_types_are_rejected(cls: type[KubeModel], wire: Any, where: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        from_wire(cls, wire)
    assert where in str(info.value)


@pytest.mark.parametrize(
    ("cls", "wire", "missing"),
    [
        (PodSpec, {}, "containers"),
        (Container, {"image": "busybox"}, "name"),
        (ContainerPort, {"name": "http"}, "containerPort"),
        (Service, {"spec": {"ports": [{"name": "http"}]}}, "port"),
        (Deployment, {"spec": {"selector": {}}}, "template"),
        (EndpointSlice, {"addressType": "IPv4"}, "endpoints"),
        (Event, {"metadata": {"name": "e"}}, "involvedObject"),
        (WatchEvent, {"type": "ADDED"}, "object"),
        (PodList, {"kind": "PodList"}, "items"),
    ],
)
def test_required_fields_are_required(cls: type[KubeModel], wire: Any, missing: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        from_wire(cls, wire)
    assert missing in str(info.value)
    assert "Field required" in str(info.value)


def test_partial_node_info_is_rejected() -> None:
    # The official Python client fails on a Node whose nodeInfo lacks a required field.
    info = dict(NODE["status"]["nodeInfo"])
    del info["bootID"]
    with pytest.raises(pydantic.ValidationError, match="bootID"):
        from_wire(Node, {"status": {"nodeInfo": info}})


def test_quantities_keep_their_wire_type() -> None:
    wire = {"name": "c", "resources": {"requests": {"cpu": 0.5, "memory": "64Mi"}}}
    assert to_wire(from_wire(Container, wire)) == wire


def test_watch_event_keeps_object_raw() -> None:
    event = from_wire(WatchEvent, {"type": "DELETED", "object": POD})
    assert event.object == POD
    assert to_wire(event) == {"type": "DELETED", "object": POD}


@pytest.mark.parametrize(
    ("cls", "wire", "client_type"),
    [
        (Pod, POD, "V1Pod"),
        (Node, NODE, "V1Node"),
        (Service, SERVICE, "V1Service"),
        (Deployment, DEPLOYMENT, "V1Deployment"),
        (EndpointSlice, ROUND_TRIPS[5][1], "V1EndpointSlice"),
        (Event, ROUND_TRIPS[6][1], "CoreV1Event"),
    ],
)
def test_official_python_client_accepts_what_we_write(
    cls: type[KubeModel], wire: dict[str, Any], client_type: str
) -> None:
    kubernetes = pytest.importorskip("kubernetes")

    class Response:
        data = json.dumps(to_wire(from_wire(cls, wire)))

    obj = kubernetes.client.ApiClient().deserialize(Response(), client_type)
    assert obj.metadata.name == wire["metadata"]["name"]
