"""nftables mode's view and diff (kproxy.nftables.ruleset): which operations a change costs."""

from __future__ import annotations

from knet.netlink.nftables import Chain, Element, NftSet, Op, Rule, Verdict, counter
from kproxy.nftables.ruleset import Fragment, View, apply_to_view, plan_changes


def frag(chain: str, n_rules: int, eps: dict[int, bytes], shared: tuple[bytes, ...]) -> Fragment:
    rules = tuple(Rule(chain, (counter(),) * (i + 1)) for i in range(n_rules))
    elements = [Element("eps-" + chain, k.to_bytes(4, "little"), v) for k, v in eps.items()]
    elements += [Element("hairpin", s) for s in shared]
    elements.append(Element("service-ips", chain.encode(), Verdict(-4, chain)))
    return Fragment(
        ((Chain(chain), rules),), (NftSet("eps-" + chain, 4, 4, 1, 8),), tuple(elements)
    )


def committed(changes: dict[str, Fragment | None], view: View | None = None) -> View:
    view = view or View()
    apply_to_view(view, changes, plan_changes(view, changes))  # type: ignore[arg-type]
    return view


def verbs(ops: list[Op]) -> list[tuple[str, str]]:
    out = []
    for op in ops:
        obj = op.obj
        name = obj[0] if isinstance(obj, tuple) else getattr(obj, "name", getattr(obj, "chain", ""))
        out.append((op.verb, f"{type(obj).__name__}:{name}"))
    return out


def test_a_new_fragment_adds_sets_and_chains_before_rules_and_elements() -> None:
    ops = plan_changes(View(), {"a": frag("a", 2, {0: b"x" * 8}, (b"h1",))}).ops()
    assert verbs(ops) == [
        ("add", "NftSet:eps-a"),
        ("add", "Chain:a"),
        ("add", "Rule:a"),
        ("add", "Rule:a"),
        ("add", "tuple:eps-a"),
        ("add", "tuple:hairpin"),
        ("add", "tuple:service-ips"),
    ]


def test_an_endpoint_swap_is_element_changes_only() -> None:
    view = committed({"a": frag("a", 1, {0: b"1" * 8, 1: b"2" * 8}, (b"h1", b"h2"))})
    plan = plan_changes(view, {"a": frag("a", 1, {0: b"1" * 8, 1: b"3" * 8}, (b"h1", b"h3"))})
    ops = verbs(plan.ops())
    assert set(ops[:2]) == {("delete", "tuple:eps-a"), ("delete", "tuple:hairpin")}
    assert set(ops[2:]) == {("add", "tuple:eps-a"), ("add", "tuple:hairpin")} and len(ops) == 4
    added = {o.obj[0]: o.obj[1] for o in plan.ops() if o.verb == "add" and isinstance(o.obj, tuple)}
    assert plan.ops()[0].verb == "delete"
    # A delete names the key only; the map's value goes in the add.
    assert [o.obj for o in plan.ops() if o.verb == "delete" and o.obj[0] == "eps-a"] == [
        ("eps-a", (Element("eps-a", b"\1\0\0\0"),))
    ]
    assert added["eps-a"] == (Element("eps-a", b"\1\0\0\0", b"3" * 8),)


def test_changed_rules_flush_and_rewrite_the_chain() -> None:
    view = committed({"a": frag("a", 1, {}, ())})
    ops = plan_changes(view, {"a": frag("a", 2, {}, ())}).ops()
    assert verbs(ops) == [("flush", "Chain:a"), ("add", "Rule:a"), ("add", "Rule:a")]


def test_removal_deletes_references_before_the_chain_and_the_set() -> None:
    view = committed({"a": frag("a", 1, {0: b"1" * 8}, (b"h1",))})
    ops = plan_changes(view, {"a": None}).ops()
    # The set's own elements go with the set; the shared ones are deleted first.
    assert verbs(ops) == [
        ("delete", "tuple:hairpin"),
        ("delete", "tuple:service-ips"),
        ("flush", "Chain:a"),
        ("delete", "Chain:a"),
        ("delete", "NftSet:eps-a"),
    ]


def test_shared_elements_are_reference_counted() -> None:
    view = committed({"a": frag("a", 1, {}, (b"h1",)), "b": frag("b", 1, {}, (b"h1",))})
    ops = plan_changes(view, {"a": None}).ops()
    assert ("delete", "tuple:hairpin") not in verbs(ops)
    view = committed({"a": None}, view)
    assert ("delete", "tuple:hairpin") in verbs(plan_changes(view, {"b": None}).ops())


def test_no_change_costs_nothing() -> None:
    f = frag("a", 2, {0: b"1" * 8}, (b"h1",))
    view = committed({"a": f})
    assert plan_changes(view, {"a": f}).ops() == []
    assert view.rules_of("a") == 2 and view.rules_of("zz") is None
