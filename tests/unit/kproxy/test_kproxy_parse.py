"""Parsing iptables-restore input and real iptables-save output.

data/overall_{legacy,nft}.save are what iptables-legacy-save and iptables-nft-save (1.8.9)
printed after the "overall" scenario was restored into a scratch namespace together with the
jump rules: real-world spellings such as ``--set-xmark 0x4000/0x4000``, ``-s 10.180.0.1/32``,
``-p tcp`` moved before ``-m tcp``, ``--probability 0.50000000000`` and quoted comments.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kproxy_scenarios import overall

from kproxy.rules.parse import (
    ChainDecl,
    ChainOp,
    ParseError,
    RuleOp,
    chains_in,
    join_args,
    parse_dump,
    parse_restore,
    parse_rule,
    tokenize,
)

DATA = Path(__file__).parent / "data"
SAVES = sorted(DATA.glob("overall_*.save"))


@pytest.mark.parametrize(
    ("line", "words"),
    [
        pytest.param("-j ACCEPT", ["-j", "ACCEPT"], id="plain"),
        pytest.param(
            '-m comment --comment "a b" -j X',
            ["-m", "comment", "--comment", "a b", "-j", "X"],
            id="quoted",
        ),
        pytest.param('--comment "say \\"hi\\""', ["--comment", 'say "hi"'], id="escaped-quote"),
        pytest.param('--comment ""', ["--comment", ""], id="empty-quoted"),
        pytest.param('--comment ab"c d"', ["--comment", "abc d"], id="quote-mid-word"),
    ],
)
def test_tokenize(line: str, words: list[str]) -> None:
    assert tokenize(line) == words


def test_tokenize_rejects_unterminated_quote() -> None:
    with pytest.raises(ParseError):
        tokenize('--comment "oops')


def test_join_args_round_trips() -> None:
    words = ["-m", "comment", "--comment", 'with "quotes" and spaces', "-j", "KUBE-X"]
    assert tokenize(join_args(words)) == words


def test_parse_restore_operations() -> None:
    text = (
        "# comment\n*nat\n:PREROUTING ACCEPT [3:180]\n:KUBE-X - [0:0]\n"
        "[5:300] -A KUBE-X -j RETURN\n-I PREROUTING 1 -j KUBE-X\n-D KUBE-X 1\n"
        "-X KUBE-OLD\n-F\n-P PREROUTING DROP\nCOMMIT\n"
    )
    (block,) = parse_restore(text)
    assert block.table == "nat"
    decl, decl2, append, insert, delete, remove, flush, policy = block.ops
    assert decl == ChainDecl("PREROUTING", "ACCEPT", 3, 180, 3)
    assert isinstance(decl2, ChainDecl) and decl2.policy == "-"
    assert isinstance(append, RuleOp) and append.counters == (5, 300)
    assert append.args == ("-j", "RETURN") and append.line == 5
    assert isinstance(insert, RuleOp) and insert.position == 1 and insert.args == ("-j", "KUBE-X")
    assert isinstance(delete, RuleOp) and delete.position == 1 and delete.args == ()
    assert remove == ChainOp("-X", "KUBE-OLD", 8)
    assert flush == ChainOp("-F", None, 9)
    assert policy == ChainOp("-P", "PREROUTING", 10, policy="DROP")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("-A X -j ACCEPT\n", 1, id="rule-outside-table"),
        pytest.param("*nat\n:X - [0:0]\n", 1, id="missing-commit"),
        pytest.param("*nat\n*filter\nCOMMIT\n", 2, id="nested-table"),
        pytest.param("*nat\n:X - [zero]\nCOMMIT\n", 2, id="bad-counters"),
        pytest.param("*nat\n-Q X\nCOMMIT\n", 2, id="unknown-command"),
        pytest.param("*nat\n-R X -j ACCEPT\nCOMMIT\n", 2, id="replace-without-number"),
    ],
)
def test_parse_restore_errors_carry_the_line(text: str, line: int) -> None:
    with pytest.raises(ParseError) as err:
        parse_restore(text)
    assert err.value.line == line


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in SAVES])
def test_real_save_output_parses_and_round_trips(path: Path) -> None:
    text = path.read_text()
    dump = parse_dump(text)
    rendered = overall().render()
    # Everything kproxy wrote is there, plus the jumps in the built-in chains.
    for table in ("filter", "nat"):
        for chain in rendered.chains(table):
            c = dump.chain(table, chain)
            assert c is not None and len(c.rules) == len(rendered.rules(table, chain)), chain
    assert dump.rule_count("nat") == rendered.rule_count("nat") + 3
    assert dump.rule_count("filter") == rendered.rule_count("filter") + 9
    again = parse_dump(dump.to_text())
    assert again == dump
    assert chains_in(text, "nat") == set(dump.tables["nat"].chains)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in SAVES])
def test_real_save_spellings_are_understood(path: Path) -> None:
    dump = parse_dump(path.read_text())
    mark = dump.chain("nat", "KUBE-MARK-MASQ")
    assert mark is not None
    spec = parse_rule(mark.rules[0].args)
    assert spec.target == "MARK"
    xmark = spec.target_option("--set-xmark")
    assert xmark is not None and xmark.value == "0x4000/0x4000"

    svc = dump.chain("nat", "KUBE-SVC-4SW47YFZTEDKD3PK")
    assert svc is not None
    masq, first, _last = (parse_rule(r.args) for r in svc.rules)
    assert masq.source is not None and masq.source.negated and masq.source.value == "10.0.0.0/8"
    assert masq.destination is not None and masq.destination.value == "172.30.0.44/32"
    tcp = masq.match("tcp")
    assert tcp is not None and tcp.option("--dport") is not None
    comment = masq.match("comment")
    assert comment is not None and comment.options[0].value == "ns4/svc4:p80 cluster IP"
    statistic = first.match("statistic")
    assert statistic is not None
    probability = statistic.option("--probability")
    assert probability is not None and probability.value == "0.50000000000"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        pytest.param(["-j"], "needs a target", id="jump-without-target"),
        pytest.param(["--dport", "80"], "before any -m", id="option-without-module"),
        pytest.param(["-s"], "needs a value", id="source-without-value"),
        pytest.param(["!"], "dangling", id="dangling-bang"),
        pytest.param(["garbage"], "unexpected word", id="stray-word"),
    ],
)
def test_parse_rule_errors(args: list[str], problem: str) -> None:
    with pytest.raises(ParseError, match=problem):
        parse_rule(args)


def test_parse_rule_implicit_protocol_module_and_negations() -> None:
    spec = parse_rule(
        ["-p", "tcp", "--dport", "80", "-m", "mark", "!", "--mark", "0x4000/0x4000", "-g", "X"]
    )
    tcp = spec.match("tcp")
    assert tcp is not None and tcp.option("--dport") is not None
    mark = spec.match("mark")
    assert mark is not None and mark.options[0].negated
    assert spec.target == "X" and spec.goto


def test_parse_dump_refuses_non_dump_operations() -> None:
    with pytest.raises(ParseError, match="not part of a dump"):
        parse_dump("*nat\n:X - [0:0]\n-X X\nCOMMIT\n")
    with pytest.raises(ParseError, match="undeclared chain"):
        parse_dump("*nat\n-A X -j ACCEPT\nCOMMIT\n")
