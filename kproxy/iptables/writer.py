"""Writing iptables mode's rules: render (from the per-service cache) and restore, blocking.

A full write rebuilds every fragment, reads the kernel's tables, deletes our stale per-service
chains, adds missing jump rules and removes other modes' rules, all in one restore. A partial
write restores the changed Services' chains and the top-level chains whose rules differ from
what the last successful write left in the kernel (see ``kproxy.iptables.proxier``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from kproxy.backend.base import RulesBackend
from kproxy.changes import EndpointsMap, ServiceKey, ServicePortMap
from kproxy.cleanup import OwnedRules, owned_removal_lines
from kproxy.config import ProxyConfig
from kproxy.conntrack import FlowFilter
from kproxy.iptables.model import RuleSet
from kproxy.iptables.render import is_large_cluster
from kproxy.iptables.rulecache import RuleCache
from kproxy.kernelstate import SavedTable, scan_save
from kproxy.rules.jumps import CANARY_CHAIN, CANARY_TABLES, JUMP_RULES
from kproxy.rules.names import is_owned_chain
from kproxy.rules.parse import join_args
from kproxy.servicemodel import ServicePortName

_SAVED_TABLES = ("filter", "nat")


@dataclass
class SyncResult:
    """What one successful sync did."""

    full: bool
    services_changed: set[ServiceKey]
    chains_written: set[str]  # per-service chains written (and top-level ones not unchanged)
    chains_deleted: dict[str, set[str]]
    rules_written: dict[str, int]
    # Top-level chains per table left out because the kernel already held their rules.
    unchanged: dict[str, set[str]] = field(default_factory=dict)
    flows_cleared: list[FlowFilter] = field(default_factory=list)
    seconds: float = 0.0


class RuleWriter:
    """The rule cache, the backend, and what the last write left in the kernel."""

    def __init__(
        self, config: ProxyConfig, backend: RulesBackend, foreign: Sequence[OwnedRules] = ()
    ) -> None:
        self.backend = backend
        self.rules = RuleCache(config)
        # Other modes' rules, removed by full writes (a mode switch); from the mode registry.
        self.foreign = tuple(foreign)
        # Top-level chains' rules as the last successful write left them in the kernel.
        self._top_written: dict[tuple[str, str], list[str]] = {}

    def forget_top_level(self) -> None:
        """After a failed restore what the kernel holds is unknown: compare with nothing."""
        self._top_written.clear()

    def write(
        self,
        full: bool,
        changed: set[ServiceKey],
        names: set[ServicePortName],
        services: ServicePortMap,
        endpoints: EndpointsMap,
    ) -> SyncResult:
        """Render and restore (blocking; the proxier runs it in a worker thread)."""
        large = is_large_cluster(services, endpoints)
        if large != self.rules.large:
            full = True  # comment style changes for every chain
        if full:
            return self._write_full(changed, large, services, endpoints)
        old_chains = self.rules.chains_of(names)
        self.rules.refresh(services, endpoints, names)
        rs = self.rules.ruleset(only=names)
        new_chains = self.rules.chains_of(names)
        stale = old_chains - new_chains
        unchanged = self._unchanged_top_level(rs)
        text = rs.to_restore_text(chains=new_chains, stale={"nat": stale}, unchanged=unchanged)
        self.backend.restore(text)
        self._remember_top_level(rs)
        written = {
            t: rs.rule_count(t) - sum(len(rs.chain(t, c)) for c in unchanged.get(t, ()))
            for t in rs.tables
        }
        deleted = {"nat": stale} if stale else {}
        return SyncResult(False, changed, new_chains, deleted, written, unchanged)

    def _unchanged_top_level(self, rs: RuleSet) -> dict[str, set[str]]:
        """Top-level chains of ``rs`` whose rules are those the kernel already holds."""
        out: dict[str, set[str]] = {}
        for table, chain in _top_level(rs):
            # Assembled from the same cached fragments: equal lists mostly share their
            # strings, so this is cheap even for 10,000 rules.
            if self._top_written.get((table, chain)) == rs.chain(table, chain):
                out.setdefault(table, set()).add(chain)
        return out

    def _remember_top_level(self, rs: RuleSet) -> None:
        for table, chain in _top_level(rs):
            # rs is not changed after the restore: keep its list, not a copy.
            self._top_written[(table, chain)] = rs.chain(table, chain)

    def _write_full(
        self,
        changed: set[ServiceKey],
        large: bool,
        services: ServicePortMap,
        endpoints: EndpointsMap,
    ) -> SyncResult:
        saved = {t: scan_save(self.backend.save(t), t) for t in _SAVED_TABLES}
        self.rules.rebuild(services, endpoints, large)
        rs = self.rules.ruleset()
        for table in CANARY_TABLES:
            rs.chain(table, CANARY_CHAIN)  # (re)created empty; a flush removes it
        stale = {
            t: {c for c in s.chains if is_owned_chain(c) and not rs.has_chain(t, c)}
            for t, s in saved.items()
        }
        stale = {t: chains for t, chains in stale.items() if chains}
        extra = missing_jumps(saved)
        # Switching from another mode: its chains and jumps go in this same restore.
        for table, saved_table in saved.items():
            for other in self.foreign:
                switched = owned_removal_lines(saved_table, other)
                if switched:
                    extra.setdefault(table, []).extend(switched)
        text = rs.to_restore_text(stale=stale, extra=extra)
        self.backend.restore(text)
        self._top_written.clear()
        self._remember_top_level(rs)
        written = {t: rs.rule_count(t) for t in rs.tables}
        owned = {c for t in rs.tables for c in rs.chains(t) if is_owned_chain(c)}
        return SyncResult(True, changed, owned, stale, written)


def missing_jumps(saved: Mapping[str, SavedTable]) -> dict[str, list[str]]:
    """Restore lines adding the jump rules that iptables-save does not show, per table.

    Upstream ensures them with one iptables call each; on a big table every call costs as
    much as reading the whole table, so here they ride along in the sync's single restore.
    """
    out: dict[str, list[str]] = {}
    for jump in JUMP_RULES:
        table = saved.get(jump.table)
        if table is None or not table.has_rule(jump.source_chain, jump.args()):
            line = f"{jump.position} {jump.source_chain} {join_args(jump.args())}"
            out.setdefault(jump.table, []).append(line)
    return out


def _top_level(rs: RuleSet) -> Iterator[tuple[str, str]]:
    """(table, chain) of every chain in ``rs`` that is not a per-service one."""
    for table in rs.tables:
        for chain in rs.chains(table):
            if not is_owned_chain(chain):
                yield table, chain
