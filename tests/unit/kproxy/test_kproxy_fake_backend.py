"""FakeBackend applies restore input like iptables-restore and refuses what the kernel would."""

from __future__ import annotations

import pytest
from kproxy_scenarios import overall, spn

from kproxy.backend.base import BackendError, RulesBackend
from kproxy.backend.fake import FakeBackend
from kproxy.rules.jumps import JUMP_RULES
from kproxy.rules.parse import parse_dump

BASE = "*nat\n:KUBE-A - [0:0]\n:KUBE-B - [0:0]\n-A KUBE-A -j KUBE-B\n-A KUBE-B -j RETURN\nCOMMIT\n"


def _rules(fake: FakeBackend, table: str, chain: str) -> list[str]:
    c = fake.dump.chain(table, chain)
    assert c is not None, f"{table}/{chain} missing"
    return [r.raw for r in c.rules]


def test_is_a_rules_backend() -> None:
    assert isinstance(FakeBackend(), RulesBackend)


def test_restore_creates_chains_and_rules() -> None:
    fake = FakeBackend()
    fake.restore(BASE)
    assert _rules(fake, "nat", "KUBE-A") == ["-j KUBE-B"]
    assert _rules(fake, "nat", "PREROUTING") == []  # built-ins exist once the table does
    assert fake.restores == [BASE]


def test_noflush_replaces_only_the_chains_named() -> None:
    fake = FakeBackend()
    fake.restore(BASE)
    fake.restore("*nat\n:KUBE-B - [0:0]\n-A KUBE-B -j ACCEPT\nCOMMIT\n")
    assert _rules(fake, "nat", "KUBE-B") == ["-j ACCEPT"]
    assert _rules(fake, "nat", "KUBE-A") == ["-j KUBE-B"]  # not mentioned: untouched


def test_noflush_does_not_flush_builtin_chains() -> None:
    fake = FakeBackend()
    fake.restore(BASE + "*nat\n-A PREROUTING -j KUBE-A\nCOMMIT\n")
    fake.restore("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j KUBE-B\nCOMMIT\n")
    assert _rules(fake, "nat", "PREROUTING") == ["-j KUBE-A", "-j KUBE-B"]


def test_without_noflush_the_table_is_replaced() -> None:
    fake = FakeBackend()
    fake.restore(BASE)
    fake.restore("*nat\n:KUBE-C - [0:0]\nCOMMIT\n", noflush=False)
    assert set(fake.dump.tables["nat"].chains) == {
        "PREROUTING",
        "INPUT",
        "OUTPUT",
        "POSTROUTING",
        "KUBE-C",
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            "*nat\n:KUBE-X - [0:0]\n-A KUBE-X -j KUBE-NOPE\nCOMMIT\n",
            "non-existent chain KUBE-NOPE",
            id="dangling-jump",
        ),
        pytest.param(
            "*nat\n-A KUBE-NOPE -j RETURN\nCOMMIT\n",
            "does not exist",
            id="rule-in-undeclared-chain",
        ),
        pytest.param(
            "*nat\n:KUBE-B - [0:0]\n-X KUBE-B\nCOMMIT\n",
            "Too many links",
            id="delete-referenced-chain",
        ),
        pytest.param("*nat\n-X KUBE-A\nCOMMIT\n", "Directory not empty", id="delete-non-empty"),
        pytest.param("*nat\n-X PREROUTING\nCOMMIT\n", "built-in", id="delete-builtin"),
        pytest.param("*bogus\nCOMMIT\n", "Table does not exist", id="unknown-table"),
        pytest.param("*nat\n:KUBE-Y ACCEPT [0:0]\nCOMMIT\n", "policy", id="policy-on-user-chain"),
        pytest.param(
            "*nat\n:KUBE-Y - [0:0]\n-A KUBE-Y -j DROP\nCOMMIT\n",
            "not allowed in the nat",
            id="drop-in-nat",
        ),
        pytest.param(
            "*filter\n:KUBE-Y - [0:0]\n-A KUBE-Y -j DNAT --to-destination 1.1.1.1\nCOMMIT\n",
            "only valid in the nat",
            id="dnat-in-filter",
        ),
        pytest.param(
            "*nat\n:KUBE-SVC-ABCDEFGHIJKLMNOPQRSTU - [0:0]\nCOMMIT\n",
            "characters",
            id="name-too-long",
        ),
        pytest.param("*nat\n-N KUBE-A\nCOMMIT\n", "already exists", id="create-existing"),
        pytest.param("*nat\n-D KUBE-A -j ACCEPT\nCOMMIT\n", "no such rule", id="delete-missing"),
        pytest.param("*nat\n:KUBE-X - [0:0]\n", "COMMIT expected", id="no-commit"),
        pytest.param(
            "*nat\n:KUBE-X - [0:0]\n-A KUBE-X -j PREROUTING\nCOMMIT\n",
            "built-in chain",
            id="jump-to-builtin",
        ),
    ],
)
def test_invalid_input_is_refused_and_nothing_changes(text: str, problem: str) -> None:
    fake = FakeBackend()
    fake.restore(BASE)
    before = fake.dump.tables["nat"].chains.copy()
    before_rules = {name: list(c.rules) for name, c in before.items()}
    # A good first table in the same input must not be applied either.
    with pytest.raises(BackendError, match=problem) as err:
        fake.restore("*filter\n:KUBE-OK - [0:0]\nCOMMIT\n" + text)
    assert err.value.line is not None
    assert {n: list(c.rules) for n, c in fake.dump.tables["nat"].chains.items()} == before_rules
    assert "filter" not in fake.dump.tables
    assert fake.restores == [BASE]


