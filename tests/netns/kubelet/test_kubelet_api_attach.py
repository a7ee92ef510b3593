"""`kubectl attach`: a running container's output from now on, through the API server and the
kubelet API, ending when the container does; errors as Statuses."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from api_fixtures import apiserver, client, kubectl, node, shell, tag
from kubelet_harness import Node, create_pod, pod_manifest, wait_for

from knet.client import ApiClient
from knet.testing.apiserver import ApiServerProcess

__all__ = ["apiserver", "client", "node", "tag"]  # fixtures
pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")

SCRIPT = "echo ready; sleep 3; for i in 1 2 3; do echo tick $i; sleep 0.3; done; echo bye >&2"


async def test_kubectl_attach_streams_new_output_until_the_container_ends(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    node.start_kubelet()
    manifest = pod_manifest("ticker", node.name, [shell("main", SCRIPT)], restartPolicy="Never")
    await create_pod(client, node, manifest)

    async def ready() -> bool:
        r = await asyncio.to_thread(kubectl, apiserver, "logs", "ticker")
        return r.returncode == 0 and "ready" in r.stdout

    await wait_for("the container to start", ready)
    r = await asyncio.to_thread(kubectl, apiserver, "attach", "ticker", "-c", "main")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["tick 1", "tick 2", "tick 3"]  # not "ready": from now on
    assert "bye" in r.stderr
    r = kubectl(apiserver, "attach", "ticker", "-c", "nope")
    assert r.returncode != 0
