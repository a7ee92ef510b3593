"""The official Python `kubernetes` client (32.0.1) against a real `knet apiserver`.

The client deserializes strictly into its models, sends `watch=True` (Python's spelling) and
reads watches line by line: each test fails if the server's wire format drifts from upstream's.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _apiserver_http import deployment, node, pod, service
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from knet.testing.apiserver import ApiServerProcess, running_apiserver

SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/12")
NS = "default"


@pytest.fixture
def api(apiserver: ApiServerProcess) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(apiserver.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


def _status(e: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(e.body)
    assert body["kind"] == "Status"
    assert body["code"] == e.status
    return body


def test_pod_crud(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_pod(NS, pod("kt-web", labels={"app": "web"}))
    assert isinstance(created, client.V1Pod)
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    assert created.spec.containers[0].ports[0].container_port == 80

    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod(NS, pod("kt-web"))
    assert exc.value.status == 409
    assert _status(exc.value)["reason"] == "AlreadyExists"

    got = core.read_namespaced_pod("kt-web", NS)
    assert got.metadata.uid == created.metadata.uid
    listed = core.list_namespaced_pod(NS, label_selector="app in (web,db)")
    assert [p.metadata.name for p in listed.items] == ["kt-web"]
    assert core.list_namespaced_pod(NS, label_selector="app!=web").items == []
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces().items] == ["kt-web"]

    got.metadata.labels["tier"] = "front"
    replaced = core.replace_namespaced_pod("kt-web", NS, got)
    assert replaced.metadata.labels == {"app": "web", "tier": "front"}
    assert int(replaced.metadata.resource_version) > int(got.metadata.resource_version)
    # `got` still carries the old resourceVersion: a second PUT of it is a lost update
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_pod("kt-web", NS, got)
    assert exc.value.status == 409
    assert _status(exc.value)["reason"] == "Conflict"

    patched = core.patch_namespaced_pod("kt-web", NS, {"metadata": {"labels": {"tier": None}}})
    assert patched.metadata.labels == {"app": "web"}

    core.delete_namespaced_pod("kt-web", NS)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod("kt-web", NS)
    assert exc.value.status == 404
    assert _status(exc.value)["message"] == 'pods "kt-web" not found'


def test_service_crud(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    body = service("kt-svc")
    body["spec"]["type"] = "NodePort"
    created = core.create_namespaced_service(NS, body)
    ip = created.spec.cluster_ip
    assert ipaddress.ip_address(ip) in SERVICE_RANGE
    assert created.spec.cluster_i_ps == [ip]
    port = created.spec.ports[0]
    assert (port.protocol, port.target_port) == ("TCP", 8080)
    assert 30000 <= port.node_port <= 32767

    other = core.create_namespaced_service(NS, service("kt-other"))
    assert other.spec.cluster_ip != ip
    assert other.spec.type == "ClusterIP"
    assert other.spec.ports[0].node_port is None

    patched = core.patch_namespaced_service(
        "kt-svc", NS, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    )
    # strategic merge keyed on port: the node port and the name stay
    assert patched.spec.ports[0].target_port == 9090
    assert patched.spec.ports[0].node_port == port.node_port
    assert patched.spec.ports[0].name == "http"
    assert patched.spec.cluster_ip == ip

    names = {s.metadata.name for s in core.list_namespaced_service(NS).items}
    assert names == {"kt-svc", "kt-other"}
    core.delete_namespaced_service("kt-svc", NS)
    core.delete_namespaced_service("kt-other", NS)
    assert core.list_namespaced_service(NS).items == []


def test_deployment_crud_and_strategic_patch(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment(NS, deployment("kt-app", replicas=2))
    assert created.metadata.generation == 1
    assert created.spec.replicas == 2

    # a dict body goes out as a strategic merge patch: containers merge by name
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}
    }
    patched = apps.patch_namespaced_deployment("kt-app", NS, patch)
    containers = patched.spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("web", "nginx:1.28")]
    ports = containers[0].ports
    assert [(p.container_port, p.protocol) for p in ports] == [(80, "TCP")]
    assert patched.metadata.generation == 2

    scale = apps.patch_namespaced_deployment_scale("kt-app", NS, {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4
    assert apps.read_namespaced_deployment_scale("kt-app", NS).spec.replicas == 4
    assert apps.read_namespaced_deployment("kt-app", NS).spec.replicas == 4

    listed = apps.list_namespaced_deployment(NS)
    assert [d.metadata.name for d in listed.items] == ["kt-app"]
    apps.delete_namespaced_deployment("kt-app", NS)
    with pytest.raises(ApiException) as exc:
        apps.read_namespaced_deployment("kt-app", NS)
    assert exc.value.status == 404
    assert _status(exc.value)["message"] == 'deployments.apps "kt-app" not found'


def test_list_node_with_full_node_info(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_node(node("kt-node-1"))
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == ["kt-node-1"]
    info = nodes[0].status.node_info
    assert info.kubelet_version == "v1.32.0-knet"
    assert info.container_runtime_version == "knet://0.1.0"
    assert info.system_uuid == "kt-system-uuid"
    addresses = [(a.type, a.address) for a in nodes[0].status.addresses]
    assert addresses == [("InternalIP", "192.0.2.10"), ("Hostname", "kt-node-1")]
    assert nodes[0].status.conditions[0].type == "Ready"


def _events(stream: Iterator[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [
        (e["type"], e["object"].metadata.name, int(e["object"].metadata.resource_version))
        for e in stream
    ]


def test_watch_resumes_from_a_list(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(NS, pod("kt-a"))
    rv = core.list_namespaced_pod(NS).metadata.resource_version
    core.create_namespaced_pod(NS, pod("kt-b"))
    core.patch_namespaced_pod("kt-a", NS, {"metadata": {"labels": {"step": "two"}}})
    core.delete_namespaced_pod("kt-b", NS)
    core.create_namespaced_pod("kube-system", pod("kt-elsewhere"))  # another namespace

    w = watch.Watch()
    seen = _events(w.stream(core.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=1))
    assert [(t, n) for t, n, _ in seen] == [
        ("ADDED", "kt-b"),
        ("MODIFIED", "kt-a"),
        ("DELETED", "kt-b"),
    ]
    revisions = [r for _, _, r in seen]
    assert revisions == sorted(revisions) and revisions[0] > int(rv)
    assert len(set(revisions)) == 3


def test_watch_from_now_sees_existing_then_live_changes(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(NS, pod("kt-a"))
    w = watch.Watch()
    seen: list[tuple[str, str]] = []
    started = threading.Event()

    def consume() -> None:
        for e in w.stream(core.list_namespaced_pod, NS, timeout_seconds=20):
            seen.append((e["type"], e["object"].metadata.name))
            started.set()
            if e["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    assert started.wait(20)
    core.create_namespaced_pod(NS, pod("kt-b"))
    core.delete_namespaced_pod("kt-b", NS)
    t.join(25)
    assert not t.is_alive()
    assert seen == [("ADDED", "kt-a"), ("ADDED", "kt-b"), ("DELETED", "kt-b")]


def test_watch_too_old_resource_version_is_410(tmp_path: Path) -> None:
    with running_apiserver(tmp_path, "--history-window", "20") as server:
        api_client = config.new_client_from_config(config_file=str(server.kubeconfig))
        try:
            core = client.CoreV1Api(api_client)
            core.create_namespaced_pod(NS, pod("kt-a"))
            for i in range(30):
                core.patch_namespaced_pod("kt-a", NS, {"metadata": {"labels": {"n": str(i)}}})
            w = watch.Watch()
            with pytest.raises(ApiException) as exc:
                list(
                    w.stream(core.list_namespaced_pod, NS, resource_version="1", timeout_seconds=5)
                )
            assert exc.value.status == 410
            assert str(exc.value.reason).startswith("Expired: too old resource version: 1 (")
            # a recent resourceVersion still works on the same server
            rv = core.list_namespaced_pod(NS).metadata.resource_version
            core.patch_namespaced_pod("kt-a", NS, {"metadata": {"labels": {"n": "last"}}})
            seen = _events(
                w.stream(core.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=1)
            )
            assert [(t, n) for t, n, _ in seen] == [("MODIFIED", "kt-a")]
        finally:
            api_client.close()
