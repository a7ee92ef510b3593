"""Fixtures for kproxy's real-traffic tests: one apiserver for the module, and per backend a
node namespace with server pods and a running kproxy. Everything is removed afterwards."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kproxy_traffic_harness import Api, KProxy, Node

from knet.testing.apiserver import ApiServerProcess, running_apiserver

# (proxy mode, iptables backend): iptables mode with both backends, userspace and nftables
# mode with the restore backend (nftables mode uses it only to remove other modes' rules).
MODES = (
    ("iptables", "restore"),
    ("iptables", "python-iptables"),
    ("userspace", "restore"),
    ("nftables", "restore"),
)


@dataclass
class Cluster:
    api: Api
    node: Node
    kproxy: KProxy
    client: str  # the client pod's namespace
    apiserver: ApiServerProcess

    def pod_ips(self, *names: str) -> list[str]:
        return [self.node.pods[n].ip for n in names]


@pytest.fixture(scope="module")
def apiserver_with_socket() -> Iterator[tuple[ApiServerProcess, Path, Path]]:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, iptables)")
    # A short directory: unix socket paths are limited to 107 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="kt-kproxy-"))
    try:
        sock = workdir / "api.sock"
        with running_apiserver(workdir, "--unix-socket", str(sock)) as server:
            yield server, sock, workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module", params=MODES, ids=["-".join(m) for m in MODES])
def cluster(
    request: pytest.FixtureRequest, apiserver_with_socket: tuple[ApiServerProcess, Path, Path]
) -> Iterator[Cluster]:
    server, sock, root = apiserver_with_socket
    mode, backend = request.param
    workdir = root / f"{mode}-{backend}"
    workdir.mkdir()
    node = Node(secrets.token_hex(3), workdir)
    kproxy = KProxy(node, sock, backend, workdir, mode=mode)
    try:
        for name in ("p1", "p2", "p3", "client"):
            node.add_pod(name)
        kproxy.start()
        yield Cluster(Api(server.url), node, kproxy, node.pods["client"].netns, server)
    finally:
        kproxy.stop()
        node.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach kproxy's log to a failing test's report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        cluster = getattr(item, "funcargs", {}).get("cluster")
        if isinstance(cluster, Cluster):
            report.sections.append(("kproxy log", cluster.kproxy.log_tail()))
