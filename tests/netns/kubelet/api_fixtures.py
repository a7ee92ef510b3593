"""Fixtures for the kubelet API tests: a real API server that dials kubelets from inside the
node's namespace (``--kubelet-netns``), a node whose loopback carries the node address (so that
socket reaches the kubelet API there), the async client, and kubectl against that server.
Nothing is added to the root namespace; the node namespace goes with ``node.cleanup()``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubelet_harness import Node, new_node, run_in

from knet.client import ApiClient
from knet.testing.apiserver import ApiServerProcess, running_apiserver


@pytest.fixture
def tag() -> str:
    return secrets.token_hex(3)


@pytest.fixture
def apiserver(tmp_path: Path, tag: str) -> Iterator[ApiServerProcess]:
    with running_apiserver(tmp_path, "--kubelet-netns", f"kt-node-{tag}") as server:
        yield server


@pytest.fixture
def node(tmp_path: Path, apiserver: ApiServerProcess, tag: str) -> Iterator[Node]:
    n = new_node(tmp_path, apiserver.kubeconfig, apiserver.url, tag)
    try:
        for argv in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "addr", "add", "10.0.0.1/32", "dev", "lo"],
        ):
            r = run_in(n.node_ns, argv)
            assert r.returncode == 0, r.stderr
        yield n
    finally:
        n.cleanup()


@pytest.fixture
async def client(apiserver: ApiServerProcess) -> AsyncIterator[ApiClient]:
    c = ApiClient.from_url(apiserver.url)
    try:
        yield c
    finally:
        await c.close()


def kubectl(
    apiserver: ApiServerProcess, *args: str, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(apiserver.kubeconfig)}
    return subprocess.run(
        ["kubectl", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def shell(name: str, script: str) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script]}
