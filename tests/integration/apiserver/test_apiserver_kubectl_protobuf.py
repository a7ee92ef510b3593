"""kubectl's typed commands, which send `application/vnd.kubernetes.protobuf` bodies, against a real
`knet apiserver`: `create namespace|deployment|service`, `drain` (protobuf DeleteOptions) and
`debug node/...` (a protobuf Pod). Each is checked by reading back what the server stored."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _apiserver_http import (
    Kubectl,
    assert_status,
    list_rv,
    node,
    ok,
    pod,
    request,
    table_rows,
    write_manifest,
)

from knet.testing.apiserver import ApiServerProcess, running_apiserver

SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/12")
NODE_PORTS = range(30000, 32768)
PROTOBUF = "application/vnd.kubernetes.protobuf"
GOLDEN = Path(__file__).parents[2] / "unit" / "protobuf_golden"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    """One server for the file: every test uses names of its own."""
    with running_apiserver(tmp_path_factory.mktemp("kt-pb")) as server:
        yield server


@pytest.fixture
def kc(shared: ApiServerProcess, tmp_path: Path) -> Kubectl:
    home = tmp_path / "home"
    home.mkdir()
    return Kubectl(kubeconfig=shared.kubeconfig, home=home)


def _get(kc: Kubectl, *args: str) -> Any:
    return kc.json("get", *args)


@pytest.mark.kubectl
def test_create_namespace(kc: Kubectl) -> None:
    assert kc.ok("create", "namespace", "kt-pb-ns") == "namespace/kt-pb-ns created\n"
    ns = _get(kc, "namespace", "kt-pb-ns")
    assert ns["metadata"]["name"] == "kt-pb-ns"
    assert ns["metadata"]["uid"] and ns["metadata"]["creationTimestamp"]
    assert ns["status"]["phase"] == "Active"
    assert kc.fails("create", "namespace", "kt-pb-ns") == (
        'Error from server (AlreadyExists): namespaces "kt-pb-ns" already exists\n'
    )


@pytest.mark.kubectl
def test_create_deployment(kc: Kubectl) -> None:
    out = kc.ok("create", "deployment", "kt-web", "--image=nginx", "--replicas=2", "--port=80")
    assert out == "deployment.apps/kt-web created\n"
    d = _get(kc, "deployment", "kt-web")
    assert d["metadata"]["labels"] == {"app": "kt-web"}
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["selector"] == {"matchLabels": {"app": "kt-web"}}
    template = d["spec"]["template"]
    assert template["metadata"]["labels"] == {"app": "kt-web"}
    [container] = template["spec"]["containers"]
    assert (container["name"], container["image"]) == ("nginx", "nginx")
    assert [p["containerPort"] for p in container["ports"]] == [80]
    rows = table_rows(kc.ok("get", "deployment", "kt-web", "-o", "wide"))
    assert rows[0][:2] == ["kt-web", "0/2"]
    assert rows[0][-3:] == ["nginx", "nginx", "app=kt-web"]


@pytest.mark.kubectl
def test_create_deployment_keeps_zero_replicas_and_command(kc: Kubectl) -> None:
    """`replicas` is a Go pointer: an explicit 0 arrives on the wire and must not become 1."""
    kc.ok("create", "deployment", "kt-zero", "--image=busybox", "--replicas=0", "--", "sleep", "9")
    d = _get(kc, "deployment", "kt-zero")
    assert d["spec"]["replicas"] == 0
    assert d["spec"]["template"]["spec"]["containers"][0]["command"] == ["sleep", "9"]


def _service(kc: Kubectl, name: str) -> dict[str, Any]:
    svc: dict[str, Any] = _get(kc, "service", name)
    assert svc["metadata"]["labels"] == {"app": name}
    return svc


@pytest.mark.kubectl
def test_create_service_clusterip(kc: Kubectl) -> None:
    out = kc.ok("create", "service", "clusterip", "kt-svc", "--tcp=80:8080")
    assert out == "service/kt-svc created\n"
    spec = _service(kc, "kt-svc")["spec"]
    assert spec["type"] == "ClusterIP"
    assert ipaddress.ip_address(spec["clusterIP"]) in SERVICE_RANGE
    assert spec["selector"] == {"app": "kt-svc"}
    assert spec["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}]


@pytest.mark.kubectl
def test_create_service_headless(kc: Kubectl) -> None:
    kc.ok("create", "service", "clusterip", "kt-hl", "--clusterip=None")
    assert _service(kc, "kt-hl")["spec"]["clusterIP"] == "None"


@pytest.mark.kubectl
def test_create_service_nodeport(kc: Kubectl) -> None:
    kc.ok("create", "service", "nodeport", "kt-np", "--tcp=80:8080")
    kc.ok("create", "service", "nodeport", "kt-np2", "--tcp=81:8081", "--node-port=30081")
    [port] = _service(kc, "kt-np")["spec"]["ports"]
    assert _service(kc, "kt-np")["spec"]["type"] == "NodePort"
    assert (port["port"], port["targetPort"]) == (80, 8080)
    assert port["nodePort"] in NODE_PORTS
    [fixed] = _service(kc, "kt-np2")["spec"]["ports"]
    assert fixed["nodePort"] == 30081


@pytest.mark.kubectl
def test_create_service_loadbalancer_with_named_target_port(kc: Kubectl) -> None:
    kc.ok("create", "service", "loadbalancer", "kt-lb", "--tcp=443:https")
    spec = _service(kc, "kt-lb")["spec"]
    assert spec["type"] == "LoadBalancer"
    [port] = spec["ports"]
    assert (port["port"], port["targetPort"]) == (443, "https")
    assert port["nodePort"] in NODE_PORTS


@pytest.mark.kubectl
def test_create_service_externalname(kc: Kubectl) -> None:
    kc.ok("create", "service", "externalname", "kt-ext", "--external-name=example.com")
    spec = _service(kc, "kt-ext")["spec"]
    assert (spec["type"], spec["externalName"]) == ("ExternalName", "example.com")
    assert "clusterIP" not in spec or spec["clusterIP"] in ("", None)


@pytest.mark.kubectl
def test_create_invalid_deployment_is_refused_by_validation(kc: Kubectl) -> None:
    err = kc.fails("create", "deployment", "Bad_Name", "--image=nginx")
    assert err.startswith("error: failed to create deployment: ")
    assert 'metadata.name: Invalid value: "Bad_Name"' in err


@pytest.mark.kubectl
def test_drain_evicts_pods_with_protobuf_eviction(kc: Kubectl, tmp_path: Path) -> None:
    """drain evicts each pod with a protobuf policy/v1 Eviction; its DeleteOptions'
    gracePeriodSeconds=0 (a pointer: kept although zero) deletes a bound pod at once."""
    bound = pod("kt-drained")
    bound["spec"]["nodeName"] = "kt-pb-node"
    kc.ok("apply", "-f", str(write_manifest(tmp_path / "m.yaml", node("kt-pb-node"), bound)))
    out = kc.ok("drain", "kt-pb-node", "--force", "--grace-period=0", "--timeout=30s")
    assert "pod/kt-drained evicted" in out and "node/kt-pb-node drained" in out
    assert kc.fails("get", "pod", "kt-drained") == (
        'Error from server (NotFound): pods "kt-drained" not found\n'
    )
    assert _get(kc, "node", "kt-pb-node")["spec"]["unschedulable"] is True


@pytest.mark.kubectl
def test_debug_node_creates_a_protobuf_pod(kc: Kubectl, tmp_path: Path) -> None:
    kc.ok("apply", "-f", str(write_manifest(tmp_path / "n.yaml", node("kt-pb-dbg"))))
    done = kc.run("debug", "node/kt-pb-dbg", "--image=busybox", "--profile=general", "--", "true")
    assert done.returncode == 0, done.stderr
    pods = [
        p
        for p in _get(kc, "pods")["items"]
        if p["metadata"]["name"].startswith("node-debugger-kt-pb-dbg-")
    ]
    assert len(pods) == 1, pods
    spec = pods[0]["spec"]
    assert spec["nodeName"] == "kt-pb-dbg"
    assert spec["hostNetwork"] is True and spec["hostPID"] is True
    assert spec["containers"][0]["image"] == "busybox"
    assert spec["containers"][0]["command"] == ["true"]


# ------------------------------------------------------------------ raw HTTP: malformed bodies


def test_malformed_protobuf_is_a_400_and_stores_nothing(shared: ApiServerProcess) -> None:
    path = "/api/v1/namespaces"
    good = (GOLDEN / "namespace.bin").read_bytes()
    before = list_rv(shared.url, path)
    for body in (good[:-3], b"k8s\x00\x0a\xff", b"not protobuf", good[:4] + b"\x0b"):
        reply = request(shared.url, "POST", path, body, content_type=PROTOBUF)
        status = assert_status(reply, 400, "BadRequest")
        assert status["message"].startswith("error decoding protobuf: "), status
    assert list_rv(shared.url, path) == before
    assert request(shared.url, "GET", "/healthz", accept=None).status == 200


def test_protobuf_of_the_wrong_kind_is_a_400(shared: ApiServerProcess) -> None:
    body = (GOLDEN / "namespace.bin").read_bytes()
    reply = request(
        shared.url, "POST", "/api/v1/namespaces/default/pods", body, content_type=PROTOBUF
    )
    assert "Namespace" in assert_status(reply, 400, "BadRequest")["message"]


def test_protobuf_create_over_raw_http(shared: ApiServerProcess) -> None:
    """The captured `kubectl create service clusterip web` body, replayed: the same object."""
    body = (GOLDEN / "service_clusterip.bin").read_bytes()
    path = "/api/v1/namespaces/default/services"
    reply = request(shared.url, "POST", path, body, content_type=PROTOBUF)
    assert reply.status == 201, reply.body[:2000]
    assert reply.headers["content-type"].startswith("application/json")
    stored = ok(shared.url, "GET", f"{path}/web")
    assert stored["spec"]["ports"][0]["targetPort"] == 8080
    assert stored["spec"]["selector"] == {"app": "web"}
