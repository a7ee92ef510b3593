"""``nodes/{name}/proxy``: the kubelet API through the API server, with the real kubectl."""

from __future__ import annotations

import json
import shutil

import pytest
from api_fixtures import apiserver, client, kubectl, node, tag
from kubelet_harness import Node, create_pod, netexec, pod_manifest, wait_running

from knet.client import ApiClient
from knet.testing.apiserver import ApiServerProcess

__all__ = ["apiserver", "client", "node", "tag"]  # fixtures
pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")


async def test_node_proxy_reaches_the_kubelet_api(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    node.start_kubelet()
    await create_pod(client, node, pod_manifest("web", node.name, [netexec()]))
    await wait_running(client, "web")
    r = kubectl(apiserver, "get", "--raw", f"/api/v1/nodes/{node.name}/proxy/healthz")
    assert r.returncode == 0 and r.stdout == "ok", (r.stdout, r.stderr)
    r = kubectl(apiserver, "get", "--raw", f"/api/v1/nodes/{node.name}/proxy/pods")
    assert r.returncode == 0, r.stderr
    pods = json.loads(r.stdout)
    assert pods["kind"] == "PodList"
    assert [p["metadata"]["name"] for p in pods["items"]] == ["web"]
    r = kubectl(apiserver, "get", "--raw", "/api/v1/nodes/kt-no-such-node/proxy/healthz")
    assert r.returncode != 0 and "not found" in r.stderr
