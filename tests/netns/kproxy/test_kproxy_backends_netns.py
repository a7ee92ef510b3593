"""Each backend against the real kernel, in a scratch namespace.

Restore a rendered rule set, read it back with iptables-save, and check it is all there and
routes packets as the rendered text says; a partial restore must touch only the chains it
names; a bad restore must change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from kproxy_netns_backends import BACKENDS, BackendFactory
from kproxy_scenarios import NODE_IP, NODE_IPS, POD, Scenario, ep, overall, spn

from kproxy.backend.base import BackendError, RulesBackend
from kproxy.rules.jumps import JUMP_RULES
from kproxy.rules.names import is_owned_chain
from kproxy.rules.parse import Dump, parse_dump
from kproxy.rules.trace import trace_packet
from kproxy.servicemodel import ServicePortInfo

pytestmark = pytest.mark.root


def _saved(backend: RulesBackend) -> Dump:
    return parse_dump(backend.save("filter") + backend.save("nat"))


def _rules(dump: Dump, table: str) -> dict[str, list[tuple[str, ...]]]:
    t = dump.tables[table]
    return {name: [r.args for r in c.rules] for name, c in t.chains.items()}


def _install(backend: RulesBackend, text: str) -> None:
    backend.restore(text)
    for jump in JUMP_RULES:
        backend.ensure_chain(jump.table, jump.target_chain)
        backend.ensure_rule(jump.position, jump.table, jump.source_chain, jump.args())


def test_restore_then_save_has_every_chain_and_rule(
    backend_factory: BackendFactory, scratch_ns: str
) -> None:
    backend = backend_factory(scratch_ns)
    rendered = overall().render()
    _install(backend, rendered.to_restore_text())
    dump = _saved(backend)
    for table in ("filter", "nat"):
        for chain in rendered.chains(table):
            c = dump.chain(table, chain)
            assert c is not None, f"{table}/{chain} missing"
            assert len(c.rules) == len(rendered.rules(table, chain)), chain
    jumps_per_table = {"nat": 3, "filter": 9}
    for table, extra in jumps_per_table.items():
        assert dump.rule_count(table) == rendered.rule_count(table) + extra
    # What the kernel holds routes the same way the rendered text does.
    flows = [
        (POD, "172.30.0.44", 80, "10.180.0.4:80, 10.180.0.5:80", False),
        ("10.180.0.1", "172.30.0.41", 80, "10.180.0.1:80", True),
        (POD, "172.30.0.46", 80, "REJECT", False),
        ("203.0.113.2", NODE_IP, 3003, "10.180.0.3:80", True),
    ]
    for src, dst, port, outcome, masq in flows:
        trace = trace_packet(
            dump,
            src_ip=src,
            dst_ip=dst,
            protocol="tcp",
            dst_port=port,
            node_ips=NODE_IPS,
            assume_jumps=False,
        )
        assert (trace.outcome, trace.masquerade) == (outcome, masq), trace.describe(True)


def test_backends_store_identical_rules(make_netns: Callable[[str], str]) -> None:
    """The same text through every backend leaves the same rules in the kernel."""
    text = overall().render().to_restore_text()
    dumps = []
    for name in ("restore-legacy", "python-iptables", "restore-nft"):
        ns = make_netns(name.replace("-", ""))
        backend = BACKENDS[name](ns)
        _install(backend, text)
        dumps.append(_saved(backend))
    legacy, iptc, nft = dumps
    for table in ("filter", "nat"):
        assert _rules(iptc, table) == _rules(legacy, table)
        assert _rules(nft, table) == _rules(legacy, table)


def test_partial_restore_changes_only_named_chains(
    backend_factory: BackendFactory, scratch_ns: str
) -> None:
    backend = backend_factory(scratch_ns)
    before_set = overall()
    _install(backend, before_set.render().to_restore_text())
    before = _saved(backend)

    after_set = overall()
    svc4 = spn("ns4", "svc4")
    after_set.endpoints[svc4] = [ep("10.180.0.4"), ep("10.180.0.6")]  # 10.180.0.5 replaced
    svc1 = spn("ns1", "svc1")
    after_set.endpoints[svc1] = [ep("10.180.0.9")]  # changed too, but left out on purpose
    rendered = after_set.render()
    old_chains = before_set.render().chains_of([svc4])
    new_chains = rendered.chains_of([svc4])
    stale = sorted(old_chains - new_chains)
    assert stale, "the replaced endpoint's SEP chain should be stale"
    backend.restore(rendered.to_restore_text(chains=new_chains, stale={"nat": stale}))
    after = _saved(backend)

    before_nat, after_nat = _rules(before, "nat"), _rules(after, "nat")
    for chain in stale:
        assert chain not in after_nat
    for chain, rules in before_nat.items():
        if is_owned_chain(chain) and chain not in old_chains:
            assert after_nat[chain] == rules, f"{chain} was not named but changed"
    trace = trace_packet(
        after,
        src_ip=POD,
        dst_ip="172.30.0.44",
        protocol="tcp",
        dst_port=80,
        node_ips=NODE_IPS,
        assume_jumps=False,
    )
    assert trace.outcome == "10.180.0.4:80, 10.180.0.6:80"
    # svc1's new endpoint was not written: the kernel still has the old one.
    trace = trace_packet(
        after,
        src_ip=POD,
        dst_ip="172.30.0.41",
        protocol="tcp",
        dst_port=80,
        node_ips=NODE_IPS,
        assume_jumps=False,
    )
    assert trace.outcome == "10.180.0.1:80"


def test_bad_restore_changes_nothing(backend_factory: BackendFactory, scratch_ns: str) -> None:
    backend = backend_factory(scratch_ns)
    _install(backend, overall().render().to_restore_text())
    before = (backend.save("filter"), backend.save("nat"))
    bad = (
        "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]\n"
        "-A KUBE-SERVICES -j KUBE-SVC-XPGD46QRK7WJZT7O\n"
        "-A KUBE-SVC-XPGD46QRK7WJZT7O -j KUBE-SEP-DOESNOTEXIST0000\nCOMMIT\n"
    )
    with pytest.raises(BackendError) as err:
        backend.restore(bad)
    # Legacy fails on the rule's line; nf_tables validates jumps when the batch commits.
    assert err.value.line in (5, 6), str(err.value)
    assert "KUBE-SEP-DOESNOTEXIST0000" in str(err.value)
    after = (backend.save("filter"), backend.save("nat"))
    assert [_without_comments(t) for t in after] == [_without_comments(t) for t in before]


def _without_comments(text: str) -> list[str]:
    # iptables-save's "# Generated by ... on <time>" lines differ between calls.
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_jump_rule_management(backend_factory: BackendFactory, scratch_ns: str) -> None:
    backend = backend_factory(scratch_ns)
    assert backend.ensure_chain("nat", "KUBE-SERVICES") is False
    assert backend.ensure_chain("nat", "KUBE-SERVICES") is True
    jump = next(j for j in JUMP_RULES if j.source_chain == "PREROUTING")
    assert backend.ensure_rule("-I", "nat", "PREROUTING", jump.args()) is False
    assert backend.ensure_rule("-I", "nat", "PREROUTING", jump.args()) is True
    prerouting = parse_dump(backend.save("nat")).chain("nat", "PREROUTING")
    assert prerouting is not None and len(prerouting.rules) == 1
    assert backend.delete_rule("nat", "PREROUTING", jump.args()) is True
    assert backend.delete_rule("nat", "PREROUTING", jump.args()) is False
    assert backend.delete_chain("nat", "KUBE-SERVICES") is True
    assert backend.delete_chain("nat", "KUBE-SERVICES") is False
    assert backend.has_random_fully() is True


def test_random_fully_and_masquerade_all_are_accepted(
    backend_factory: BackendFactory, scratch_ns: str
) -> None:
    s = Scenario(
        config=replace(Scenario().config, masquerade_all=True, masquerade_random_fully=True)
    )
    s.add(spn("ns1", "svc1"), ServicePortInfo("172.30.0.41", 80), [ep("10.180.0.1")])
    backend = backend_factory(scratch_ns)
    backend.restore(s.render().to_restore_text())
    assert "--random-fully" in backend.save("nat")
