"""`kubectl logs` and the Python client's `read_namespaced_pod_log` end to end: a real API server
dialing a real kubelet-lite's HTTPS API inside the node's namespace (``--kubelet-netns``), CRI
log files written by the container's log shim.

The node namespace gets the node's address on its loopback, so the API server's socket, made in
that namespace, reaches the kubelet API; nothing is added to the root namespace.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

import pytest
from api_fixtures import apiserver, client, kubectl, node, shell, tag
from kubelet_harness import (
    Node,
    container_status,
    create_pod,
    get_pod,
    pod_manifest,
    wait_for,
    wait_running,
)

from knet.client import ApiClient
from knet.testing.apiserver import ApiServerProcess

__all__ = ["apiserver", "client", "node", "tag"]  # fixtures
pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")


async def wait_logged(apiserver: ApiServerProcess, pod: str, text: str) -> str:
    async def logged() -> str | None:
        r = await asyncio.to_thread(kubectl, apiserver, "logs", pod, "-c", "main")
        return r.stdout if r.returncode == 0 and text in r.stdout else None

    return await wait_for(f"{text!r} in the logs of {pod}", logged)


async def test_kubectl_logs_tail_timestamps_container_and_errors(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    node.start_kubelet()
    script = "for i in 1 2 3; do echo line $i; done; echo oops >&2; sleep 3600"
    manifest = pod_manifest(
        "talker", node.name, [shell("main", script), shell("side", "echo side; sleep 3600")]
    )
    await create_pod(client, node, manifest)
    await wait_running(client, "talker")
    out = await wait_logged(apiserver, "talker", "oops")
    assert out.splitlines() == ["line 1", "line 2", "line 3", "oops"]
    r = kubectl(apiserver, "logs", "talker", "-c", "main", "--tail=2", "--timestamps")
    assert r.returncode == 0, r.stderr
    stamps = [line.split(" ", 1) for line in r.stdout.splitlines()]
    assert [text for _, text in stamps] == ["line 3", "oops"]
    assert all(t.endswith("Z") and "T" in t for t, _ in stamps)
    assert kubectl(apiserver, "logs", "talker", "-c", "main", "--since=1h").stdout == out
    r = kubectl(apiserver, "logs", "talker", "-c", "nope")
    assert r.returncode != 0
    assert "container nope is not valid for pod talker" in r.stderr
    r = kubectl(apiserver, "logs", "talker", "-c", "main", "--previous")
    assert r.returncode != 0
    assert 'previous terminated container "main" in pod "talker" not found' in r.stderr
    r = kubectl(apiserver, "logs", "ghost")
    assert r.returncode != 0 and 'pods "ghost" not found' in r.stderr


async def test_follow_streams_until_the_container_ends(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    node.start_kubelet()
    script = "echo start; sleep 2; echo middle; sleep 1; echo end"
    manifest = pod_manifest("follower", node.name, [shell("main", script)], restartPolicy="Never")
    await create_pod(client, node, manifest)
    await wait_logged(apiserver, "follower", "start")
    began = time.monotonic()
    r = await asyncio.to_thread(kubectl, apiserver, "logs", "-f", "follower", "-c", "main")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["start", "middle", "end"]
    assert time.monotonic() - began < 10  # it ended with the container, not at a timeout


async def test_previous_instance_and_python_client(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    node.start_kubelet()
    script = "echo run at $(date +%s%N); sleep 1; exit 1"
    await create_pod(client, node, pod_manifest("crasher", node.name, [shell("main", script)]))

    async def restarted() -> dict[str, Any] | None:
        pod = await get_pod(client, "crasher")
        st = container_status(pod, "main") if pod and pod.get("status") else {}
        return pod if st.get("restartCount", 0) >= 1 else None

    await wait_for("a restart", restarted, timeout=40)
    prev = kubectl(apiserver, "logs", "crasher", "--previous")
    assert prev.returncode == 0, prev.stderr
    assert prev.stdout.startswith("run at ")

    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    api = k8s.CoreV1Api(k8s_config.new_client_from_config(str(apiserver.kubeconfig)))
    text = await asyncio.to_thread(api.read_namespaced_pod_log, "crasher", "default", previous=True)
    assert text == prev.stdout


async def test_unreachable_node_answers_with_a_status_in_time(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    # A Node whose kubelet address leads nowhere from the dialing namespace.
    await client.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "kt-ghost-node"},
        },
        None,
    )
    await client.patch_status(
        "Node",
        "kt-ghost-node",
        {
            "status": {
                "addresses": [{"type": "InternalIP", "address": "10.0.0.77"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            }
        },
    )
    await client.create(
        pod_manifest("stranded", "kt-ghost-node", [shell("main", "true")]), "default"
    )
    began = time.monotonic()
    r = kubectl(apiserver, "logs", "stranded")
    assert time.monotonic() - began < 8  # kubectl's own start-up included
    assert r.returncode != 0
    assert "10.0.0.77:10250" in r.stderr, r.stderr


async def test_a_huge_line_comes_back_whole(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    """200 KB without a newline: split into 16 KiB P pieces on disk, one line for kubectl."""
    node.start_kubelet()
    script = "head -c 200000 /dev/zero | tr '\\0' x; echo; echo after; sleep 3600"
    await create_pod(client, node, pod_manifest("huge", node.name, [shell("main", script)]))
    await wait_running(client, "huge")
    out = await wait_logged(apiserver, "huge", "after")
    assert out.splitlines() == ["x" * 200000, "after"]
