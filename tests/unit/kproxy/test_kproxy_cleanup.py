"""--cleanup removes kproxy's rules and chains and leaves everything else alone."""

from __future__ import annotations

from kproxy_scenarios import overall

from kproxy.backend.fake import FakeBackend
from kproxy.cleanup import cleanup_text, remove_owned
from kproxy.iptables.mode import IPTABLES_RULES
from kproxy.kernelstate import scan_save
from kproxy.rules.jumps import CANARY_CHAIN, CANARY_TABLES, JUMP_RULES

FOREIGN = """*filter
:KUBE-FIREWALL - [0:0]
:MY-CHAIN - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -s 198.51.100.0/24 -j MY-CHAIN
-A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP
-A MY-CHAIN -j ACCEPT
COMMIT
*nat
:KUBE-KUBELET-CANARY - [0:0]
:MY-NAT - [0:0]
-A POSTROUTING -s 10.99.0.0/16 -j MY-NAT
-A MY-NAT -j MASQUERADE
COMMIT
"""


def _installed() -> FakeBackend:
    backend = FakeBackend()
    backend.restore(FOREIGN)
    backend.restore(overall().render().to_restore_text())
    for jump in JUMP_RULES:
        backend.ensure_chain(jump.table, jump.target_chain)
        backend.ensure_rule(jump.position, jump.table, jump.source_chain, jump.args())
    for table in CANARY_TABLES:
        backend.ensure_chain(table, CANARY_CHAIN)
    return backend


def test_cleanup_leaves_exactly_the_foreign_rules() -> None:
    backend = _installed()
    report = remove_owned(backend, IPTABLES_RULES)
    assert report.errors == []
    assert report.jump_rules_removed == len(JUMP_RULES)
    after = FakeBackend()
    after.restore(FOREIGN)
    for table in ("filter", "nat", "mangle"):
        assert backend.save(table) == after.save(table), table


def test_cleanup_is_idempotent() -> None:
    backend = _installed()
    remove_owned(backend, IPTABLES_RULES)
    report = remove_owned(backend, IPTABLES_RULES)
    assert report.errors == [] and report.jump_rules_removed == 0
    assert report.chains_removed == {}


def test_a_foreign_reference_blocks_only_that_table() -> None:
    backend = _installed()
    backend.restore("*nat\n:MY-REF - [0:0]\n-A MY-REF -j KUBE-MARK-MASQ\nCOMMIT\n")
    report = remove_owned(backend, IPTABLES_RULES)
    assert len(report.errors) == 1 and report.errors[0].startswith("nat:")
    assert "filter" in report.chains_removed
    assert "KUBE-MARK-MASQ" in backend.save("nat")  # nat left whole, as it was


def test_ownership() -> None:
    assert IPTABLES_RULES.owns("nat", "KUBE-SVC-ABCDEFGHIJKLMNOP")
    assert IPTABLES_RULES.owns("filter", "KUBE-PROXY-FIREWALL")
    assert not IPTABLES_RULES.owns("filter", "KUBE-FIREWALL")  # kubelet's
    assert not IPTABLES_RULES.owns("nat", "KUBE-KUBELET-CANARY")
    saved = scan_save("*nat\n:MY-NAT - [0:0]\nCOMMIT\n", "nat")
    assert cleanup_text({"nat": saved}, IPTABLES_RULES.owns) == ""
