"""Fixtures for end-to-end tests of the local cluster: a uniquely named cluster (``t<hex4>``)
with its state under the test's tmp dir. Teardown, pass or fail: `knet cluster down`, then a
check that nothing with the cluster's prefix, no process and no state file remains."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_harness import Cluster, become_subreaper, running_cluster, teardown


@pytest.fixture(autouse=True)
def _needs_root_and_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    for tool in ("nsenter", "iptables", "kubectl"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    if not Path("/proc/sys/net/bridge").is_dir():
        pytest.skip("needs the br_netfilter module")


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[list[Cluster]]:
    """A list the test appends clusters to (not yet up); all of them are torn down."""
    become_subreaper()
    made: list[Cluster] = []
    try:
        yield made
    finally:
        for c in made:
            teardown(c)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A 3-node cluster, up."""
    with running_cluster(tmp_path) as c:
        yield c
