"""Partial syncs leave unchanged top-level chains (KUBE-SERVICES ...) out of the restore.

What the fake backend holds afterwards must still equal a fresh ``render`` of the state.
"""

from __future__ import annotations

import pytest
from kproxy_objects import endpoint, endpoint_slice, service
from kproxy_scenarios import overall

from knet.client.clock import FakeClock
from kproxy.backend.fake import FakeBackend
from kproxy.config import ProxyConfig
from kproxy.iptables.proxier import IptablesProxier
from kproxy.iptables.render import render
from kproxy.rules.parse import ChainDecl, parse_dump, parse_restore

CONFIG = ProxyConfig("node1", cluster_cidr="10.244.0.0/16", min_sync_period=0.0)


def declared(text: str) -> dict[str, set[str]]:
    return {
        block.table: {op.chain for op in block.ops if isinstance(op, ChainDecl)}
        for block in parse_restore(text)
    }


def web_slice(*ips: str) -> dict[str, object]:
    return endpoint_slice("web", [endpoint(ip) for ip in ips])


async def started() -> tuple[IptablesProxier, FakeBackend]:
    backend = FakeBackend()
    proxier = IptablesProxier(CONFIG, backend, clock=FakeClock(100.0), offload=False)
    proxier.on_service_add(service("web", "10.96.0.10"))
    proxier.on_service_add(service("api", "10.96.0.11"))
    proxier.on_endpoint_slice_add(web_slice("10.244.1.2"))
    proxier.on_services_synced()
    proxier.on_endpoint_slices_synced()
    await proxier.sync_proxy_rules()
    return proxier, backend


def assert_kernel_matches_render(proxier: IptablesProxier, backend: FakeBackend) -> None:
    dump = parse_dump(backend.save("filter") + backend.save("nat"))
    expected = render(proxier.services, proxier.endpoints, CONFIG)
    for table in ("filter", "nat"):
        for chain in expected.chains(table):
            got = dump.chain(table, chain)
            assert got is not None, chain
            assert [r.raw for r in got.rules] == list(expected.rules(table, chain)), chain


async def test_endpoint_change_writes_no_top_level_chain() -> None:
    proxier, backend = await started()
    proxier.on_endpoint_slice_update(web_slice("10.244.1.2"), web_slice("10.244.1.3"))
    await proxier.sync_proxy_rules()
    result = proxier.last_sync
    assert result is not None and not result.full
    chains = declared(backend.restores[-1])
    assert chains["filter"] == set()
    assert all(c.startswith(("KUBE-SVC-", "KUBE-SEP-")) for c in chains["nat"])
    assert "KUBE-SERVICES" in result.unchanged["nat"]
    # KUBE-SVC: masquerade + jump; the new KUBE-SEP: hairpin + DNAT.
    assert result.rules_written == {"filter": 0, "nat": 4}
    assert_kernel_matches_render(proxier, backend)


async def test_a_change_to_the_dispatch_rules_rewrites_those_chains() -> None:
    proxier, backend = await started()
    # api gets its first endpoint: its REJECT leaves filter KUBE-SERVICES, a jump joins nat's.
    proxier.on_endpoint_slice_add(endpoint_slice("api", [endpoint("10.244.1.9")], name="api-1"))
    await proxier.sync_proxy_rules()
    chains = declared(backend.restores[-1])
    assert chains["filter"] == {"KUBE-SERVICES"}
    assert "KUBE-SERVICES" in chains["nat"]
    assert "KUBE-MARK-MASQ" not in chains["nat"]
    assert_kernel_matches_render(proxier, backend)


async def test_after_a_failure_the_full_sync_rewrites_everything_again() -> None:
    proxier, backend = await started()
    backend.fail_next_restore()
    proxier.on_endpoint_slice_update(web_slice("10.244.1.2"), web_slice("10.244.1.4"))
    await proxier.sync_proxy_rules()
    assert proxier.need_full_sync
    await proxier.sync_proxy_rules()
    assert proxier.last_sync is not None and proxier.last_sync.full
    assert {"KUBE-SERVICES", "KUBE-MARK-MASQ"} <= declared(backend.restores[-1])["nat"]
    # And the next partial sync compares with what that full sync wrote.
    proxier.on_endpoint_slice_update(web_slice("10.244.1.4"), web_slice("10.244.1.5"))
    await proxier.sync_proxy_rules()
    assert "KUBE-SERVICES" not in declared(backend.restores[-1])["nat"]
    assert_kernel_matches_render(proxier, backend)


def test_restore_text_leaves_out_unchanged_top_level_chains() -> None:
    rs = overall().render()
    text = rs.to_restore_text(chains=set(), unchanged={"nat": {"KUBE-SERVICES"}})
    chains = declared(text)
    assert "KUBE-SERVICES" not in chains["nat"]
    assert "KUBE-SERVICES" in chains["filter"]  # another table's chain of the same name
    assert "-A KUBE-SERVICES" not in text.split("*nat")[1]
    assert chains["nat"] == {"KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"}


def test_restore_text_refuses_service_chains_as_unchanged() -> None:
    rs = overall().render()
    svc = next(c for c in rs.chains("nat") if c.startswith("KUBE-SVC-"))
    with pytest.raises(ValueError, match="service chain"):
        rs.to_restore_text(chains=set(), unchanged={"nat": {svc}})
