"""The rendered rule set kept per service port, so a partial sync re-renders only what changed.

``render()`` regenerates everything; at 10,000 services that alone takes about half a second.
Here each service port's share of it (``render_service``) is cached: a partial sync renders the
changed ports, then assembles the top-level chains (which must be written whole) from every
cached fragment plus the fixed base rules, in ``render``'s order. The assembled set is equal to
``render``'s output (a unit test holds them to that).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from knet import gctune
from kproxy.config import ProxyConfig
from kproxy.iptables.model import RuleSet
from kproxy.iptables.render import render, render_service, service_order
from kproxy.rules.names import is_owned_chain
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName

ServiceKey = tuple[str, str]
# (table, chain, rules) triples.
_Part = tuple[str, str, list[str]]


class _Fragment:
    __slots__ = ("chains", "owned", "rule_counts", "top")

    def __init__(self, rs: RuleSet, name: ServicePortName) -> None:
        self.top: list[_Part] = []
        self.owned: list[_Part] = []
        self.rule_counts: dict[str, int] = {}
        for table in rs.tables:
            for chain in rs.chains(table):
                rules = rs.chain(table, chain)  # the fragment's own list: no copy
                if is_owned_chain(chain):
                    self.owned.append((table, chain, rules))
                elif rules:
                    self.top.append((table, chain, rules))
                self.rule_counts[table] = self.rule_counts.get(table, 0) + len(rules)
        self.chains: tuple[str, ...] = rs.groups.get(name, ())


class RuleCache:
    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.large: bool | None = None  # the comment mode the fragments were rendered in
        self._base = render({}, {}, config)
        self._fragments: dict[ServicePortName, _Fragment] = {}
        self._by_service: dict[ServiceKey, set[ServicePortName]] = {}
        self._order: list[ServicePortName] | None = None
        self._counts: dict[str, int] = {t: self._base.rule_count(t) for t in self._base.tables}

    def __len__(self) -> int:
        return len(self._fragments)

    def _put(
        self,
        name: ServicePortName,
        info: ServicePortInfo,
        eps: Sequence[EndpointInfo],
        large: bool,
    ) -> None:
        old = self._fragments.get(name)
        if old is None:
            self._by_service.setdefault((name.namespace, name.name), set()).add(name)
            self._order = None
        else:
            self._uncount(old)
        frag = _Fragment(render_service(name, info, eps, self.config, large_cluster=large), name)
        self._fragments[name] = frag
        for table, count in frag.rule_counts.items():
            self._counts[table] = self._counts.get(table, 0) + count

    def _uncount(self, frag: _Fragment) -> None:
        for table, count in frag.rule_counts.items():
            self._counts[table] -= count

    def _drop(self, name: ServicePortName) -> None:
        frag = self._fragments.pop(name, None)
        if frag is None:
            return
        key = (name.namespace, name.name)
        names = self._by_service.get(key)
        if names is not None:
            names.discard(name)
            if not names:
                del self._by_service[key]
        self._uncount(frag)
        self._order = None

    def rebuild(
        self,
        services: Mapping[ServicePortName, ServicePortInfo],
        endpoints: Mapping[ServicePortName, Sequence[EndpointInfo]],
        large: bool,
    ) -> None:
        """Render every service port afresh."""
        self._fragments.clear()
        self._by_service.clear()
        self._counts = {t: self._base.rule_count(t) for t in self._base.tables}
        self._order = None
        self.large = large
        with gctune.paused():
            for name, info in services.items():
                self._put(name, info, endpoints.get(name, ()), large)

    def refresh(
        self,
        services: Mapping[ServicePortName, ServicePortInfo],
        endpoints: Mapping[ServicePortName, Sequence[EndpointInfo]],
        names: Iterable[ServicePortName],
    ) -> None:
        """Re-render these ports (dropping those no longer in ``services``)."""
        if self.large is None:
            raise RuntimeError("refresh() before rebuild()")
        for name in names:
            info = services.get(name)
            if info is None:
                self._drop(name)
            else:
                self._put(name, info, endpoints.get(name, ()), self.large)

    def names_of(self, services: Iterable[ServiceKey]) -> set[ServicePortName]:
        """The cached ports of these services."""
        out: set[ServicePortName] = set()
        for key in services:
            out.update(self._by_service.get(key, ()))
        return out

    def chains_of(self, names: Iterable[ServicePortName]) -> set[str]:
        out: set[str] = set()
        for name in names:
            frag = self._fragments.get(name)
            if frag is not None:
                out.update(frag.chains)
        return out

    def rule_counts(self) -> dict[str, int]:
        """Rules in the whole rule set, per table."""
        return dict(self._counts)

    def ruleset(self, only: Collection[ServicePortName] | None = None) -> RuleSet:
        """The top-level chains whole, plus the per-service chains of ``only`` (all if None)."""
        if self._order is None:
            self._order = sorted(self._fragments, key=service_order)
        with gctune.paused():
            return self._assemble(self._order, only)

    def _assemble(
        self, order: list[ServicePortName], only: Collection[ServicePortName] | None
    ) -> RuleSet:
        base = self._base
        rs = RuleSet()
        top: dict[tuple[str, str], list[str]] = {}
        for table in base.tables:
            for chain in base.chains(table):
                top[(table, chain)] = rs.chain(table, chain)
        fragments = self._fragments
        for name in order:
            frag = fragments[name]
            for table, chain, rules in frag.top:
                top[(table, chain)].extend(rules)
            if only is None or name in only:
                for table, chain, rules in frag.owned:
                    rs.chain(table, chain).extend(rules)
                rs.groups[name] = frag.chains
        for (table, chain), rules in top.items():
            rules.extend(base.rules(table, chain))
        return rs
