"""Port-forward over WebSocket (``v4.channel.k8s.io``) with the Python client's
``portforward()``: several ports on one tunnel, a refused port reports its error on its own
error channel while the other port keeps working."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from api_fixtures import apiserver, client, kubectl, node, tag
from kubelet_harness import (
    Node,
    create_pod,
    netexec,
    pod_manifest,
    run_in,
    wait_for,
    wait_running,
)

from knet.client import ApiClient
from knet.testing.apiserver import ApiServerProcess

__all__ = ["apiserver", "client", "node", "tag"]  # fixtures
pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")


def answers(node: Node, ip: str) -> bool:
    return (
        run_in(node.node_ns, ["curl", "-sf", "--max-time", "2", f"http://{ip}:8080/"]).returncode
        == 0
    )


def forward_and_ask(apiserver: ApiServerProcess) -> tuple[bytes, str | None]:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.stream import portforward

    api = k8s.CoreV1Api(k8s_config.new_client_from_config(str(apiserver.kubeconfig)))
    pf = portforward(
        api.connect_get_namespaced_pod_portforward, "web", "default", ports="8080,9999"
    )
    sock = pf.socket(8080)
    sock.settimeout(10)  # a broken tunnel fails the test instead of hanging it
    sock.sendall(b"GET /hostname HTTP/1.0\r\nHost: x\r\n\r\n")
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    sock.close()
    closed = pf.socket(9999)
    closed.close()
    error = pf.error(9999)
    pf.close()
    return reply, error


async def test_python_client_portforward_two_ports_one_refused(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    node.start_kubelet()
    await create_pod(client, node, pod_manifest("web", node.name, [netexec()]))
    pod = await wait_running(client, "web")
    ip = pod["status"]["podIP"]
    await wait_for("netexec to listen", lambda: asyncio.to_thread(answers, node, ip))
    reply, error = await asyncio.wait_for(asyncio.to_thread(forward_and_ask, apiserver), 30)
    assert reply.startswith(b"HTTP/1.") and reply.endswith(b"\r\n\r\nweb"), reply
    assert error is not None and "9999" in error and "refused" in error.lower(), error


async def test_kubectl_port_forward_is_refused_with_a_status(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    """kubectl 1.31+ tunnels SPDY inside the WebSocket, which is not implemented: it must get a
    readable error and exit, not hang."""
    node.start_kubelet()
    await create_pod(client, node, pod_manifest("web", node.name, [netexec()]))
    await wait_running(client, "web")
    r = await asyncio.to_thread(kubectl, apiserver, "port-forward", "pod/web", "18080:8080")
    assert r.returncode != 0
    assert "Upgrade request required" in r.stderr or "upgrade" in r.stderr.lower(), r.stderr
