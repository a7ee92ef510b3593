"""Fixtures for kubelet-lite on the real kernel: a scratch node namespace, a real API server, and
an async client. ``node.cleanup()`` runs at teardown, pass or fail."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubelet_harness import Node, become_subreaper

from knet.client import ApiClient
from knet.netlink import netns
from knet.testing.apiserver import ApiServerProcess


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")


@pytest.fixture
def node(tmp_path: Path, apiserver: ApiServerProcess) -> Iterator[Node]:
    tag = secrets.token_hex(3)
    logs = tmp_path / "logs"
    logs.mkdir()
    n = Node(
        tag=tag,
        root=tmp_path / "kubelet",
        kubeconfig=apiserver.kubeconfig,
        api_url=apiserver.url,
        log_dir=logs,
    )
    become_subreaper()
    netns.create(n.node_ns)
    try:
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
