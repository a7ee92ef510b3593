"""Fixtures for kubelet-lite on the real kernel: a scratch node namespace, a real API server, and
an async client. ``node.cleanup()`` runs at teardown, pass or fail."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubelet_harness import Node, new_node

from knet.client import ApiClient
from knet.testing.apiserver import ApiServerProcess


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")


@pytest.fixture
def node(tmp_path: Path, apiserver: ApiServerProcess) -> Iterator[Node]:
    n = new_node(tmp_path, apiserver.kubeconfig, apiserver.url, secrets.token_hex(3))
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
