"""RuleSet bookkeeping and its restore text (subsets for partial syncs, stale chains)."""

from __future__ import annotations

import pytest
from kproxy_scenarios import overall, spn

from kproxy.iptables.model import RuleSet
from kproxy.rules.parse import ChainDecl, parse_restore


def _chains_written(text: str, table: str) -> list[str]:
    for block in parse_restore(text):
        if block.table == table:
            return [op.chain for op in block.ops if isinstance(op, ChainDecl)]
    return []


def test_full_text_declares_every_chain_once() -> None:
    rs = overall().render()
    text = rs.to_restore_text()
    for table in ("filter", "nat"):
        declared = _chains_written(text, table)
        assert declared == rs.chains(table)
        assert len(set(declared)) == len(declared)
    assert text.index("*filter") < text.index("*nat")
    assert text.endswith("COMMIT\n")


def test_partial_text_keeps_top_level_and_selected_chains_only() -> None:
    rs = overall().render()
    svc4 = rs.chains_of([spn("ns4", "svc4")])
    assert svc4 == {
        "KUBE-SVC-4SW47YFZTEDKD3PK",
        "KUBE-EXT-4SW47YFZTEDKD3PK",
        "KUBE-SEP-UKSFD7AGPMPPLUHC",
        "KUBE-SEP-C6EBXVWJJZMIWKLZ",
    }
    nat = _chains_written(rs.to_restore_text(chains=svc4), "nat")
    top_level = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    assert nat[:4] == top_level
    assert set(nat[4:]) == svc4
    # Filter has no per-service chains: it is always written whole.
    assert _chains_written(rs.to_restore_text(chains=set()), "filter") == rs.chains("filter")


def test_stale_chains_are_flushed_then_deleted_after_all_rules() -> None:
    rs = overall().render()
    text = rs.to_restore_text(chains=set(), stale={"nat": ["KUBE-SEP-OLDOLDOLDOLDOLDO"]})
    lines = text.splitlines()
    decl = lines.index(":KUBE-SEP-OLDOLDOLDOLDOLDO - [0:0]")
    delete = lines.index("-X KUBE-SEP-OLDOLDOLDOLDOLDO")
    last_rule = max(i for i, line in enumerate(lines) if line.startswith("-A "))
    assert decl < delete and delete > last_rule


@pytest.mark.parametrize(
    ("stale", "message"),
    [
        pytest.param({"nat": ["KUBE-SERVICES"]}, "not a kproxy service chain", id="top-level"),
        pytest.param({"nat": ["DOCKER"]}, "not a kproxy service chain", id="foreign"),
        pytest.param(
            {"nat": ["KUBE-SVC-XPGD46QRK7WJZT7O"]}, "both stale and part", id="still-in-use"
        ),
    ],
)
def test_stale_chain_validation(stale: dict[str, list[str]], message: str) -> None:
    rs = overall().render()
    with pytest.raises(ValueError, match=message):
        rs.to_restore_text(stale=stale)


def test_rule_set_basics() -> None:
    rs = RuleSet()
    rs.chain("nat", "KUBE-X").append("-j RETURN")
    rs.chain("nat", "KUBE-X").append("-j ACCEPT")
    rs.chain("filter", "KUBE-Y")
    assert rs.tables == ["filter", "nat"]
    assert rs.rules("nat", "KUBE-X") == ("-j RETURN", "-j ACCEPT")
    assert rs.rule_count("nat") == 2 and rs.rule_count("raw") == 0
    with pytest.raises(KeyError):
        rs.rules("nat", "KUBE-Z")
    assert rs.to_restore_text() == (
        "*filter\n:KUBE-Y - [0:0]\nCOMMIT\n*nat\n:KUBE-X - [0:0]\n"
        "-A KUBE-X -j RETURN\n-A KUBE-X -j ACCEPT\nCOMMIT\n"
    )
