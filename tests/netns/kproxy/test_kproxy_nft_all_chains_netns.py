"""iptables-nft-restore's "all chains" mode (``nft_restore_input``) against the real kernel.

The mode exists only for speed: the kernel must end up holding exactly what the plain input
gives, from an empty namespace (where the built-in chains do not exist yet) and from a
populated one, and it must leave other people's policies, rules and chains alone.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from kproxy_objects import endpoint, endpoint_slice, service

from kproxy.backend.restore import (
    NFT_ALL_CHAINS_COMMAND,
    RestoreBackend,
    in_netns,
    run_subprocess,
)
from kproxy.config import ProxyConfig
from kproxy.iptables.proxier import IptablesProxier

pytestmark = pytest.mark.root

CONFIG = ProxyConfig("node1", cluster_cidr="10.244.0.0/16", min_sync_period=0.0)
SERVICES = 40  # x 3 endpoints: 160 nat chains


class RecordingRunner:
    """run_subprocess, keeping every stdin it passed on."""

    def __init__(self) -> None:
        self.inputs: list[str] = []

    def __call__(
        self, argv: Sequence[str], stdin: str | None, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        if stdin is not None:
            self.inputs.append(stdin)
        return run_subprocess(argv, stdin, timeout)


def _slice(i: int, first: int = 0) -> dict[str, Any]:
    eps = [endpoint(f"10.244.{i}.{first + j + 1}") for j in range(3)]
    return endpoint_slice(f"svc-{i}", eps)


def _proxier(ns: str, min_declared: int) -> tuple[IptablesProxier, RecordingRunner]:
    runner = RecordingRunner()
    backend = RestoreBackend(
        "nft", netns=ns, runner=runner, nft_all_chains_min_declared=min_declared
    )
    proxier = IptablesProxier(CONFIG, backend, offload=False)
    for i in range(SERVICES):
        proxier.on_service_add(service(f"svc-{i}", f"10.96.0.{i + 10}"))
        proxier.on_endpoint_slice_add(_slice(i))
    proxier.on_services_synced()
    proxier.on_endpoint_slices_synced()
    return proxier, runner


def _save(ns: str) -> str:
    argv = in_netns(ns, ["iptables-nft-save"])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return "".join(line + "\n" for line in out.splitlines() if not line.startswith("#"))


def _iptables(ns: str, *args: str) -> None:
    subprocess.run(in_netns(ns, ["iptables-nft", "-w", *args]), check=True)


async def test_all_chains_mode_programs_exactly_what_the_plain_input_does(
    make_netns: Callable[[str], str],
) -> None:
    fast_ns, plain_ns = make_netns("all"), make_netns("plain")
    fast, fast_runner = _proxier(fast_ns, min_declared=50)
    plain, plain_runner = _proxier(plain_ns, min_declared=10**9)

    async def both() -> None:
        await fast.sync_proxy_rules()
        await plain.sync_proxy_rules()
        assert fast.last_sync is not None and plain.last_sync is not None
        assert fast.last_sync.full == plain.last_sync.full
        assert _save(fast_ns) == _save(plain_ns)

    await both()  # full sync into empty namespaces: built-in chains are created by it
    assert fast.last_sync is not None and fast.last_sync.full
    assert f"\n{NFT_ALL_CHAINS_COMMAND}\n" in fast_runner.inputs[-1]
    assert f"\n{NFT_ALL_CHAINS_COMMAND}\n" not in plain_runner.inputs[-1]

    for proxier in (fast, plain):  # one endpoint replaced, one service gone
        proxier.on_endpoint_slice_update(_slice(3), _slice(3, first=100))
        proxier.on_service_delete(service("svc-7", "10.96.0.17"))
    await both()
    assert fast.last_sync is not None and not fast.last_sync.full

    for proxier in (fast, plain):
        proxier.force_full_sync()
    await both()  # a full resync over a populated table


async def test_all_chains_mode_leaves_foreign_policies_rules_and_chains(
    scratch_ns: str,
) -> None:
    _iptables(scratch_ns, "-t", "filter", "-P", "INPUT", "DROP")
    _iptables(scratch_ns, "-t", "filter", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
    _iptables(scratch_ns, "-t", "nat", "-N", "KT-FOREIGN")
    _iptables(scratch_ns, "-t", "nat", "-A", "KT-FOREIGN", "-j", "RETURN")
    _iptables(scratch_ns, "-t", "nat", "-A", "PREROUTING", "-j", "KT-FOREIGN")
    proxier, runner = _proxier(scratch_ns, min_declared=1)
    await proxier.sync_proxy_rules()
    assert proxier.last_sync is not None and proxier.last_sync.full
    assert f"\n{NFT_ALL_CHAINS_COMMAND}\n" in runner.inputs[-1]
    saved = _save(scratch_ns)
    assert ":INPUT DROP" in saved
    assert "-A INPUT -i lo -j ACCEPT\n" in saved
    assert "-A KT-FOREIGN -j RETURN\n" in saved
    assert "-A PREROUTING -j KT-FOREIGN\n" in saved
    assert '-A PREROUTING -m comment --comment "kubernetes service portals"' in saved
