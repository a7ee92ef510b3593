"""Server-side Table printing: cells and columns as kube-apiserver 1.32 prints them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knet.apiserver.printers import build_table, column_definitions, human_duration, row_cells

NOW = datetime(2026, 11, 22, 16, 11, 7, tzinfo=UTC)
PRINTED = (
    "pods",
    "services",
    "endpoints",
    "endpointslices",
    "deployments",
    "replicasets",
    "nodes",
    "namespaces",
    "events",
    "leases",
    "configmaps",
    "secrets",
)


def ago(seconds: float) -> str:
    """An RFC 3339 timestamp `seconds` before NOW."""
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, age: float = 300, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "creationTimestamp": ago(age),
        **extra,
    }


# --------------------------------------------------------------------------------------------
# human_duration


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(-3, "<invalid>", id="skew-beyond-tolerance"),
        pytest.param(-2, "<invalid>", id="minus-2s"),
        pytest.param(-1.5, "0s", id="minus-1.5s-truncates-to-minus-1"),
        pytest.param(-1, "0s", id="minus-1s"),
        pytest.param(0, "0s", id="zero"),
        pytest.param(1.9, "1s", id="fraction-truncated"),
        pytest.param(59, "59s", id="59s"),
        pytest.param(60, "60s", id="60s-still-seconds"),
        pytest.param(119, "119s", id="119s"),
        pytest.param(119.999, "119s", id="just-under-2m"),
        pytest.param(120, "2m", id="2m"),
        pytest.param(121, "2m1s", id="2m1s"),
        pytest.param(599, "9m59s", id="9m59s"),
        pytest.param(600, "10m", id="10m-drops-seconds"),
        pytest.param(601, "10m", id="10m1s"),
        pytest.param(3 * 3600 - 1, "179m", id="179m"),
        pytest.param(3 * 3600, "3h", id="3h"),
        pytest.param(3 * 3600 + 60, "3h1m", id="3h1m"),
        pytest.param(8 * 3600 - 1, "7h59m", id="7h59m"),
        pytest.param(8 * 3600, "8h", id="8h"),
        pytest.param(48 * 3600 - 1, "47h", id="47h"),
        pytest.param(48 * 3600, "2d", id="2d"),
        pytest.param(49 * 3600, "2d1h", id="2d1h"),
        pytest.param(8 * 86400 - 1, "7d23h", id="7d23h"),
        pytest.param(8 * 86400, "8d", id="8d"),
        pytest.param(730 * 86400 - 1, "729d", id="729d"),
        pytest.param(730 * 86400, "2y", id="2y"),
        pytest.param(731 * 86400, "2y1d", id="2y1d"),
        pytest.param(2920 * 86400 - 1, "7y364d", id="7y364d"),
        pytest.param(2920 * 86400, "8y", id="8y"),
        pytest.param(3700 * 86400, "10y", id="10y"),
    ],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


# --------------------------------------------------------------------------------------------
# pods


def running(name: str, *, ready: bool = True, restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {"startedAt": ago(60)}},
        **extra,
    }


def pod(
    name: str = "web-1",
    *,
    containers: int = 1,
    statuses: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    conditions: list[dict[str, Any]] | None = None,
    meta_extra: dict[str, Any] | None = None,
    status_extra: dict[str, Any] | None = None,
    spec_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "nodeName": "node1",
        "containers": [{"name": f"c{i}", "image": "busybox"} for i in range(containers)],
        **(spec_extra or {}),
    }
    if init is not None:
        spec["initContainers"] = init
    status: dict[str, Any] = {
        "phase": phase,
        "podIP": "10.244.1.5",
        "podIPs": [{"ip": "10.244.1.5"}],
        "conditions": conditions or [],
        "containerStatuses": statuses if statuses is not None else [running("c0")],
        **(status_extra or {}),
    }
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta("web-1" if name == "web-1" else name, **(meta_extra or {})),
        "spec": spec,
        "status": status,
    }


def waiting(name: str, reason: str, *, restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "ready": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason}},
        **extra,
    }


def terminated(name: str, *, restarts: int = 0, **term: Any) -> dict[str, Any]:
    return {"name": name, "ready": False, "restartCount": restarts, "state": {"terminated": term}}


SIDECAR_INIT = [{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]
LAST_TERMINATED_5M = {"terminated": {"exitCode": 1, "finishedAt": ago(300)}}

POD_CASES = [
    pytest.param(
        pod(),
        ["web-1", "1/1", "Running", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"],
        id="running",
    ),
    pytest.param(
        pod(statuses=[waiting("c0", "CrashLoopBackOff", restarts=3, lastState=LAST_TERMINATED_5M)]),
        ["web-1", "0/1", "CrashLoopBackOff", "3 (5m ago)", "5m"],
        id="crashloop-restarts-with-last-termination",
    ),
    pytest.param(
        pod(statuses=[waiting("c0", "CrashLoopBackOff", restarts=2)]),
        ["web-1", "0/1", "CrashLoopBackOff", "2", "5m"],
        id="restarts-without-last-state",
    ),
    pytest.param(
        pod(phase="Pending", statuses=[waiting("c0", "ErrImagePull")]),
        ["web-1", "0/1", "ErrImagePull", "0", "5m"],
        id="err-image-pull",
    ),
    pytest.param(
        pod(phase="Succeeded", statuses=[terminated("c0", exitCode=0, reason="Completed")]),
        ["web-1", "0/1", "Completed", "0", "5m"],
        id="completed",
    ),
    pytest.param(
        pod(phase="Failed", statuses=[terminated("c0", exitCode=1, reason="Error")]),
        ["web-1", "0/1", "Error", "0", "5m"],
        id="error",
    ),
    pytest.param(
        pod(phase="Failed", statuses=[terminated("c0", exitCode=137, signal=9)]),
        ["web-1", "0/1", "Signal:9", "0", "5m"],
        id="terminated-by-signal-no-reason",
    ),
    pytest.param(
        pod(phase="Failed", statuses=[terminated("c0", exitCode=2)]),
        ["web-1", "0/1", "ExitCode:2", "0", "5m"],
        id="terminated-exit-code-no-reason",
    ),
    pytest.param(
        pod(
            phase="Failed",
            statuses=[],
            status_extra={"reason": "Evicted", "message": "low on memory"},
        ),
        ["web-1", "0/1", "Evicted", "0", "5m"],
        id="status-reason-evicted",
    ),
    pytest.param(
        pod(
            phase="Pending",
            init=[{"name": "setup", "image": "busybox"}],
            init_statuses=[running("setup", ready=False)],
            statuses=[waiting("c0", "PodInitializing")],
        ),
        ["web-1", "0/1", "Init:0/1", "0", "5m"],
        id="init-running",
    ),
    pytest.param(
        pod(
            phase="Pending",
            init=[{"name": "a"}, {"name": "b"}],
            init_statuses=[
                terminated("a", exitCode=0, reason="Completed"),
                waiting("b", "PodInitializing"),
            ],
            statuses=[waiting("c0", "PodInitializing")],
        ),
        ["web-1", "0/1", "Init:1/2", "0", "5m"],
        id="init-second-of-two",
    ),
    pytest.param(
        pod(
            phase="Pending",
            init=[{"name": "setup"}],
            init_statuses=[waiting("setup", "CrashLoopBackOff", restarts=4)],
            statuses=[waiting("c0", "PodInitializing")],
        ),
        ["web-1", "0/1", "Init:CrashLoopBackOff", "4", "5m"],
        id="init-crashloop",
    ),
    pytest.param(
        pod(
            phase="Pending",
            init=[{"name": "setup"}],
            init_statuses=[terminated("setup", exitCode=1, reason="Error")],
            statuses=[waiting("c0", "PodInitializing")],
        ),
        ["web-1", "0/1", "Init:Error", "0", "5m"],
        id="init-error",
    ),
    pytest.param(
        pod(
            phase="Pending",
            init=[{"name": "setup"}],
            init_statuses=[terminated("setup", exitCode=3)],
            statuses=[],
        ),
        ["web-1", "0/1", "Init:ExitCode:3", "0", "5m"],
        id="init-exit-code",
    ),
    pytest.param(
        pod(
            init=[{"name": "setup"}],
            init_statuses=[terminated("setup", exitCode=0, reason="Completed")],
        ),
        ["web-1", "1/1", "Running", "0", "5m"],
        id="init-done-then-running",
    ),
    pytest.param(
        pod(
            init=SIDECAR_INIT,
            init_statuses=[
                running("proxy", restarts=1, started=True, lastState=LAST_TERMINATED_5M)
            ],
            statuses=[running("c0")],
        ),
        ["web-1", "2/2", "Running", "1 (5m ago)", "5m"],
        id="sidecar-counts-as-container",
    ),
    pytest.param(
        pod(
            phase="Pending",
            init=SIDECAR_INIT,
            init_statuses=[running("proxy", ready=False, started=False)],
            statuses=[waiting("c0", "PodInitializing")],
        ),
        ["web-1", "0/2", "Init:0/1", "0", "5m"],
        id="sidecar-not-started",
    ),
    pytest.param(
        pod(meta_extra={"deletionTimestamp": ago(1)}),
        ["web-1", "1/1", "Terminating", "0", "5m"],
        id="terminating",
    ),
    pytest.param(
        pod(
            phase="Succeeded",
            statuses=[terminated("c0", exitCode=0, reason="Completed")],
            meta_extra={"deletionTimestamp": ago(1)},
        ),
        ["web-1", "0/1", "Completed", "0", "5m"],
        id="deleting-terminal-pod-keeps-its-status",
    ),
    pytest.param(
        pod(meta_extra={"deletionTimestamp": ago(1)}, status_extra={"reason": "NodeLost"}),
        ["web-1", "1/1", "Unknown", "0", "5m"],
        id="node-lost",
    ),
    pytest.param(
        pod(
            phase="Pending",
            statuses=[],
            conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
        ),
        ["web-1", "0/1", "SchedulingGated", "0", "5m"],
        id="scheduling-gated",
    ),
    pytest.param(
        pod(
            containers=2,
            statuses=[terminated("c0", exitCode=0, reason="Completed"), running("c1")],
            conditions=[{"type": "Ready", "status": "True"}],
        ),
        ["web-1", "1/2", "Running", "0", "5m"],
        id="completed-plus-running-ready",
    ),
    pytest.param(
        pod(
            containers=2,
            statuses=[terminated("c0", exitCode=0, reason="Completed"), running("c1")],
            conditions=[{"type": "Ready", "status": "False"}],
        ),
        ["web-1", "1/2", "NotReady", "0", "5m"],
        id="completed-plus-running-not-ready",
    ),
    pytest.param(
        pod(
            containers=2,
            statuses=[waiting("c0", "ImagePullBackOff"), running("c1", restarts=2)],
        ),
        ["web-1", "1/2", "ImagePullBackOff", "2", "5m"],
        id="first-container-state-wins",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), POD_CASES)
def test_pod_cells(obj: dict[str, Any], expected: list[Any]) -> None:
    assert row_cells("pods", obj, NOW)[: len(expected)] == expected


@pytest.mark.parametrize(
    ("obj", "wide"),
    [
        pytest.param(pod(), ["10.244.1.5", "node1", "<none>", "<none>"], id="bound"),
        pytest.param(
            {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}},
            ["<none>", "<none>", "<none>", "<none>"],
            id="unscheduled-sparse",
        ),
        pytest.param(
            pod(
                status_extra={
                    "podIPs": [{"ip": "fd00::5"}, {"ip": "10.0.0.5"}],
                    "nominatedNodeName": "node2",
                },
                spec_extra={
                    "readinessGates": [{"conditionType": "lb/ready"}, {"conditionType": "x/ok"}]
                },
                conditions=[
                    {"type": "lb/ready", "status": "True"},
                    {"type": "x/ok", "status": "False"},
                ],
            ),
            ["fd00::5", "node1", "node2", "1/2"],
            id="dual-stack-nominated-readiness-gates",
        ),
        pytest.param(
            pod(status_extra={"podIPs": None, "podIP": "10.1.2.3"}),
            ["10.1.2.3", "node1", "<none>", "<none>"],
            id="legacy-podIP-only",
        ),
    ],
)
def test_pod_wide_cells(obj: dict[str, Any], wide: list[str]) -> None:
    assert row_cells("pods", obj, NOW)[5:] == wide


def test_pod_sparse_object_renders_placeholders() -> None:
    assert row_cells("pods", {}, NOW) == [
        "",
        "0/0",
        "",
        "0",
        "<unknown>",
        "<none>",
        "<none>",
        "<none>",
        "<none>",
    ]


@pytest.mark.parametrize(
    "created",
    [
        pytest.param(None, id="missing"),
        pytest.param("yesterday", id="garbage"),
        pytest.param("2026-13-40T00:00:00Z", id="impossible-date"),
        pytest.param(12345, id="wrong-type"),
    ],
)
def test_unparsable_creation_timestamp_is_unknown(created: Any) -> None:
    obj = pod(meta_extra={"creationTimestamp": created})
    assert row_cells("pods", obj, NOW)[4] == "<unknown>"


def test_age_honours_timezone_offsets_and_fractions() -> None:
    obj = {"metadata": {"name": "x", "creationTimestamp": "2026-11-22T18:01:06.5+02:00"}}
    assert row_cells("leases", obj, NOW)[2] == "10m"
    naive_now = NOW.replace(tzinfo=None)  # a naive `now` is taken as UTC
    assert row_cells("leases", obj, naive_now)[2] == "10m"


# --------------------------------------------------------------------------------------------
# services


def service(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta("web"),
        "spec": spec,
        "status": status or {},
    }


SERVICE_CASES = [
    pytest.param(
        service(
            {
                "type": "ClusterIP",
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "selector": {"tier": "fe", "app": "web"},
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
            }
        ),
        ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "5m", "app=web,tier=fe"],
        id="cluster-ip",
    ),
    pytest.param(
        service(
            {
                "type": "NodePort",
                "clusterIPs": ["10.96.0.11"],
                "ports": [
                    {"port": 80, "protocol": "TCP", "nodePort": 30080},
                    {"port": 53, "protocol": "UDP", "nodePort": 30053},
                ],
                "selector": {"app": "web"},
            }
        ),
        ["web", "NodePort", "10.96.0.11", "<none>", "80:30080/TCP,53:30053/UDP", "5m", "app=web"],
        id="node-port",
    ),
    pytest.param(
        service(
            {"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"], "ports": [{"port": 443}]},
        ),
        ["web", "LoadBalancer", "10.96.0.12", "<pending>", "443/TCP", "5m", "<none>"],
        id="load-balancer-pending-default-protocol",
    ),
    pytest.param(
        service(
            {
                "type": "LoadBalancer",
                "clusterIPs": ["10.96.0.12"],
                "externalIPs": ["192.0.2.9"],
                "ports": [{"port": 443, "protocol": "TCP", "nodePort": 31443}],
            },
            {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example"}]}},
        ),
        [
            "web",
            "LoadBalancer",
            "10.96.0.12",
            "203.0.113.7,lb.example,192.0.2.9",
            "443:31443/TCP",
            "5m",
            "<none>",
        ],
        id="load-balancer-ingress-plus-external-ips",
    ),
    pytest.param(
        service(
            {
                "type": "ClusterIP",
                "clusterIPs": ["10.96.0.13"],
                "externalIPs": ["192.0.2.1", "192.0.2.2"],
                "ports": [{"port": 80, "protocol": "TCP"}],
            }
        ),
        ["web", "ClusterIP", "10.96.0.13", "192.0.2.1,192.0.2.2", "80/TCP", "5m", "<none>"],
        id="external-ips",
    ),
    pytest.param(
        service({"type": "ExternalName", "externalName": "db.example.com"}),
        ["web", "ExternalName", "<none>", "db.example.com", "<none>", "5m", "<none>"],
        id="external-name",
    ),
    pytest.param(
        service(
            {
                "clusterIP": "None",
                "selector": {"app": "db"},
                "ports": [{"port": 5432, "protocol": "TCP"}],
            }
        ),
        ["web", "ClusterIP", "None", "<none>", "5432/TCP", "5m", "app=db"],
        id="headless-defaulted-type-legacy-clusterIP",
    ),
    pytest.param(
        service({"type": "Weird"}),
        ["web", "Weird", "<none>", "<unknown>", "<none>", "5m", "<none>"],
        id="unknown-type",
    ),
    pytest.param(
        {"metadata": {}},
        ["", "ClusterIP", "<none>", "<none>", "<none>", "<unknown>", "<none>"],
        id="sparse",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), SERVICE_CASES)
def test_service_cells(obj: dict[str, Any], expected: list[Any]) -> None:
    assert row_cells("services", obj, NOW) == expected


# --------------------------------------------------------------------------------------------
# endpoints and endpoint slices


def endpoints(subsets: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta("web"), "subsets": subsets}


def addrs(*ips: str) -> list[dict[str, str]]:
    return [{"ip": ip} for ip in ips]


ENDPOINTS_CASES = [
    pytest.param(endpoints(None), "<none>", id="no-subsets"),
    pytest.param(endpoints([]), "<none>", id="empty-subsets"),
    pytest.param(
        endpoints([{"addresses": addrs("10.0.0.1", "10.0.0.2"), "ports": [{"port": 80}]}]),
        "10.0.0.1:80,10.0.0.2:80",
        id="two-addresses",
    ),
    pytest.param(
        endpoints(
            [
                {
                    "addresses": addrs("10.1.0.20", "10.1.0.21"),
                    "ports": [
                        {"name": "dns", "port": 53, "protocol": "UDP"},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                        {"name": "metrics", "port": 9153, "protocol": "TCP"},
                    ],
                }
            ]
        ),
        "10.1.0.20:53,10.1.0.21:53,10.1.0.20:53 + 3 more...",
        id="kube-dns-truncated",
    ),
    pytest.param(
        endpoints([{"addresses": addrs("10.0.0.1", "10.0.0.2")}]),
        "10.0.0.1,10.0.0.2",
        id="headless-no-ports",
    ),
    pytest.param(
        endpoints([{"addresses": addrs("fd00::1"), "ports": [{"port": 8080}]}]),
        "[fd00::1]:8080",
        id="ipv6-bracketed",
    ),
    pytest.param(
        endpoints([{"notReadyAddresses": addrs("10.0.0.9"), "ports": [{"port": 80}]}]),
        "",
        id="only-not-ready",
    ),
    pytest.param(
        endpoints(
            [
                {"addresses": addrs("10.0.0.1", "10.0.0.2"), "ports": [{"port": 80}]},
                {"addresses": addrs("10.0.1.1", "10.0.1.2", "10.0.1.3"), "ports": [{"port": 81}]},
            ]
        ),
        "10.0.0.1:80,10.0.0.2:80,10.0.1.1:81 + 2 more...",
        id="truncated-across-subsets",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), ENDPOINTS_CASES)
def test_endpoints_cells(obj: dict[str, Any], expected: str) -> None:
    assert row_cells("endpoints", obj, NOW) == ["web", expected, "5m"]


def endpoint_slice(ports: Any, endpoints_: Any, address_type: str = "IPv4") -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta("web-abc12"),
        "addressType": address_type,
        "ports": ports,
        "endpoints": endpoints_,
    }


def eps(*ips: str) -> list[dict[str, Any]]:
    return [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]


ENDPOINTSLICE_CASES = [
    pytest.param(
        endpoint_slice(
            [{"name": "http", "port": 80, "protocol": "TCP"}], eps("10.0.0.1", "10.0.0.2")
        ),
        ["web-abc12", "IPv4", "80", "10.0.0.1,10.0.0.2", "5m"],
        id="typical",
    ),
    pytest.param(
        endpoint_slice(
            [{"port": p} for p in (80, 81, 82, 83)],
            eps("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"),
        ),
        [
            "web-abc12",
            "IPv4",
            "80,81,82 + 1 more...",
            "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...",
            "5m",
        ],
        id="truncated",
    ),
    pytest.param(
        endpoint_slice(None, None),
        ["web-abc12", "IPv4", "<unset>", "<unset>", "5m"],
        id="empty",
    ),
    pytest.param(
        endpoint_slice([{"name": "http"}, {}], eps("fd00::1"), address_type="IPv6"),
        ["web-abc12", "IPv6", "http,*", "fd00::1", "5m"],
        id="named-and-unset-ports",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), ENDPOINTSLICE_CASES)
def test_endpointslice_cells(obj: dict[str, Any], expected: list[Any]) -> None:
    assert row_cells("endpointslices", obj, NOW) == expected


# --------------------------------------------------------------------------------------------
# deployments and replica sets

TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {
        "containers": [
            {"name": "nginx", "image": "nginx:1.27"},
            {"name": "sidecar", "image": "busybox"},
        ]
    },
}


def deployment(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("web"),
        "spec": spec,
        "status": status or {},
    }


DEPLOYMENT_CASES = [
    pytest.param(
        deployment(
            {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
            {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
        ),
        ["web", "2/3", 3, 2, "5m", "nginx,sidecar", "nginx:1.27,busybox", "app=web"],
        id="typical",
    ),
    pytest.param(
        deployment(
            {
                "replicas": 1,
                "selector": {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [
                        {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                        {"key": "canary", "operator": "DoesNotExist"},
                        {"key": "env", "operator": "NotIn", "values": ["dev"]},
                        {"key": "team", "operator": "Exists"},
                    ],
                },
                "template": TEMPLATE,
            },
        ),
        [
            "web",
            "0/1",
            0,
            0,
            "5m",
            "nginx,sidecar",
            "nginx:1.27,busybox",
            "app=web,!canary,env notin (dev),team,tier in (be,fe)",
        ],
        id="match-expressions-sorted-by-key",
    ),
    pytest.param(
        deployment(
            {
                "replicas": 2,
                "selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]},
            }
        ),
        ["web", "0/2", 0, 0, "5m", "", "", "<invalid>"],
        id="invalid-selector",
    ),
    pytest.param(
        {"metadata": {"name": "x"}},
        ["x", "0/1", 0, 0, "<unknown>", "", "", ""],
        id="sparse-replicas-default-to-1",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), DEPLOYMENT_CASES)
def test_deployment_cells(obj: dict[str, Any], expected: list[Any]) -> None:
    assert row_cells("deployments", obj, NOW) == expected


def replica_set(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta("web-7d4b9c"),
        "spec": spec,
        "status": status or {},
    }


REPLICASET_CASES = [
    pytest.param(
        replica_set(
            {
                "replicas": 3,
                "selector": {"matchLabels": {"pod-template-hash": "7d4b9c", "app": "web"}},
                "template": TEMPLATE,
            },
            {"replicas": 3, "readyReplicas": 2},
        ),
        [
            "web-7d4b9c",
            3,
            3,
            2,
            "5m",
            "nginx,sidecar",
            "nginx:1.27,busybox",
            "app=web,pod-template-hash=7d4b9c",
        ],
        id="typical",
    ),
    pytest.param(
        replica_set({"replicas": 0, "selector": {}}),
        ["web-7d4b9c", 0, 0, 0, "5m", "", "", "<none>"],
        id="scaled-to-zero-empty-selector",
    ),
    pytest.param(
        replica_set({"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}),
        ["web-7d4b9c", 1, 0, 0, "5m", "", "", "<error>"],
        id="invalid-selector-no-values",
    ),
    pytest.param(
        replica_set({"selector": {"matchLabels": {"bad key!": "x"}}}),
        ["web-7d4b9c", 1, 0, 0, "5m", "", "", "<error>"],
        id="invalid-label-key",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), REPLICASET_CASES)
def test_replicaset_cells(obj: dict[str, Any], expected: list[Any]) -> None:
    assert row_cells("replicasets", obj, NOW) == expected


# --------------------------------------------------------------------------------------------
# nodes and namespaces


def node(
    conditions: list[dict[str, Any]],
    labels: dict[str, str] | None = None,
    *,
    unschedulable: bool = False,
    addresses: list[dict[str, str]] | None = None,
    info: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"podCIDR": "10.244.1.0/24"}
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node1", "creationTimestamp": ago(3 * 86400), "labels": labels or {}},
        "spec": spec,
        "status": {
            "conditions": conditions,
            "addresses": addresses or [],
            "nodeInfo": info if info is not None else {"kubeletVersion": "v1.32.0"},
        },
    }


READY = [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]
FULL_INFO = {
    "kubeletVersion": "v1.32.0-knet",
    "osImage": "Ubuntu 24.04 LTS",
    "kernelVersion": "6.8.0-31-generic",
    "containerRuntimeVersion": "knet://0.1.0",
}

NODE_CASES = [
    pytest.param(
        node(
            READY,
            {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "node1"},
            addresses=[
                {"type": "Hostname", "address": "node1"},
                {"type": "InternalIP", "address": "192.168.56.10"},
                {"type": "InternalIP", "address": "192.168.56.99"},
                {"type": "ExternalIP", "address": "203.0.113.10"},
            ],
            info=FULL_INFO,
        ),
        [
            "node1",
            "Ready",
            "control-plane",
            "3d",
            "v1.32.0-knet",
            "192.168.56.10",
            "203.0.113.10",
            "Ubuntu 24.04 LTS",
            "6.8.0-31-generic",
            "knet://0.1.0",
        ],
        id="ready-control-plane-wide",
    ),
    pytest.param(
        node([{"type": "Ready", "status": "False"}], unschedulable=True),
        [
            "node1",
            "NotReady,SchedulingDisabled",
            "<none>",
            "3d",
            "v1.32.0",
            "<none>",
            "<none>",
            "<unknown>",
            "<unknown>",
            "<unknown>",
        ],
        id="not-ready-cordoned",
    ),
    pytest.param(
        node([{"type": "Ready", "status": "Unknown"}]),
        ["node1", "NotReady", "<none>", "3d", "v1.32.0"],
        id="ready-unknown-prints-not-ready",
    ),
    pytest.param(
        node(
            [],
            {
                "kubernetes.io/role": "worker",
                "node-role.kubernetes.io/": "",
                "node-role.kubernetes.io/master": "",
                "node-role.kubernetes.io/control-plane": "",
            },
        ),
        ["node1", "Unknown", "control-plane,master,worker", "3d", "v1.32.0"],
        id="no-conditions-roles-sorted",
    ),
    pytest.param(
        node(READY, unschedulable=True, info={}),
        ["node1", "Ready,SchedulingDisabled", "<none>", "3d", ""],
        id="cordoned-no-node-info",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), NODE_CASES)
def test_node_cells(obj: dict[str, Any], expected: list[Any]) -> None:
    assert row_cells("nodes", obj, NOW)[: len(expected)] == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param({"phase": "Active"}, "Active", id="active"),
        pytest.param({"phase": "Terminating"}, "Terminating", id="terminating"),
        pytest.param(None, "Active", id="missing-phase-defaults-active"),
    ],
)
def test_namespace_cells(status: Any, expected: str) -> None:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": meta("team-a", 7200)}
    if status is not None:
        obj["status"] = status
    assert row_cells("namespaces", obj, NOW) == ["team-a", expected, "120m"]


# --------------------------------------------------------------------------------------------
# events and leases

EVENT_CASES = [
    pytest.param(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": meta("web-1.17a2b3c4d5e6f708"),
            "involvedObject": {
                "kind": "Pod",
                "name": "web-1",
                "namespace": "default",
                "fieldPath": "spec.containers{web}",
            },
            "reason": "Started",
            "message": "  Started container web\n",
            "source": {"component": "kubelet", "host": "node1"},
            "firstTimestamp": ago(600),
            "lastTimestamp": ago(120),
            "count": 3,
            "type": "Normal",
        },
        [
            "2m",
            "Normal",
            "Started",
            "pod/web-1",
            "spec.containers{web}",
            "kubelet, node1",
            "Started container web",
            "10m",
            3,
            "web-1.17a2b3c4d5e6f708",
        ],
        id="core-v1-classic",
    ),
    pytest.param(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": meta("web-1.1"),
            "involvedObject": {"kind": "Pod", "name": "web-1"},
            "reason": "Scheduled",
            "message": "Successfully assigned default/web-1 to node1",
            "source": {},
            "eventTime": "2026-11-22T16:10:36.999877Z",
            "reportingComponent": "default-scheduler",
            "reportingInstance": "",
            "type": "Normal",
        },
        [
            "30s",
            "Normal",
            "Scheduled",
            "pod/web-1",
            "",
            "default-scheduler",
            "Successfully assigned default/web-1 to node1",
            "30s",
            1,
            "web-1.1",
        ],
        id="event-time-only-singleton",
    ),
    pytest.param(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": meta("node1.2"),
            "involvedObject": {"kind": "Node", "name": ""},
            "reason": "Rebooted",
            "message": "x",
            "eventTime": ago(7200),
            "series": {"count": 5, "lastObservedTime": ago(45)},
            "reportingComponent": "kubelet",
            "reportingInstance": "node1",
            "type": "Warning",
        },
        ["45s", "Warning", "Rebooted", "node", "", "kubelet, node1", "x", "120m", 5, "node1.2"],
        id="series-and-kind-without-name",
    ),
    pytest.param(
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": meta("web.3"),
            "regarding": {"kind": "Deployment", "name": "web"},
            "reason": "ScalingReplicaSet",
            "note": "Scaled up replica set web-7d4b9c to 3",
            "eventTime": ago(90),
            "reportingController": "deployment-controller",
            "reportingInstance": "knet-controller-manager",
            "type": "Normal",
        },
        [
            "90s",
            "Normal",
            "ScalingReplicaSet",
            "deployment/web",
            "",
            "deployment-controller, knet-controller-manager",
            "Scaled up replica set web-7d4b9c to 3",
            "90s",
            1,
            "web.3",
        ],
        id="events-k8s-io-v1-shape",
    ),
    pytest.param(
        {},
        ["<unknown>", "", "", "", "", "", "", "<unknown>", 1, ""],
        id="sparse",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), EVENT_CASES)
def test_event_cells(obj: dict[str, Any], expected: list[Any]) -> None:
    assert row_cells("events", obj, NOW) == expected


@pytest.mark.parametrize(
    ("spec", "holder"),
    [
        pytest.param({"holderIdentity": "node1", "leaseDurationSeconds": 40}, "node1", id="held"),
        pytest.param({}, "", id="no-holder"),
        pytest.param(None, "", id="no-spec"),
    ],
)
def test_lease_cells(spec: Any, holder: str) -> None:
    obj = {"kind": "Lease", "metadata": meta("node1", 86400 * 2 + 3600), "spec": spec}
    assert row_cells("leases", obj, NOW) == ["node1", holder, "2d1h"]


# --------------------------------------------------------------------------------------------
# default printer


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        pytest.param("2026-11-22T16:06:07Z", "2026-11-22T16:06:07Z", id="utc"),
        pytest.param("2026-11-22T18:06:07.5+02:00", "2026-11-22T16:06:07Z", id="offset-fraction"),
        pytest.param(None, "0001-01-01T00:00:00Z", id="missing-is-go-zero-time"),
        pytest.param("not-a-time", "not-a-time", id="garbage-shown-as-stored"),
    ],
)
def test_default_printer_created_at(created: Any, expected: str) -> None:
    obj = {"kind": "Widget", "metadata": {"name": "sa", "creationTimestamp": created}}
    assert row_cells("widgets", obj, NOW) == ["sa", expected]


# --------------------------------------------------------------------------------------------
# column definitions

EXPECTED_COLUMNS = {
    "pods": (
        ["Name", "Ready", "Status", "Restarts", "Age"],
        ["IP", "Node", "Nominated Node", "Readiness Gates"],
    ),
    "services": (["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], ["Selector"]),
    "endpoints": (["Name", "Endpoints", "Age"], []),
    "endpointslices": (["Name", "AddressType", "Ports", "Endpoints", "Age"], []),
    "deployments": (
        ["Name", "Ready", "Up-to-date", "Available", "Age"],
        ["Containers", "Images", "Selector"],
    ),
    "replicasets": (
        ["Name", "Desired", "Current", "Ready", "Age"],
        ["Containers", "Images", "Selector"],
    ),
    "nodes": (
        ["Name", "Status", "Roles", "Age", "Version"],
        ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"],
    ),
    "namespaces": (["Name", "Status", "Age"], []),
    "events": (
        ["Last Seen", "Type", "Reason", "Object", "Message"],
        ["Subobject", "Source", "First Seen", "Count", "Name"],
    ),
    "leases": (["Name", "Holder", "Age"], []),
    "configmaps": (["Name", "Data", "Age"], []),
    "secrets": (["Name", "Type", "Data", "Age"], []),
    "serviceaccounts": (["Name", "Secrets", "Age"], []),
    "widgets": (["Name", "Created At"], []),  # no printer: upstream's default
}


@pytest.mark.parametrize("resource", list(EXPECTED_COLUMNS))
def test_column_names_and_priorities(resource: str) -> None:
    normal, wide = EXPECTED_COLUMNS[resource]
    cols = column_definitions(resource)
    assert [c["name"] for c in cols if c["priority"] == 0] == normal
    assert [c["name"] for c in cols if c["priority"] == 1] == wide
    for col in cols:
        assert set(col) == {"name", "type", "format", "description", "priority"}
        assert col["format"] == ("name" if col["name"] == "Name" else "")
        assert col["description"]


def test_event_columns_interleave_wide_ones_in_upstream_order() -> None:
    names = [c["name"] for c in column_definitions("events")]
    assert names == [
        "Last Seen",
        "Type",
        "Reason",
        "Object",
        "Subobject",
        "Source",
        "Message",
        "First Seen",
        "Count",
        "Name",
    ]


def test_column_types_follow_upstream() -> None:
    types = {c["name"]: c["type"] for c in column_definitions("replicasets")}
    assert types["Desired"] == types["Current"] == types["Ready"] == "integer"
    assert {c["type"] for c in column_definitions("pods")} == {"string"}
    assert column_definitions("widgets")[1] == {
        "name": "Created At",
        "type": "date",
        "format": "",
        "description": column_definitions("widgets")[1]["description"],
        "priority": 0,
    }


def test_column_definitions_are_fresh_copies() -> None:
    column_definitions("pods")[0]["name"] = "mutated"
    assert column_definitions("pods")[0]["name"] == "Name"


def _first(param: Any) -> dict[str, Any]:
    """The object of a parametrized case."""
    return cast(dict[str, Any], param.values[0])


REALISTIC: dict[str, dict[str, Any]] = {
    "pods": pod(),
    "services": _first(SERVICE_CASES[0]),
    "endpoints": _first(ENDPOINTS_CASES[2]),
    "endpointslices": _first(ENDPOINTSLICE_CASES[0]),
    "deployments": _first(DEPLOYMENT_CASES[0]),
    "replicasets": _first(REPLICASET_CASES[0]),
    "nodes": _first(NODE_CASES[0]),
    "namespaces": {"metadata": meta("default")},
    "events": _first(EVENT_CASES[0]),
    "leases": {"metadata": meta("node1"), "spec": {"holderIdentity": "node1"}},
    "configmaps": {"metadata": meta("cfg"), "data": {"a": "b"}},
    "secrets": {"metadata": meta("s"), "type": "Opaque", "data": {"a": "Yg=="}},
    "serviceaccounts": {"metadata": meta("sa"), "secrets": [{"name": "tok"}]},
    "widgets": {"metadata": meta("w")},
}


@pytest.mark.parametrize("resource", list(EXPECTED_COLUMNS))
@pytest.mark.parametrize("sparse", [False, True], ids=["realistic", "sparse"])
def test_one_cell_per_column(resource: str, sparse: bool) -> None:
    obj = {} if sparse else REALISTIC[resource]
    assert len(row_cells(resource, obj, NOW)) == len(column_definitions(resource))


# --------------------------------------------------------------------------------------------
# build_table


def test_build_table_shape_matches_observed_wire() -> None:
    obj = pod()
    table = build_table("pods", [obj], now=NOW, resource_version="106")
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "106"}
    assert table["columnDefinitions"] == column_definitions("pods")
    assert table["rows"] == [
        {
            "cells": [
                "web-1",
                "1/1",
                "Running",
                "0",
                "5m",
                "10.244.1.5",
                "node1",
                "<none>",
                "<none>",
            ],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            },
        }
    ]


def test_build_table_without_headers_for_later_watch_events() -> None:
    table = build_table("pods", [pod()], now=NOW, resource_version="107", include_headers=False)
    assert table["columnDefinitions"] == []
    assert len(table["rows"]) == 1


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        pytest.param("Metadata", "metadata", id="metadata"),
        pytest.param("", "metadata", id="empty-means-metadata"),
        pytest.param("Object", "object", id="object"),
        pytest.param("None", None, id="none"),
    ],
)
def test_build_table_include_object(policy: str, expected: str | None) -> None:
    obj = REALISTIC["services"]
    before = copy.deepcopy(obj)
    row = build_table("services", [obj], now=NOW, resource_version="1", include_object=policy)[
        "rows"
    ][0]
    if expected is None:
        assert "object" not in row
    elif expected == "object":
        assert row["object"] == obj
    else:
        assert row["object"] == {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
    assert obj == before  # printing never changes the stored object


def test_build_table_rejects_unknown_include_object() -> None:
    with pytest.raises(ValueError, match="includeObject"):
        build_table("pods", [], now=NOW, resource_version="1", include_object="Everything")


def test_build_table_empty_list_and_pagination_metadata() -> None:
    table = build_table(
        "nodes",
        [],
        now=NOW,
        resource_version="42",
        continue_token="abc",
        remaining_item_count=7,
    )
    assert table["rows"] == []
    assert table["metadata"] == {
        "resourceVersion": "42",
        "continue": "abc",
        "remainingItemCount": 7,
    }


def test_build_table_marks_finished_pods_completed() -> None:
    done = pod(phase="Succeeded", statuses=[terminated("c0", exitCode=0, reason="Completed")])
    failed = pod(phase="Failed", statuses=[terminated("c0", exitCode=1, reason="Error")])
    rows = build_table("pods", [pod(), done, failed], now=NOW, resource_version="1")["rows"]
    assert "conditions" not in rows[0]
    assert rows[1]["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded"}]
    assert rows[2]["conditions"] == [{"type": "Completed", "status": "True", "reason": "Failed"}]


def test_build_table_default_printer_for_unlisted_resource() -> None:
    table = build_table("widgets", [REALISTIC["serviceaccounts"]], now=NOW, resource_version="3")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
    assert table["rows"][0]["cells"] == ["sa", ago(300)]


def test_row_cells_rejects_non_objects() -> None:
    with pytest.raises(TypeError, match="expected an object"):
        row_cells("pods", ["not", "an", "object"], NOW)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# robustness: whatever is stored must print

_KEYS = st.sampled_from(
    [
        "metadata",
        "name",
        "creationTimestamp",
        "deletionTimestamp",
        "labels",
        "spec",
        "status",
        "containers",
        "initContainers",
        "containerStatuses",
        "initContainerStatuses",
        "state",
        "waiting",
        "terminated",
        "running",
        "lastState",
        "finishedAt",
        "reason",
        "restartCount",
        "ready",
        "started",
        "restartPolicy",
        "phase",
        "conditions",
        "type",
        "ports",
        "port",
        "nodePort",
        "protocol",
        "selector",
        "matchLabels",
        "matchExpressions",
        "operator",
        "values",
        "key",
        "subsets",
        "addresses",
        "ip",
        "endpoints",
        "loadBalancer",
        "ingress",
        "externalIPs",
        "clusterIPs",
        "replicas",
        "template",
        "nodeInfo",
        "involvedObject",
        "series",
        "count",
        "eventTime",
        "regarding",
        "holderIdentity",
        "readinessGates",
        "podIPs",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=8),
    st.sampled_from(["True", "Always", "Completed", "2026-11-22T16:00:00Z", "LoadBalancer"]),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=6)),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(resource=st.sampled_from([*PRINTED, "widgets"]), obj=st.dictionaries(_KEYS, _JSON))
def test_malformed_objects_never_raise(resource: str, obj: dict[str, Any]) -> None:
    cells = row_cells(resource, obj, NOW)
    assert len(cells) == len(column_definitions(resource))
    table = build_table(resource, [obj], now=NOW, resource_version="1")
    assert table["rows"][0]["cells"] == cells
