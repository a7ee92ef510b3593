"""What kproxy wants in its nf_tables table, in pieces, and the operations between two states.

The table is a set of *fragments*: one for the table's fixed skeleton and one per service
port. A fragment owns its chains (with their rules) and its sets, and contributes elements to
any set (its own endpoint map, or shared maps such as ``service-ips``). Shared elements are
reference-counted: two Services with the same endpoint both add ``ep . ep`` to the hairpin set,
and it goes only when the last one does.

``plan`` compares old and new fragments of the keys that changed and returns the operations in
an order the kernel accepts inside one transaction: new sets and chains first, references
removed before what they point to is deleted. Everything here is pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from knet.netlink.nftables import Chain, Element, NftSet, Op, Rule, Table, Verdict

ElemKey = tuple[str, bytes]  # (set name, key)
# Elements per message: a netlink attribute holds at most 64 KiB (a verdict element ~60 bytes).
ELEMENTS_PER_MESSAGE = 512
ElemValue = bytes | Verdict | None


@dataclass(frozen=True)
class Fragment:
    chains: tuple[tuple[Chain, tuple[Rule, ...]], ...] = ()
    sets: tuple[NftSet, ...] = ()
    elements: tuple[Element, ...] = ()


class _Gone:
    """Marks an element value the plan removes."""


GONE = _Gone()


@dataclass
class Plan:
    """Operations by phase; ``ops()`` flattens them in the order the kernel needs."""

    add_sets: list[NftSet] = field(default_factory=list)
    add_chains: list[Chain] = field(default_factory=list)
    del_elems: dict[str, list[Element]] = field(default_factory=dict)
    flush_chains: list[Chain] = field(default_factory=list)
    add_rules: list[Rule] = field(default_factory=list)
    add_elems: dict[str, list[Element]] = field(default_factory=dict)
    del_chains: list[Chain] = field(default_factory=list)
    del_sets: list[NftSet] = field(default_factory=list)
    # The element reference counts and values this plan changes (applied on commit).
    refs: dict[ElemKey, int] = field(default_factory=dict)
    values: dict[ElemKey, ElemValue | _Gone] = field(default_factory=dict)

    def ops(self) -> list[Op]:
        out = [Op("add", s) for s in self.add_sets]
        out += [Op("add", c) for c in self.add_chains]
        # A delete names keys only: the kernel matches elements by key.
        for name, elems in self.del_elems.items():
            keys = [Element(x.set, x.key) for x in elems]
            out += [Op("delete", (name, chunk)) for chunk in _chunks(keys)]
        out += [Op("flush", c) for c in self.flush_chains]
        out += [Op("add", r) for r in self.add_rules]
        for name, elems in self.add_elems.items():
            out += [Op("add", (name, chunk)) for chunk in _chunks(elems)]
        out += [Op("delete", c) for c in self.del_chains]
        out += [Op("delete", s) for s in self.del_sets]
        return out

    def __len__(self) -> int:
        return len(self.ops())


def _chunks(elems: list[Element]) -> list[tuple[Element, ...]]:
    n = ELEMENTS_PER_MESSAGE
    return [tuple(elems[i : i + n]) for i in range(0, len(elems), n)]


class View:
    """What the client wrote and the kernel accepted: fragments by key, element refcounts."""

    def __init__(self) -> None:
        self.fragments: dict[Hashable, Fragment] = {}
        self.refs: Counter[ElemKey] = Counter()
        self.values: dict[ElemKey, ElemValue] = {}

    def rules_of(self, chain: str) -> int | None:
        for frag in self.fragments.values():
            for c, rules in frag.chains:
                if c.name == chain:
                    return len(rules)
        return None


def full_ops(table: Table, plan: Plan) -> list[Op]:
    """Replace the whole table in one transaction: create it (so the delete cannot fail),
    delete it, and write ``plan`` (made against an empty View) anew."""
    return [Op("add", table), Op("delete", table), Op("add", table), *plan.ops()]


def plan_changes(view: View, changed: Mapping[Hashable, Fragment | None]) -> Plan:
    """Operations taking ``view`` to the new fragments of ``changed`` (None: removed).
    ``view`` is not modified; ``apply_to_view`` does that once the kernel said yes."""
    plan = Plan()
    for key, new in changed.items():
        old = view.fragments.get(key)
        _plan_structure(plan, old, new)
        _plan_elements(plan, view, old, new)
    return plan


def _plan_structure(plan: Plan, old: Fragment | None, new: Fragment | None) -> None:
    old_chains = dict(old.chains) if old else {}
    new_chains = dict(new.chains) if new else {}
    old_by_name = {c.name: c for c in old_chains}
    new_by_name = {c.name: c for c in new_chains}
    for chain, rules in new_chains.items():
        before = old_by_name.get(chain.name)
        if before is None:
            plan.add_chains.append(chain)
            plan.add_rules.extend(rules)
        elif old_chains[before] != rules or before != chain:
            plan.flush_chains.append(chain)
            plan.add_rules.extend(rules)
    for name, chain in old_by_name.items():
        if name not in new_by_name:
            plan.flush_chains.append(chain)
            plan.del_chains.append(chain)
    old_sets = {s.name: s for s in (old.sets if old else ())}
    new_sets = {s.name: s for s in (new.sets if new else ())}
    plan.add_sets.extend(s for n, s in new_sets.items() if n not in old_sets)
    plan.del_sets.extend(s for n, s in old_sets.items() if n not in new_sets)


def _elements(frag: Fragment | None) -> dict[ElemKey, Element]:
    return {(e.set, e.key): e for e in (frag.elements if frag else ())}


def _plan_elements(plan: Plan, view: View, old: Fragment | None, new: Fragment | None) -> None:
    """Element operations for one fragment; counts and values are read through the plan's
    own changes over the view, so a partial sync never copies the view (O(changed))."""

    def count(key: ElemKey) -> int:
        return plan.refs.get(key, view.refs.get(key, 0))

    def value(key: ElemKey) -> ElemValue | _Gone:
        return plan.values.get(key, view.values.get(key, GONE))

    before, after = _elements(old), _elements(new)
    dying_sets = {s.name for s in (old.sets if old else ())} - {
        s.name for s in (new.sets if new else ())
    }
    for key, elem in before.items():
        if key in after:
            continue
        plan.refs[key] = count(key) - 1
        if plan.refs[key] <= 0:
            plan.values[key] = GONE
            if elem.set not in dying_sets:  # deleting the set takes its elements
                plan.del_elems.setdefault(elem.set, []).append(elem)
    for key, elem in after.items():
        if key not in before:
            plan.refs[key] = count(key) + 1
            if plan.refs[key] == 1:
                plan.values[key] = elem.value
                plan.add_elems.setdefault(elem.set, []).append(elem)
                continue
        if value(key) != elem.value:  # a new value: replace the element
            plan.values[key] = elem.value
            plan.del_elems.setdefault(elem.set, []).append(elem)
            plan.add_elems.setdefault(elem.set, []).append(elem)


def apply_to_view(view: View, changed: Mapping[Hashable, Fragment | None], plan: Plan) -> None:
    """Record that the kernel now holds ``changed`` (after ``plan`` was committed)."""
    for key, new in changed.items():
        if new is None:
            view.fragments.pop(key, None)
        else:
            view.fragments[key] = new
    for ekey, n in plan.refs.items():
        if n <= 0:
            view.refs.pop(ekey, None)
        else:
            view.refs[ekey] = n
    for ekey, v in plan.values.items():
        if isinstance(v, _Gone):
            view.values.pop(ekey, None)
        else:
            view.values[ekey] = v


def changed_fragments(
    view: View, wanted: Mapping[Hashable, Fragment], keys: Iterable[Hashable]
) -> dict[Hashable, Fragment | None]:
    """The subset of ``keys`` whose fragment differs from the view (None: gone)."""
    out: dict[Hashable, Fragment | None] = {}
    for key in keys:
        new = wanted.get(key)
        if view.fragments.get(key) != new:
            out[key] = new
    return out
