"""Port-forward over WebSocket (``v4.channel.k8s.io``) with the Python client's
``portforward()``: several ports on one tunnel, a refused port reports its error on its own
error channel while the other port keeps working; and kubectl's SPDY-in-WebSocket tunnel."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import urllib.request

import pytest
from api_fixtures import apiserver, client, node, tag
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


async def test_kubectl_port_forward_tunnels_spdy_in_a_websocket(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    """kubectl 1.31+ tunnels SPDY inside the WebSocket; the API server ends the SPDY and
    relays each connection over its own kubelet WebSocket."""
    node.start_kubelet()
    await create_pod(client, node, pod_manifest("web", node.name, [netexec()]))
    pod = await wait_running(client, "web")
    await wait_for(
        "netexec to listen", lambda: asyncio.to_thread(answers, node, pod["status"]["podIP"])
    )
    env = {**os.environ, "KUBECONFIG": str(apiserver.kubeconfig)}
    proc = subprocess.Popen(
        ["kubectl", "port-forward", "pod/web", ":8080"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", line)
        assert m, line
        url = f"http://127.0.0.1:{m.group(1)}/hostname"

        def get() -> bytes:
            with urllib.request.urlopen(url, timeout=10) as r:
                return bytes(r.read())

        assert await asyncio.to_thread(get) == b"web"
        assert await asyncio.to_thread(get) == b"web"  # a second connection, same tunnel
    finally:
        proc.kill()
        proc.communicate(timeout=10)
