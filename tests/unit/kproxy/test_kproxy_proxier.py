"""The proxier end to end over the strict fake backend: events -> sync -> iptables dump.

Behaviour is checked by tracing packets through what the fake holds, and by comparing the
fake's chains with a fresh ``render`` of the same state.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kproxy_objects import endpoint, endpoint_slice, service

from knet.client.clock import FakeClock
from kproxy.backend.fake import FakeBackend
from kproxy.config import ProxyConfig
from kproxy.conntrack import FlowFilter
from kproxy.healthz import ProxyHealth
from kproxy.iptables.proxier import IptablesProxier
from kproxy.iptables.render import render
from kproxy.metrics import ProxyMetrics
from kproxy.rules.jumps import CANARY_CHAIN, CANARY_TABLES, JUMP_RULES
from kproxy.rules.names import is_owned_chain
from kproxy.rules.parse import Dump, parse_dump
from kproxy.rules.trace import trace_packet

NODE_IP = "192.168.0.2"
CONFIG = ProxyConfig(
    "node1", node_ips=(NODE_IP,), cluster_cidr="10.244.0.0/16", min_sync_period=0.0
)
POD = "10.244.1.50"


class RecordingConntrack:
    def __init__(self) -> None:
        self.deleted: list[FlowFilter] = []

    def delete(self, flows: list[FlowFilter]) -> int:
        self.deleted.extend(flows)
        return len(flows)


def make(
    backend: FakeBackend | None = None, **kw: Any
) -> tuple[IptablesProxier, FakeBackend, FakeClock]:
    backend = backend or FakeBackend()
    clock = FakeClock(100.0)
    proxier = IptablesProxier(
        CONFIG,
        backend,
        clock=clock,
        offload=False,
        metrics=ProxyMetrics(),
        health=ProxyHealth(60.0, clock=clock.now),
        **kw,
    )
    return proxier, backend, clock


def synced(proxier: IptablesProxier) -> None:
    proxier.on_services_synced()
    proxier.on_endpoint_slices_synced()


def dump_of(backend: FakeBackend) -> Dump:
    return parse_dump("".join(backend.save(t) for t in ("filter", "nat")))


def outcome(backend: FakeBackend, dst: str, port: int, proto: str = "tcp", src: str = POD) -> str:
    trace = trace_packet(
        dump_of(backend),
        src_ip=src,
        dst_ip=dst,
        protocol=proto,
        dst_port=port,
        node_ips=(NODE_IP,),
        assume_jumps=False,
    )
    return trace.outcome


def web_slice(*ips: str, name: str = "web-1") -> dict[str, object]:
    return endpoint_slice("web", [endpoint(ip) for ip in ips], name=name)


async def test_nothing_is_programmed_before_both_informers_synced() -> None:
    proxier, backend, _ = make()
    proxier.on_service_add(service("web", "10.96.0.10"))
    proxier.on_endpoint_slice_add(web_slice("10.244.1.2"))
    await proxier.sync_proxy_rules()
    assert backend.restores == []
    proxier.on_services_synced()
    await proxier.sync_proxy_rules()
    assert backend.restores == []
    proxier.on_endpoint_slices_synced()
    await proxier.sync_proxy_rules()
    assert len(backend.restores) == 1
    assert outcome(backend, "10.96.0.10", 80) == "10.244.1.2:8080"


async def test_first_sync_is_full_with_jumps_canaries_and_renders_the_state() -> None:
    proxier, backend, _ = make()
    proxier.on_service_add(service("web", "10.96.0.10"))
    proxier.on_endpoint_slice_add(web_slice("10.244.1.2", "10.244.1.3"))
    synced(proxier)
    await proxier.sync_proxy_rules()
    assert proxier.last_sync is not None and proxier.last_sync.full
    dump = dump_of(backend)
    for jump in JUMP_RULES:
        builtin = dump.chain(jump.table, jump.source_chain)
        assert builtin is not None and any(r.args == jump.args() for r in builtin.rules), jump
    for table in CANARY_TABLES:
        assert backend.ensure_chain(table, CANARY_CHAIN)  # already there
    expected = render(proxier.services, proxier.endpoints, CONFIG)
    for table in expected.tables:
        for chain in expected.chains(table):
            got = dump.chain(table, chain)
            assert got is not None, chain
            assert [r.raw for r in got.rules] == list(expected.rules(table, chain)), chain
    assert outcome(backend, "10.96.0.10", 80) == "10.244.1.2:8080, 10.244.1.3:8080"


async def test_partial_sync_writes_only_the_changed_service_chains() -> None:
    proxier, backend, _ = make()
    proxier.on_service_add(service("web", "10.96.0.10"))
    proxier.on_service_add(service("api", "10.96.0.11"))
    proxier.on_endpoint_slice_add(web_slice("10.244.1.2", "10.244.1.3"))
    proxier.on_endpoint_slice_add(endpoint_slice("api", [endpoint("10.244.1.7")], name="api-1"))
    synced(proxier)
    await proxier.sync_proxy_rules()
    api_chains = proxier.rules.chains_of(proxier.rules.names_of([("default", "api")]))
    old_web = proxier.rules.chains_of(proxier.rules.names_of([("default", "web")]))

    proxier.on_endpoint_slice_update(
        web_slice("10.244.1.2", "10.244.1.3"), web_slice("10.244.1.2", "10.244.1.4")
    )
    await proxier.sync_proxy_rules()

    result = proxier.last_sync
    assert result is not None and not result.full
    text = backend.restores[-1]
    declared = {line[1:].split()[0] for line in text.splitlines() if line.startswith(":")}
    owned_written = {c for c in declared if is_owned_chain(c)}
    new_web = proxier.rules.chains_of(proxier.rules.names_of([("default", "web")]))
    gone = old_web - new_web
    assert len(gone) == 1  # the SEP chain of 10.244.1.3
    assert owned_written == new_web | gone
    assert not owned_written & api_chains
    assert f"-X {next(iter(gone))}" in text
    dump = dump_of(backend)
    assert dump.chain("nat", next(iter(gone))) is None
    assert outcome(backend, "10.96.0.10", 80) == "10.244.1.2:8080, 10.244.1.4:8080"
    assert outcome(backend, "10.96.0.11", 80) == "10.244.1.7:8080"


async def test_no_op_updates_do_not_queue_a_sync() -> None:
    proxier, _backend, _ = make()
    svc = service("web", "10.96.0.10")
    proxier.on_service_add(svc)
    synced(proxier)
    await proxier.sync_proxy_rules()
    queued = proxier.health.oldest_queued if proxier.health else None
    assert queued is None
    proxier.on_service_update(svc, service("web", "10.96.0.10", resource_version="9"))
    assert proxier.health is not None and proxier.health.oldest_queued is None
    assert len(proxier.service_changes) == 0


async def test_service_without_endpoints_is_rejected_then_served() -> None:
    proxier, backend, _ = make()
    proxier.on_service_add(service("web", "10.96.0.10"))
    synced(proxier)
    await proxier.sync_proxy_rules()
    assert outcome(backend, "10.96.0.10", 80) == "REJECT"
    proxier.on_endpoint_slice_add(web_slice("10.244.1.2"))
    await proxier.sync_proxy_rules()
    assert outcome(backend, "10.96.0.10", 80) == "10.244.1.2:8080"


async def test_deleted_service_chains_are_removed() -> None:
    proxier, backend, _ = make()
    svc = service("web", "10.96.0.10")
    proxier.on_service_add(svc)
    proxier.on_endpoint_slice_add(web_slice("10.244.1.2"))
    synced(proxier)
    await proxier.sync_proxy_rules()
    assert any(is_owned_chain(c) for c in dump_of(backend).tables["nat"].chains)
    proxier.on_service_delete(svc)
    await proxier.sync_proxy_rules()
    assert proxier.last_sync is not None and not proxier.last_sync.full
    assert not any(is_owned_chain(c) for c in dump_of(backend).tables["nat"].chains)
    assert outcome(backend, "10.96.0.10", 80) == ""  # no rule matches it any more


async def test_failure_retries_and_forces_a_full_sync() -> None:
    proxier, backend, clock = make()
    proxier.on_service_add(service("web", "10.96.0.10"))
    proxier.on_endpoint_slice_add(web_slice("10.244.1.2"))
    synced(proxier)
    await proxier.sync_proxy_rules()
    backend.fail_next_restore("iptables-restore: line 7 failed")
    proxier.on_endpoint_slice_update(web_slice("10.244.1.2"), web_slice("10.244.1.3"))
    await proxier.sync_proxy_rules()
    assert proxier.need_full_sync
    assert proxier.metrics.value("kubeproxy_sync_proxy_rules_iptables_restore_failures_total") == 1
    assert (
        proxier.metrics.value("kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total")
        == 1
    )
    assert outcome(backend, "10.96.0.10", 80) == "10.244.1.2:8080"  # unchanged kernel

    # The runner retries after sync_period, with a full sync, and the change lands.
    task = asyncio.create_task(proxier.runner.loop())
    try:
        proxier.runner.retry_after(CONFIG.sync_period)
        for _ in range(10):
            await asyncio.sleep(0)
        clock.advance(CONFIG.sync_period)
        for _ in range(50):
            await asyncio.sleep(0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert proxier.last_sync is not None and proxier.last_sync.full
    assert not proxier.need_full_sync
    assert outcome(backend, "10.96.0.10", 80) == "10.244.1.3:8080"


async def test_full_sync_removes_stale_chains_left_by_an_earlier_run() -> None:
    backend = FakeBackend()
    first, _, _ = make(backend)
    first.on_service_add(service("old", "10.96.0.20"))
    first.on_endpoint_slice_add(endpoint_slice("old", [endpoint("10.244.1.9")], name="old-1"))
    synced(first)
    await first.sync_proxy_rules()
    old_chains = {c for c in dump_of(backend).tables["nat"].chains if is_owned_chain(c)}
    assert old_chains

    # A new kproxy (restart) that no longer sees "old" but sees "web".
    second, _, _ = make(backend)
    second.on_service_add(service("web", "10.96.0.10"))
    second.on_endpoint_slice_add(web_slice("10.244.1.2"))
    synced(second)
    await second.sync_proxy_rules()
    nat = dump_of(backend).tables["nat"].chains
    assert not old_chains & set(nat)
    assert outcome(backend, "10.96.0.10", 80) == "10.244.1.2:8080"


async def test_restart_keeps_the_rules_and_rewrites_the_same_ones() -> None:
    backend = FakeBackend()
    first, _, _ = make(backend)
    for p in (first,):
        p.on_service_add(service("web", "10.96.0.10"))
        p.on_endpoint_slice_add(web_slice("10.244.1.2"))
        synced(p)
        await p.sync_proxy_rules()
    before = dump_of(backend).to_text()
    second, _, _ = make(backend)
    # Before the informers have synced, a restarted proxier leaves the kernel alone.
    second.on_service_add(service("web", "10.96.0.10"))
    await second.sync_proxy_rules()
    assert dump_of(backend).to_text() == before
    second.on_endpoint_slice_add(web_slice("10.244.1.2"))
    synced(second)
    await second.sync_proxy_rules()
    assert dump_of(backend).to_text() == before
    # No flush anywhere: every restore was --noflush style (no "-F"/"-X" of live chains).
    assert not any("\n-F" in text for text in backend.restores)


async def test_canary_detects_a_flush_and_forces_full_resync() -> None:
    proxier, backend, _ = make()
    proxier.on_service_add(service("web", "10.96.0.10"))
    proxier.on_endpoint_slice_add(web_slice("10.244.1.2"))
    synced(proxier)
    await proxier.sync_proxy_rules()
    assert not await proxier.check_canary()

    # Someone resets iptables (like `iptables-restore` without --noflush of an empty ruleset).
    backend.restore("*mangle\nCOMMIT\n*filter\nCOMMIT\n*nat\nCOMMIT\n", noflush=False)
    assert outcome(backend, "10.96.0.10", 80) == ""
    assert await proxier.check_canary()
    assert proxier.need_full_sync
    await proxier.sync_proxy_rules()
    assert proxier.last_sync is not None and proxier.last_sync.full
    assert outcome(backend, "10.96.0.10", 80) == "10.244.1.2:8080"


async def test_udp_endpoint_removal_clears_its_conntrack_entries() -> None:
    ct = RecordingConntrack()
    proxier, _backend, _ = make(conntrack=ct)
    proxier.on_service_add(service("dns", "10.96.0.53", [("dns", "UDP", 53)]))
    udp = [("dns", "UDP", 5353)]
    s1 = endpoint_slice("dns", [endpoint("10.244.1.2"), endpoint("10.244.1.3")], udp)
    proxier.on_endpoint_slice_add(s1)
    synced(proxier)
    await proxier.sync_proxy_rules()
    assert ct.deleted == [FlowFilter("udp", orig_dst="10.96.0.53")]  # newly active
    ct.deleted.clear()
    s2 = endpoint_slice("dns", [endpoint("10.244.1.3")], udp)
    proxier.on_endpoint_slice_update(s1, s2)
    await proxier.sync_proxy_rules()
    assert ct.deleted == [FlowFilter("udp", orig_dst="10.96.0.53", dst_nat="10.244.1.2")]


async def test_conntrack_cleanup_waits_for_a_successful_sync() -> None:
    ct = RecordingConntrack()
    proxier, backend, _ = make(conntrack=ct)
    proxier.on_service_add(service("dns", "10.96.0.53", [("dns", "UDP", 53)]))
    udp = [("dns", "UDP", 5353)]
    s1 = endpoint_slice("dns", [endpoint("10.244.1.2"), endpoint("10.244.1.3")], udp)
    proxier.on_endpoint_slice_add(s1)
    synced(proxier)
    await proxier.sync_proxy_rules()
    ct.deleted.clear()
    backend.fail_next_restore()
    proxier.on_endpoint_slice_update(s1, endpoint_slice("dns", [endpoint("10.244.1.3")], udp))
    await proxier.sync_proxy_rules()
    assert ct.deleted == []  # the rules still send traffic to 10.244.1.2
    await proxier.sync_proxy_rules()
    assert ct.deleted == [FlowFilter("udp", orig_dst="10.96.0.53", dst_nat="10.244.1.2")]


async def test_metrics_and_health_after_syncs() -> None:
    proxier, backend, clock = make()
    proxier.on_service_add(service("web", "10.96.0.10"))
    proxier.on_endpoint_slice_add(web_slice("10.244.1.2"))
    synced(proxier)
    health = proxier.health
    assert health is not None and health.oldest_queued is not None
    await proxier.sync_proxy_rules()
    assert health.oldest_queued is None and health.last_updated == clock.now()
    m = proxier.metrics
    assert m.value("kubeproxy_sync_full_proxy_rules_duration_seconds_count") == 1
    assert m.value("kubeproxy_sync_partial_proxy_rules_duration_seconds_count") == 0
    dump = dump_of(backend)
    owned_nat = sum(len(c.rules) for c in dump.tables["nat"].chains.values() if not c.builtin)
    assert m.value("kubeproxy_sync_proxy_rules_iptables_total", {"table": "nat"}) == owned_nat
    assert m.value("kubeproxy_sync_proxy_rules_service_changes_total") == 1
    proxier.on_endpoint_slice_update(web_slice("10.244.1.2"), web_slice("10.244.1.3"))
    assert m.value("kubeproxy_sync_proxy_rules_endpoint_changes_pending") == 1
    await proxier.sync_proxy_rules()
    assert m.value("kubeproxy_sync_partial_proxy_rules_duration_seconds_count") == 1
    assert m.value("kubeproxy_sync_proxy_rules_endpoint_changes_pending") == 0


async def test_periodic_full_sync() -> None:
    proxier, _backend, clock = make(full_sync_period=600.0)
    proxier.on_service_add(service("web", "10.96.0.10"))
    synced(proxier)
    await proxier.sync_proxy_rules()
    await proxier.sync_proxy_rules()
    assert proxier.last_sync is not None and not proxier.last_sync.full
    clock.advance(600.0)
    await proxier.sync_proxy_rules()
    assert proxier.last_sync.full


@pytest.mark.parametrize("use_legacy", [False, True])
async def test_legacy_endpoints_drive_the_same_rules(use_legacy: bool) -> None:
    from kproxy_objects import legacy_endpoints

    proxier, backend, _ = make()
    proxier.on_service_add(service("web", "10.96.0.10"))
    if use_legacy:
        proxier.on_endpoints_add(legacy_endpoints("web", ["10.244.1.2"]))
        proxier.on_services_synced()
        proxier.on_endpoints_synced()
    else:
        proxier.on_endpoint_slice_add(web_slice("10.244.1.2"))
        synced(proxier)
    await proxier.sync_proxy_rules()
    assert outcome(backend, "10.96.0.10", 80) == "10.244.1.2:8080"


async def test_node_marked_for_deletion_makes_healthz_fail() -> None:
    proxier, _, _ = make()
    node = {"metadata": {"name": "node1"}, "spec": {}}
    proxier.on_node_add(node)
    assert proxier.health is not None and proxier.health.healthz()[0] == 200
    tainted = {
        "metadata": {"name": "node1"},
        "spec": {"taints": [{"key": "ToBeDeletedByClusterAutoscaler", "effect": "NoSchedule"}]},
    }
    proxier.on_node_update(node, tainted)
    assert proxier.health.healthz()[0] == 503
    assert proxier.health.livez()[0] == 200
