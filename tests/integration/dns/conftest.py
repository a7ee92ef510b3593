from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from dns_process import DnsProcess, Upstream, running_dns

from knet.client import ApiClient
from knet.testing.apiserver import ApiServerProcess, running_apiserver


@pytest.fixture(scope="session")
def dns_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dns")


@pytest.fixture(scope="session")
def api(dns_workdir: Path) -> Iterator[ApiServerProcess]:
    """One apiserver for all dns tests: each test uses its own namespace."""
    with running_apiserver(dns_workdir) as server:
        yield server


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    with Upstream() as up:
        yield up


@pytest.fixture(scope="session")
def dns_server(
    api: ApiServerProcess, upstream: Upstream, dns_workdir: Path
) -> Iterator[DnsProcess]:
    with running_dns(api.kubeconfig, upstream.address, dns_workdir) as server:
        yield server


@pytest.fixture
async def client(api: ApiServerProcess) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_url(api.url) as c:
        yield c
