"""Scratch namespaces for real-kernel sandbox tests.

Everything lives in namespaces named ``kt-...`` that the fixtures create and remove, pass or
fail: the "node" namespace holding the bridge, and the pod namespaces under a per-test prefix.
Nothing here touches the root network namespace.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from knet.netlink import netns
from kubelet_lite.network.conf import NetConf
from kubelet_lite.network.pod_network import PodNetwork


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")


@pytest.fixture
def tag() -> str:
    return secrets.token_hex(3)


@pytest.fixture
def pod_prefix(tag: str) -> Iterator[str]:
    """Prefix of this test's pod namespaces; whatever carries it is removed afterwards."""
    prefix = f"kt-p{tag}-"
    try:
        yield prefix
    finally:
        for name in netns.list_names(prefix):
            netns.remove(name)


@pytest.fixture
def node_ns(tag: str, pod_prefix: str) -> Iterator[str]:
    """A scratch namespace standing in for the node (its bridge and host veths live here)."""
    name = f"kt-node-{tag}"
    netns.create(name)
    try:
        yield name
    finally:
        netns.remove(name)  # takes the bridge and any host veth with it


@pytest.fixture
def make_net(
    tmp_path: Path, node_ns: str, pod_prefix: str
) -> Iterator[Callable[[str], PodNetwork]]:
    """Build PodNetworks on the scratch node (closed at teardown)."""
    made: list[PodNetwork] = []

    def make(subnet: str) -> PodNetwork:
        conf = NetConf(
            ipam_dir=tmp_path / f"ipam-{len(made)}",
            subnet=subnet,
            bridge="kbr0",
            node_netns=node_ns,
            netns_prefix=pod_prefix,
        )
        made.append(PodNetwork(conf))
        return made[-1]

    try:
        yield make
    finally:
        for pn in made:
            pn.close()


@pytest.fixture
def net(make_net: Callable[[str], PodNetwork]) -> PodNetwork:
    return make_net("10.244.1.0/24")