def test_stale_chain_deletion_in_one_restore() -> None:
    fake = FakeBackend()
    fake.restore(BASE)
    fake.restore("*nat\n:KUBE-A - [0:0]\n:KUBE-B - [0:0]\n-X KUBE-B\nCOMMIT\n")
    assert fake.dump.chain("nat", "KUBE-B") is None
    assert _rules(fake, "nat", "KUBE-A") == []


def test_rendered_rules_and_partial_updates_apply() -> None:
    fake = FakeBackend()
    rs = overall().render()
    fake.restore(rs.to_restore_text())
    assert fake.dump.rule_count("nat") == rs.rule_count("nat")
    # Partial text: only ns4/svc4's chains plus the top-level ones, one stale chain removed.
    fake.restore("*nat\n:KUBE-SEP-ZZZZZZZZZZZZZZZZ - [0:0]\nCOMMIT\n")
    changed = rs.chains_of([spn("ns4", "svc4")])
    fake.restore(rs.to_restore_text(chains=changed, stale={"nat": ["KUBE-SEP-ZZZZZZZZZZZZZZZZ"]}))
    assert fake.dump.chain("nat", "KUBE-SEP-ZZZZZZZZZZZZZZZZ") is None
    assert fake.dump.rule_count("nat") == rs.rule_count("nat")


def test_save_is_iptables_save_shaped() -> None:
    fake = FakeBackend()
    fake.restore(BASE)
    text = fake.save("nat")
    assert text.startswith("*nat\n:PREROUTING ACCEPT [0:0]\n")
    dump = parse_dump(text)
    assert list(dump.tables["nat"].chains)[-2:] == ["KUBE-A", "KUBE-B"]
    with pytest.raises(BackendError):
        fake.save("bogus")


def test_jump_rules_are_idempotent() -> None:
    fake = FakeBackend()
    fake.restore(overall().render().to_restore_text())
    for jump in JUMP_RULES:
        assert fake.ensure_chain(jump.table, jump.target_chain) is True
        assert fake.ensure_rule(jump.position, jump.table, jump.source_chain, jump.args()) is False
    for jump in JUMP_RULES:
        assert fake.ensure_rule(jump.position, jump.table, jump.source_chain, jump.args()) is True
    assert _rules(fake, "nat", "PREROUTING") == [
        '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
    ]
    jump = JUMP_RULES[-1]
    assert fake.delete_rule(jump.table, jump.source_chain, jump.args()) is True
    assert fake.delete_rule(jump.table, jump.source_chain, jump.args()) is False


def test_ensure_rule_refuses_dangling_jump() -> None:
    fake = FakeBackend()
    with pytest.raises(BackendError, match="non-existent chain"):
        fake.ensure_rule("-I", "nat", "PREROUTING", ["-j", "KUBE-SERVICES"])


def test_delete_chain() -> None:
    fake = FakeBackend()
    fake.restore(BASE)
    fake.restore("*nat\n:KUBE-B - [0:0]\nCOMMIT\n")  # empties B; A still jumps to it
    with pytest.raises(BackendError, match="Too many links"):
        fake.delete_chain("nat", "KUBE-B")
    fake.restore("*nat\n:KUBE-A - [0:0]\nCOMMIT\n")
    assert fake.delete_chain("nat", "KUBE-B") is True
    assert fake.delete_chain("nat", "KUBE-B") is False


def test_injected_failure_changes_nothing() -> None:
    fake = FakeBackend(random_fully=False)
    assert fake.has_random_fully() is False
    fake.fail_next_restore("boom")
    with pytest.raises(BackendError, match="boom"):
        fake.restore(BASE)
    assert fake.dump.tables == {}
    fake.restore(BASE)
    assert fake.restores == [BASE]
