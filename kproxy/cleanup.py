"""Removing one mode's iptables rules, and nothing else: for ``--cleanup`` and mode switches.

Each mode that programs iptables describes what it owns as ``OwnedRules``: its jump rules from
the built-in chains and its chains per table (iptables mode: KUBE-SERVICES ..., the canary and
every per-service KUBE-SVC-/SVL-/EXT-/FW-/SEP-* chain; userspace mode: the portal chains).
Chains with other owners, kubelet's KUBE-FIREWALL or KUBE-KUBELET-CANARY for example, stay.
A mode's chains go in one restore per table (flush, then delete), so a table is either cleaned
whole or left as it was. This module names no mode: the modes pass their own ``OwnedRules``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from kproxy.backend.base import BackendError, RulesBackend
from kproxy.kernelstate import SavedTable, scan_save
from kproxy.rules.jumps import JumpRule
from kproxy.rules.parse import join_args

log = logging.getLogger("kproxy.cleanup")

_MAX_DUPLICATES = 100


def _no_chain(chain: str) -> bool:
    return False


@dataclass(frozen=True)
class OwnedRules:
    """What one mode puts into iptables: jump rules from built-in chains, fixed chains per
    table, and (optionally) a name test for chains it creates per service."""

    jumps: tuple[JumpRule, ...]
    chains: Mapping[str, frozenset[str]]
    per_service: Callable[[str], bool] = _no_chain

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self.chains)

    def owns(self, table: str, chain: str) -> bool:
        return chain in self.chains.get(table, frozenset()) or self.per_service(chain)


def removal_lines(saved: SavedTable, chains: Iterable[str], jumps: Iterable[JumpRule]) -> list[str]:
    """Restore lines deleting ``jumps`` (those present) and then flushing and deleting
    ``chains`` (those present) in ``saved``'s table."""
    lines = [
        f"-D {j.source_chain} {join_args(j.args())}"
        for j in jumps
        if j.table == saved.name and saved.has_rule(j.source_chain, j.args())
    ]
    present = sorted(c for c in set(chains) if c in saved.chains)
    lines.extend(f"-F {c}" for c in present)
    lines.extend(f"-X {c}" for c in present)
    return lines


def owned_removal_lines(saved: SavedTable, owned: OwnedRules) -> list[str]:
    """Restore lines removing ``owned``'s chains and jumps from ``saved``'s table: how one mode
    removes another's leftovers inside its own full-sync restore, so a switch is one step."""
    chains = [c for c in saved.chains if owned.owns(saved.name, c)]
    return removal_lines(saved, chains, owned.jumps)


def cleanup_text(tables: Mapping[str, SavedTable], owns: Callable[[str, str], bool]) -> str:
    """Restore input (for --noflush) that flushes and deletes the chains ``owns`` accepts;
    "" if none."""
    lines: list[str] = []
    for table, saved in tables.items():
        ours = sorted(c for c in saved.chains if owns(table, c))
        if not ours:
            continue
        lines.append(f"*{table}")
        lines.extend(f":{chain} - [0:0]" for chain in ours)
        lines.extend(f"-X {chain}" for chain in ours)
        lines.append("COMMIT")
    return "\n".join([*lines, ""]) if lines else ""


@dataclass
class CleanupReport:
    jump_rules_removed: int = 0
    chains_removed: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, other: CleanupReport, error_prefix: str = "") -> None:
        """Fold ``other`` into this report (errors prefixed with ``error_prefix``)."""
        self.jump_rules_removed += other.jump_rules_removed
        for table, chains in other.chains_removed.items():
            self.chains_removed.setdefault(table, []).extend(chains)
        self.errors.extend(f"{error_prefix}{e}" for e in other.errors)


def _remove_jumps(
    backend: RulesBackend, owned: OwnedRules, chains: Mapping[str, set[str]], report: CleanupReport
) -> None:
    for jump in owned.jumps:
        if jump.target_chain not in chains.get(jump.table, set()):
            continue  # no chain, no jump to it (and nft refuses to even look for one)
        try:
            # Duplicates (from an older or foreign tool) would keep the chain referenced.
            for _ in range(_MAX_DUPLICATES):
                if not backend.delete_rule(jump.table, jump.source_chain, jump.args()):
                    break
                report.jump_rules_removed += 1
        except BackendError as e:
            report.errors.append(f"{jump.table}/{jump.source_chain}: {e}")


def remove_owned(backend: RulesBackend, owned: OwnedRules) -> CleanupReport:
    """Remove ``owned``'s rules and chains through ``backend``; errors are collected, not
    raised, so one stuck table does not stop the others from being cleaned."""
    report = CleanupReport()
    chains: dict[str, set[str]] = {}
    for table in owned.tables:
        try:
            chains[table] = scan_save(backend.save(table), table).chains
        except BackendError as e:
            report.errors.append(f"{table}: {e}")
    _remove_jumps(backend, owned, chains, report)
    for table in owned.tables:
        try:
            saved = scan_save(backend.save(table), table)
            text = cleanup_text({table: saved}, owned.owns)
            if text:
                backend.restore(text)
                report.chains_removed[table] = sorted(
                    c for c in saved.chains if owned.owns(table, c)
                )
        except BackendError as e:
            report.errors.append(f"{table}: {e}")
    return report


def remove_owned_everywhere(backends: Iterable[RulesBackend], owned: OwnedRules) -> CleanupReport:
    """``remove_owned`` through each backend (iptables flavour); errors name the backend."""
    total = CleanupReport()
    for backend in backends:
        total.add(remove_owned(backend, owned), f"{backend.name}: ")
    return total
