from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _fakecluster import Cluster

from knet.client import ApiClient
from knet.testing.apiserver import ApiServerProcess


@pytest.fixture
async def cluster(apiserver: ApiServerProcess) -> AsyncIterator[Cluster]:
    """A real API server process; controllers and scheduler in this test's event loop; fake
    nodes added by the test."""
    c = Cluster(client=ApiClient.from_url(apiserver.url), server=apiserver)
    try:
        yield c
    finally:
        await c.close()
