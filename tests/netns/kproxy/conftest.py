"""Scratch network namespaces for kproxy's real-kernel tests.

Every namespace is named ``kt-...``, created by a fixture and removed when the test ends, pass
or fail. iptables state is per namespace, so nothing here reaches the root namespace.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kproxy_netns_backends import BACKENDS, BackendFactory
from pyroute2 import netns

# The unit tests' scenarios (services, endpoints, address plan) are shared with these tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "kproxy"))


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, iptables)")


@pytest.fixture
def make_netns() -> Iterator[Callable[[str], str]]:
    """Create ``kt-<random>-<role>`` namespaces on demand; all are removed afterwards."""
    tag = secrets.token_hex(3)
    made: list[str] = []

    def make(role: str) -> str:
        name = f"kt-{tag}-{role}"
        netns.create(name)
        made.append(name)
        return name

    try:
        yield make
    finally:
        for name in made:
            netns.remove(name)


@pytest.fixture
def scratch_ns(make_netns: Callable[[str], str]) -> str:
    return make_netns("ipt")


@pytest.fixture(params=sorted(BACKENDS))
def backend_factory(request: pytest.FixtureRequest) -> BackendFactory:
    factory: BackendFactory = BACKENDS[request.param]
    return factory
